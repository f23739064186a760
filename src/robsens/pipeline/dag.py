"""``docs/dag.svg``: Snakemake's rule graph drawn by graphviz's ``dot``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from robsens.core.io import save_text
from robsens.pipeline.stages import BY_NAME

DAG_SVG = Path("docs/dag.svg")

_NODE = re.compile(r'^\s*(\d+)\[label = "([^"]*)", color = "([^"]*)", style="([^"]*)"\];\s*$')
_EDGE = re.compile(r"^\s*(\d+) -> (\d+)\s*$")


def write_dag() -> None:
    """``snakemake --rulegraph`` drawn by ``dot`` into docs/dag.svg."""
    dot = shutil.which("dot")
    if dot is None:
        raise SystemExit("error: graphviz's 'dot' is not on PATH: install graphviz (e.g. "
                         "apt-get install graphviz) to draw docs/dag.svg")
    drawn = subprocess.run([dot, "-Tsvg"], input=canonical_rulegraph(rulegraph()),
                           capture_output=True, text=True)
    if drawn.returncode:
        raise SystemExit(f"error: dot failed: {_last_line(drawn.stderr)}")
    save_text(DAG_SVG, drawn.stdout)
    print(f"wrote {DAG_SVG}")


def rulegraph() -> str:
    """Snakemake's rule graph (DOT) of the workflow in the current directory."""
    out = subprocess.run([sys.executable, "-m", "snakemake", "--rulegraph"],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"error: snakemake --rulegraph failed: {_last_line(out.stderr)}")
    return out.stdout


def canonical_rulegraph(dot_text: str) -> str:
    """The same graph with nodes in stage-table order and edges sorted.

    Snakemake numbers the rules in set order, which changes from run to run; a canonical
    order makes the picture (and its file) the same every time.
    """
    header, nodes, edges = [], {}, []
    for line in dot_text.splitlines():
        if node := _NODE.match(line):
            nodes[node[1]] = node.groups()[1:]
        elif edge := _EDGE.match(line):
            edges.append((edge[1], edge[2]))
        elif line.strip() and line.strip() != "}":
            header.append(line.rstrip())
    if not nodes:
        raise SystemExit("error: snakemake --rulegraph printed no rules")
    stage_order = {name: i for i, name in enumerate(BY_NAME)}
    order = sorted(nodes, key=lambda n: (stage_order.get(nodes[n][0], len(stage_order)),
                                         nodes[n][0]))
    new_id = {old: i for i, old in enumerate(order)}
    lines = [*header]
    lines += [f'\t{new_id[n]}[label = "{label}", color = "{color}", style="{style}"];'
              for n in order for label, color, style in [nodes[n]]]
    lines += [f"\t{a} -> {b}" for a, b in sorted((new_id[a], new_id[b]) for a, b in edges)]
    return "\n".join([*lines, "}", ""])


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no message)"
