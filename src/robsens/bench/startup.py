"""The fixed cost of a job: ``python -m robsens <stage>`` up to where its real work starts.

Each stage's command is replayed in real subprocesses by a probe that does what
``python -m robsens`` does before calling the stage's ``run``: pin the math libraries, import
the CLI, parse the arguments, load and validate the params, import the entry module, set up
determinism as a torch stage does first (:func:`robsens.core.runtime.make_deterministic`), and (for
stages that log to MLflow: the report, and training with ``mlflow.log_training: live``) open
the tracking client and find the experiment, against a
SQLite store in a temporary folder. The probe times each step; the heavy packages the stage
needs are imported first, one at a time, so that their cost is reported apart (shared
dependencies such as numpy count towards the first one: torch, then MLflow). Python's own
start and exit (the way ``python -m robsens`` exits) is the rest of the wall time of the
subprocess.

The first run of each command finds which heavy packages it loads and warms the file cache;
the timed runs then go round-robin over the commands, so machine drift hits all alike. The
figures are medians; the machine and its load are printed beside them.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from robsens.cli import TOOLS
from robsens.pipeline.stages import STAGES

REPEATS = 5  # timed runs per command, after one warm-up run
TARGET_S = 1.0
HEAVY = ("torch", "mlflow", "pandas", "matplotlib", "seaborn", "scipy", "numpy")
TIMED = ("torch", "mlflow")  # imported apart, in this order, when the command needs them
TOOL_COMMANDS = ("validate", "pipeline")  # plus every stage

# Runs in the subprocess: argv[1] is the mode (discover, or the packages to import first,
# comma-separated), the rest the command's arguments. Prints one JSON line of seconds.
PROBE = r"""
import importlib, json, sys, time
t0 = time.perf_counter()
mode, argv = sys.argv[1], sys.argv[2:]
from robsens.core.reproducibility import pin_from_argv
pin_from_argv(argv)
t_pin = time.perf_counter() - t0
out = {}
for pkg in ([] if mode == "discover" else [p for p in mode.split(",") if p]):
    t = time.perf_counter()
    importlib.import_module(pkg)
    out[pkg.split(".")[0]] = time.perf_counter() - t
t = time.perf_counter()
from robsens.cli import COMMANDS, build_parser
from robsens.core.config import load_params
command = next(a for a in argv if a in COMMANDS)
args = build_parser(command).parse_args(argv)
params = load_params(args.params)
out["cli_params"] = t_pin + time.perf_counter() - t
t = time.perf_counter()
importlib.import_module(COMMANDS[command][0])
out["entry"] = time.perf_counter() - t
t = time.perf_counter()
# a torch stage's first call: seed, threads and deterministic kernels (robsens.core.runtime)
if "robsens.core.runtime" in sys.modules:
    from robsens.core.runtime import make_deterministic
    make_deterministic(0, params["threads"])
out["determinism"] = time.perf_counter() - t
t = time.perf_counter()
# a stage that logs opens the store before its work; a training, only when it logs live
if "robsens.core.tracking" in sys.modules or (
        "robsens.training.stage" in sys.modules
        and sys.modules["robsens.training.stage"].logs_live(params)):
    from robsens.core import tracking
    tracking.open_store(params)
    out["tracking"] = time.perf_counter() - t
out["in_process"] = time.perf_counter() - t0
out["loaded"] = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps(out))
from robsens.cli import exit_fast
exit_fast(0)
"""


def machine() -> str:
    """CPU model, cores, Python and the load average: timings are only comparable on one."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [line.split(":", 1)[1].strip() for line in
                 Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load}")


def _command(name: str, params: dict) -> list[str]:
    """``name``'s arguments as Snakemake would pass them (first model and seed)."""
    args = [name]
    stage = next((s for s in STAGES if s.name == name), None)
    if stage is not None:
        wildcards = {"model": next(iter(params["models"])), "seed": params["seeds"][0]}
        for w in stage.wildcards:
            args += [f"--{w}", str(wildcards[w])]
    elif name == "pipeline":
        args += ["deps", "train"]
    return args


def _run(probe_mode: str, args: list[str], cwd: Path, env: dict[str, str]
         ) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, probe_mode, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"probe of {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def _python_start(cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], cwd=cwd, env=env, check=True)
    return time.perf_counter() - start


def measure(params: dict, commands: list[str], repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds of each part of each command's fixed cost (see the module doc)."""
    src = str(Path(__file__).resolve().parents[2])
    with tempfile.TemporaryDirectory(prefix="robsens-startup-") as tmp:
        root = Path(tmp)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
               "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
        modes = {}
        for name in commands:  # warm-up: the file cache, the store, what each one loads
            _, found = _run("discover", _command(name, params), root, env)
            modes[name] = ",".join(p if p != "mlflow" else "mlflow.tracking"
                                   for p in TIMED if p in found["loaded"])
            modes[name + ":loaded"] = [p for p in HEAVY if p in found["loaded"]]
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
        python: list[float] = []
        for _ in range(repeats):
            python.append(_python_start(root, env))
            for name in commands:
                wall, parts = _run(modes[name], _command(name, params), root, env)
                samples[name].append({**parts, "total": wall,
                                      "python": wall - parts["in_process"]})
    result = {}
    for name in commands:
        keys = ("total", "python", "cli_params", *TIMED, "entry", "determinism", "tracking")
        result[name] = {k: statistics.median(s.get(k, 0.0) for s in samples[name])
                        for k in keys}
        result[name]["loaded"] = modes[name + ":loaded"]
    result["python -c pass"] = {"total": statistics.median(python)}
    return result


def run(params: dict) -> None:
    """``python -m robsens bench startup``: every stage, plus ``validate`` and ``pipeline``."""
    commands = [s.name for s in STAGES] + [t for t in TOOL_COMMANDS if t in TOOLS]
    print(f"machine: {machine()}")
    result = measure(params, commands, REPEATS)
    print(f"fixed cost of a job, median of {REPEATS} runs per command (round-robin, after one "
          f"warm-up run each); seconds; target {TARGET_S:.1f} s")
    head = ("command", "total", "python", "cli+params", "torch", "mlflow", "entry",
            "determinism", "tracking", "target", "heavy packages loaded")
    print(f"{head[0]:<12}" + "".join(f"{h:>12}" for h in head[1:10]) + f"  {head[10]}")
    for name in commands:
        r = result[name]
        verdict = "met" if r["total"] <= TARGET_S else "NOT met"
        print(f"{name:<12}" + "".join(f"{r[k]:12.2f}" for k in (
            "total", "python", "cli_params", "torch", "mlflow", "entry", "determinism",
            "tracking")) + f"{verdict:>12}  {', '.join(r['loaded']) or '-'}")
    print(f"(python: interpreter start and exit, the wall time outside the probe; "
          f"`python -c pass` alone: {result['python -c pass']['total']:.2f} s. entry: the "
          "entry module's other imports. determinism: seeding and the deterministic-kernel "
          "switch a torch stage sets first. tracking: MLflow client and experiment lookup, on "
          f"SQLite. Load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())})")
