"""Generated documentation stays true: every params key is described in the schema,
docs/parameters.md is the page the schema, the methods, the corruptions and the stage table
render (a row for every key), README.md's claims at a glance are those of
reports/summary.json, and docs/dag.svg draws the current rules."""

from __future__ import annotations

import json
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


# --- docs/parameters.md ------------------------------------------------------------------


@pytest.fixture(scope="module")
def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture(scope="module")
def table(params) -> str:
    return docs.params_table(params)


def test_parameters_page_is_current(params):
    committed = ROOT / docs.PARAMETERS
    assert committed.is_file(), f"{docs.PARAMETERS} is missing: run {docs.COMMAND}"
    assert committed.read_text() == docs.parameters_page(params), (
        f"{docs.PARAMETERS} is stale: run {docs.COMMAND}")


def test_parameters_page_holds_the_three_tables(params, table):
    page = docs.parameters_page(params)
    for block in (table, docs.corruption_table(), docs.resources_table()):
        assert f"\n{block}\n" in page
    assert "do not edit it by hand" in page.lower()


def test_rendering_is_deterministic(params, table):
    assert docs.params_table(params) == table
    assert docs.parameters_page(params) == docs.parameters_page(params)


def _table_keys(table: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)


def _resolve(node: dict, root: dict) -> dict:
    """A local ``$ref`` merged with its siblings."""
    while "$ref" in node:
        target = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def schema_keys(node: dict, root: dict, hparams: dict[str, dict], prefix: str = ""
                ) -> Iterator[str]:
    """Every key a params file can set, as the table names it: the properties at any depth
    (through local ``$ref``s), a map's free keys as ``<name>``, and under ``models.<name>`` the
    properties of every method's ``HPARAMS``. Array items and ``oneOf`` alternatives are
    values of their key, described in its row, not keys of their own."""
    node = _resolve(node, root)
    children = dict(node.get("properties", {}))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        children["<name>"] = extra
    for name, sub in children.items():
        key = f"{prefix}{name}"
        yield key
        yield from schema_keys(sub, root, hparams, f"{key}.")
    if prefix == "models.<name>.":
        for schema in hparams.values():
            yield from schema_keys(schema, schema, {}, prefix)


def test_the_key_walker_follows_refs_maps_and_hparams():
    schema = {
        "$defs": {"pair": {"properties": {"lo": {}, "hi": {}}}},
        "properties": {
            "a": {"$ref": "#/$defs/pair"},
            "models": {"additionalProperties": {"properties": {"method": {}}}},
            "l": {"items": {"properties": {"x": {}}}},
        },
    }
    hparams = {"m1": {"properties": {"eps": {}}}, "m2": {"properties": {"eps": {}, "k": {}}}}
    assert list(dict.fromkeys(schema_keys(schema, schema, hparams))) == [
        "a", "a.lo", "a.hi", "models", "models.<name>", "models.<name>.method",
        "models.<name>.eps", "models.<name>.k", "l"]


def test_every_schema_key_has_one_row(table):
    root = _schema()
    expected = set(schema_keys(root, root, {m: METHODS[m].HPARAMS for m in METHODS}))
    rows = _table_keys(table)
    assert expected - set(rows) == set(), "keys of the schema without a row"
    assert set(rows) - expected == set(), "rows for keys the schema does not have"
    assert len(rows) == len(set(rows)), "a key has two rows"


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


HAND_WRITTEN = ("README.md", "docs/DEVELOPING.md", "docs/operations.md")
PYTHON_NAMES = {"mlflow.pytorch.log_model", "mlflow.pytorch.load_model"}  # not params keys


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_keys_named_in_the_documents_exist(name, params, table):
    """A dotted params key the hand-written documents name in backticks is a key of the
    table (a model's or claim's own name stands for ``<name>``)."""
    text = (ROOT / name).read_text()
    tops = "|".join(map(re.escape, _schema()["properties"]))
    named = {re.sub(rf"^(models|claims\.endpoints)\.({'|'.join(params['models'])}"
                    rf"|{'|'.join(params['claims']['endpoints'])})\.", r"\1.<name>.", key)
             for key in re.findall(rf"`((?:{tops})(?:\.[\w<>]+)+)`", text)
             if key not in PYTHON_NAMES
             and not re.search(r"\.(py|md|ya?ml|json|smk|toml|txt|db)$", key)}  # files
    assert named - set(_table_keys(table)) == set()


def test_readme_names_params_keys():
    """The check above has something to check."""
    assert "`train.max_epochs`" in (ROOT / "README.md").read_text()


# --- README.md's claims at a glance ---------------------------------------------------------


def test_readme_claims_glance_is_current():
    readme = (ROOT / "README.md").read_text()
    assert readme.count(docs.GLANCE_START) == 1 and readme.count(docs.GLANCE_END) == 1
    assert docs.readme_with_glance(readme, ROOT / docs.REPORT_SUMMARY) \
        .replace(str(ROOT / docs.REPORT_SUMMARY), str(docs.REPORT_SUMMARY)) == readme, (
        f"README.md's claims at a glance are stale: run {docs.COMMAND}")


