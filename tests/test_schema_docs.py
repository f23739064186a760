"""Generated documentation stays true: every params key is described in the schema, README's
parameter table is the one the schema renders, and docs/dag.svg draws the current rules."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from robsens.core.config import _schema
from robsens.methods import METHODS
from robsens.pipeline import dag, docs

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


def _described(node: Any) -> bool:
    return isinstance(node, dict) and bool(str(node.get("description") or "").strip())


def undocumented(node: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of the properties, at any depth, that lack a description.

    A map's free keys (``additionalProperties``) count as a property ``<name>``; the
    properties of ``$defs``, array items and ``oneOf``/``anyOf``/``allOf`` alternatives are
    walked too.
    """
    if not isinstance(node, dict):
        return
    for name, sub in node.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        if not _described(sub):
            yield key
        yield from undocumented(sub, key)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        key = f"{path}.<name>" if path else "<name>"
        if not _described(extra):
            yield key
        yield from undocumented(extra, key)
    if isinstance(node.get("items"), dict):
        yield from undocumented(node["items"], f"{path}[]")
    for combinator in ("oneOf", "anyOf", "allOf"):
        for sub in node.get(combinator, []):
            yield from undocumented(sub, path)
    for name, sub in node.get("$defs", {}).items():
        yield from undocumented(sub, f"$defs.{name}")


def test_the_walker_finds_what_lacks_a_description():
    schema = {
        "$defs": {"file": {"properties": {"md5": {"type": "string"}}}},
        "properties": {
            "a": {"description": "ok", "properties": {"b": {"type": "integer"}}},
            "m": {"description": "ok", "additionalProperties": {"type": "object"}},
            "l": {"description": "ok", "items": {"properties": {"x": {"description": " "}}}},
        },
    }
    assert sorted(undocumented(schema)) == ["$defs.file.md5", "a.b", "l[].x", "m.<name>"]


def test_every_params_key_has_a_description():
    missing = list(undocumented(_schema()))
    assert not missing, f"params.schema.yaml: add a description to {', '.join(missing)}"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_hyperparameter_has_a_description(method):
    missing = list(undocumented(METHODS[method].HPARAMS))
    assert not missing, f"HPARAMS of method {method!r}: add a description to {missing}"


# --- README's parameter table ---------------------------------------------------------------


@pytest.fixture(scope="module")
def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture(scope="module")
def table(params) -> str:
    return docs.params_table(params)


def test_readme_parameter_table_is_current(table):
    readme = (ROOT / "README.md").read_text()
    assert readme.count(docs.TABLE_START) == 1 and readme.count(docs.TABLE_END) == 1
    assert docs.readme_with_tables(readme, yaml.safe_load((ROOT / "params.yaml").read_text())) \
        == readme, "README.md's generated tables are stale: run python -m robsens pipeline docs"


def test_rendering_is_deterministic(params, table):
    assert docs.params_table(params) == table


def _table_keys(table: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)


def _leaf_keys(tree: dict, prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_every_key_of_params_yaml_has_a_row(params, table):
    rows = set(_table_keys(table))
    generic = {re.sub(r"^(models|claims\.endpoints)\.[^.]+\.", r"\1.<name>.", key)
               for key in _leaf_keys(params)}
    assert generic - rows == set()
    assert len(rows) == len(_table_keys(table)), "a key has two rows"


def test_keys_named_in_the_parameters_section_exist(params, table):
    """The hand-written prose around the table names only keys the table has."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Parameters"):]
    section = section[: section.find("\n## ", 1)]
    start, end = section.index(docs.TABLE_START), section.index(docs.TABLE_END)
    prose = section[:start] + section[end:]
    tops = "|".join(map(re.escape, _schema()["properties"]))
    named = {re.sub(rf"^models\.({'|'.join(params['models'])})\.", "models.<name>.", key)
             for key in re.findall(rf"`((?:{tops})(?:\.[\w<>]+)+)", prose)}
    assert named, "the hand-written list of choices names no key"
    assert named - set(_table_keys(table)) == set()


def test_docs_action_writes_then_checks(tmp_path, monkeypatch, params, table):
    monkeypatch.chdir(tmp_path)
    stale = (f"# x\n\nbefore\n\n{docs.TABLE_START}\nold\n{docs.TABLE_END}\n\nafter\n"
             f"{docs.RESOURCES_START}{docs.RESOURCES_END}\n"
             f"{docs.CORRUPTIONS_START}{docs.CORRUPTIONS_END}\n")
    Path("README.md").write_text(stale)
    with pytest.raises(SystemExit, match="stale"):
        docs.write_readme_tables(params, check=True)
    assert Path("README.md").read_text() == stale
    docs.write_readme_tables(params)
    assert Path("README.md").read_text() == (f"# x\n\nbefore\n\n{table}\n\nafter\n"
                                             f"{docs.resources_table()}\n"
                                             f"{docs.corruption_table()}\n")
    docs.write_readme_tables(params, check=True)
    Path("README.md").write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        docs.write_readme_tables(params)


def rulegraph_edges(dot_text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(rule names, edges as (upstream, downstream) names) of a rule graph in DOT."""
    names: dict[str, str] = {}
    edges = []
    for line in dot_text.splitlines():
        if node := dag._NODE.match(line):
            names[node[1]] = node[2]
        elif edge := dag._EDGE.match(line):
            edges.append((edge[1], edge[2]))
    return list(names.values()), [(names[a], names[b]) for a, b in edges]


# --- the DAG picture ------------------------------------------------------------------------


def svg_graph(path: Path) -> tuple[set[str], set[tuple[str, str]]]:
    """(rule names, edges by name) of a graph graphviz drew as SVG."""
    label, edges = {}, set()
    for group in ET.parse(path).getroot().iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title")
        if group.get("class") == "node":
            label[title] = group.findtext(f"{SVG}text")
        elif group.get("class") == "edge":
            edges.add(tuple(title.split("->")))
    return set(label.values()), {(label[a], label[b]) for a, b in edges}


def test_dag_picture_draws_the_current_rule_graph(monkeypatch):
    monkeypatch.chdir(ROOT)
    names, edges = rulegraph_edges(dag.rulegraph())
    assert svg_graph(ROOT / dag.DAG_SVG) == (set(names), set(edges)), (
        "docs/dag.svg is stale: run python -m robsens pipeline dag")


def test_canonical_rulegraph_ignores_snakemake_numbering():
    head = "digraph snakemake_dag {\n    graph[bgcolor=white, margin=0];\n"
    a = (head + '\t0[label = "report", color = "c", style="rounded"];\n'
         '\t1[label = "synthesize", color = "d", style="rounded"];\n\t1 -> 0\n}\n')
    b = (head + '\t5[label = "synthesize", color = "d", style="rounded"];\n'
         '\t2[label = "report", color = "c", style="rounded"];\n\t5 -> 2\n}\n')
    assert dag.canonical_rulegraph(a) == dag.canonical_rulegraph(b)
    assert rulegraph_edges(dag.canonical_rulegraph(a)) == (
        ["synthesize", "report"], [("synthesize", "report")])


def test_dag_without_graphviz_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(SystemExit) as exc:
        dag.write_dag()
    message = str(exc.value)
    assert "graphviz" in message and "dot" in message and "\n" not in message
