"""dvc.yaml and the Snakemake workflow describe the same pipeline.

For every job of a forced Snakemake dry run there must be exactly one DVC stage with the
same command (minus the log redirect), the same outputs, dependencies that cover the same
inputs, and the same params keys.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter

import pytest
from dvc.repo import Repo

from .conftest import ROOT, project_env

LOG_REDIRECT = re.compile(r"\s*>\s*\S+\s+2>&1\s*$")


def snakemake_jobs() -> list[dict]:
    proc = subprocess.run(["snakemake", "-n", "-p", "--forceall", "--cores", "1"], cwd=ROOT,
                          env=project_env(ROOT), capture_output=True, text=True, check=True)
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", proc.stdout)[1:]:
        job = {"rule": re.match(r"rule (\w+):", block).group(1), "input": [], "output": []}
        for field in ("input", "output"):
            m = re.search(rf"^\s+{field}: (.*)$", block, re.M)
            if m:
                job[field] = [p.strip() for p in m.group(1).split(",")]
        m = re.search(r"^Shell command: (.*)$", block, re.M)
        job["cmd"] = LOG_REDIRECT.sub("", m.group(1)).strip() if m else None
        jobs.append(job)
    return [j for j in jobs if j["rule"] != "all"]


def snakemake_params_keys() -> dict[str, set[str]]:
    """Dotted params keys each rule passes to ``section(...)``, wildcards written DVC-style."""
    keys = {}
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text(),
                                     re.M | re.S):
            call = re.search(r"section\((.*?)\)", body, re.S)
            found = re.findall(r"f?\"([^\"]+)\"", call.group(1)) if call else []
            keys[name] = {re.sub(r"\{w\.(\w+)\}", r"${item.\1}", k) for k in found}
    return keys


def dvc_stages() -> list[dict]:
    repo = Repo(str(ROOT))
    stages = []
    for stage in repo.index.stages:
        deps, params = [], set()
        for dep in stage.deps:
            if hasattr(dep, "params"):
                params |= set(dep.params)
            else:
                deps.append(dep.def_path)
        stages.append({"name": stage.addressing.split("@")[0], "cmd": stage.cmd.strip(),
                       "deps": deps, "outs": sorted(o.def_path for o in stage.outs),
                       "params": params})
    return stages


@pytest.fixture(scope="module")
def both() -> tuple[list[dict], list[dict]]:
    return snakemake_jobs(), dvc_stages()


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def test_same_commands(both) -> None:
    jobs, stages = both
    assert Counter(j["cmd"] for j in jobs) == Counter(s["cmd"] for s in stages)


def test_same_outputs_and_inputs(both) -> None:
    jobs, stages = both
    by_cmd = {s["cmd"]: s for s in stages}
    for job in jobs:
        stage = by_cmd[job["cmd"]]
        assert sorted(job["output"]) == stage["outs"], job["cmd"]
        assert job["rule"] == stage["name"], job["cmd"]
        missing = [p for p in job["input"] if not covered(p, stage["deps"])]
        assert not missing, f"{job['cmd']}: Snakemake inputs not in DVC deps: {missing}"
        unused = [d for d in stage["deps"] if not any(covered(p, [d]) for p in job["input"])]
        assert not unused, f"{job['cmd']}: DVC deps with no Snakemake input: {unused}"


def test_same_params_keys(both) -> None:
    _, stages = both
    smk = snakemake_params_keys()
    dvc_yaml = (ROOT / "dvc.yaml").read_text()
    for stage in stages:
        expected = smk[stage["name"]]
        # DVC resolves ${item.model}; compare against the template keys in dvc.yaml
        block = re.search(rf"^  {stage['name']}:\n(.*?)(?=^  \w|\Z)", dvc_yaml, re.M | re.S)
        template = set(re.findall(r"^\s+- (\S+)$", re.search(r"params:\n((?:\s+- .*\n)+)",
                                                             block.group(1)).group(1), re.M))
        assert template == expected, stage["name"]