def _claim(number: int, verdict: str, reason: str = "interval contains 0.01") -> dict:
    return {"number": number, "statement": f"Statement {number}.", "verdict": verdict,
            "reason": reason, "rule": "paired", "seeds_needed": 7}


def _flat(claims: dict[str, dict]) -> dict:
    return {f"claims.{cid}.{field}": value for cid, rec in claims.items()
            for field, value in rec.items()} | {"clean.erm.accuracy": 0.9}


@pytest.mark.parametrize("nested", [False, True], ids=["flattened", "nested"])
def test_glance_shows_each_claim_by_number(tmp_path, nested):
    claims = {"linear_b": _claim(5, "refuted", "opposite direction: -0.3 [-0.6, -0.1]"),
              "noise": _claim(1, "inconclusive"), "linear_a": _claim(5, "supported", "")}
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"claims": claims} if nested else _flat(claims)))
    block = docs.claims_glance(summary)
    lines = block.splitlines()
    assert lines[0] == docs.GLANCE_START and lines[-1] == docs.GLANCE_END
    items = [line for line in lines if line.startswith("- ")]
    assert [re.search(r"`(\w+)`", item)[1] for item in items] == ["noise", "linear_b", "linear_a"]
    assert "**Claim 1**, `noise`: **inconclusive**. Statement 1. Why: interval contains 0.01" \
        in block
    assert "**Claim 5**, `linear_b`: **refuted**. Statement 5. Why: opposite direction" in block
    assert "**Claim 5**, `linear_a`: **supported**. Statement 5." in block
    assert "not been generated" not in block


def test_glance_wraps_long_reasons_into_short_lines(tmp_path):
    reason = "gated: " + "; ".join(f"fcl seed {s} not converged - a - b" for s in range(40))
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps(_flat({"fcl_plane": _claim(2, "inconclusive", reason)})))
    lines = docs.claims_glance(summary).splitlines()[2:-1]
    assert len(lines) > 5 and max(map(len, lines)) <= docs.GLANCE_WIDTH + 2
    assert lines[0].startswith("- ") and all(line.startswith("  ") for line in lines[1:])
    assert not any(re.match(r"\s+[-+*>#]\s", line) for line in lines[1:]), "a new list item"
    assert " ".join(line.strip() for line in lines).replace("\\", "").count("not converged") \
        == 40


@pytest.mark.parametrize("case", ["missing file", "no claims", "missing field", "not json"])
def test_glance_says_when_the_report_is_not_generated(tmp_path, case):
    summary = tmp_path / "summary.json"
    record = _claim(1, "supported")
    if case == "no claims":
        summary.write_text(json.dumps({"clean.erm.accuracy": 0.9}))
    elif case == "missing field":
        del record["reason"]
        summary.write_text(json.dumps(_flat({"noise": record, "fcl": _claim(2, "refuted")})))
    elif case == "not json":
        summary.write_text("{")
    block = docs.claims_glance(summary).splitlines()
    assert len(block) == 4 and block[0] == docs.GLANCE_START and block[-1] == docs.GLANCE_END
    assert "report has not been generated" in block[2] and docs.COMMAND in block[2]
    if case == "missing field":
        assert "`noise`" in block[2] and "`reason`" in block[2]


# --- python -m robsens pipeline docs --------------------------------------------------------


def test_docs_action_writes_then_checks(tmp_path, monkeypatch, params):
    monkeypatch.chdir(tmp_path)
    Path("docs").mkdir()
    Path("reports").mkdir()
    Path("reports/summary.json").write_text(json.dumps(_flat({"noise": _claim(1, "refuted")})))
    stale = f"# x\n\nbefore\n\n{docs.GLANCE_START}\nold\n{docs.GLANCE_END}\n\nafter\n"
    Path("README.md").write_text(stale)
    with pytest.raises(SystemExit, match=r"README\.md.*stale") as exc:
        docs.write_generated_docs(params, check=True)
    assert str(docs.PARAMETERS) in str(exc.value)  # missing counts as stale
    assert Path("README.md").read_text() == stale and not docs.PARAMETERS.exists()

    docs.write_generated_docs(params)
    glance = docs.claims_glance(docs.REPORT_SUMMARY)
    assert "**refuted**" in glance
    assert Path("README.md").read_text() == f"# x\n\nbefore\n\n{glance}\n\nafter\n"
    assert docs.PARAMETERS.read_text() == docs.parameters_page(params)
    docs.write_generated_docs(params, check=True)

    # a new report makes the README stale, and only the README
    Path("reports/summary.json").write_text(json.dumps(_flat({"noise": _claim(1, "supported")})))
    with pytest.raises(SystemExit, match="stale") as exc:
        docs.write_generated_docs(params, check=True)
    assert str(docs.PARAMETERS) not in str(exc.value)

    # a hand edit of the generated page is stale too
    docs.write_generated_docs(params)
    docs.PARAMETERS.write_text(docs.PARAMETERS.read_text().replace("| `seeds` |", "| `seed` |"))
    with pytest.raises(SystemExit, match=re.escape(str(docs.PARAMETERS))):
        docs.write_generated_docs(params, check=True)

    Path("README.md").write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        docs.write_generated_docs(params)


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
