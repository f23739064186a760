"""The fixed cost of a job: ``python -m robsens <stage>`` up to where its real work starts.

A job runs warm when a warm interpreter is up (:mod:`robsens.warm`: the imports done
once, the job a fork of it) and cold otherwise (the first job of a run, ``ROBSENS_WARM=0``,
Slurm). Both are replayed for each stage's command in real subprocesses, by a probe
(:func:`probe`) that does what ``python -m robsens`` does before calling the stage's
``run``: pin the math libraries, import the CLI, parse the arguments, load and validate the
params, import the entry module, set up determinism as a torch stage does first
(:func:`robsens.core.runtime.make_deterministic`), and (for stages that log to MLflow: the
report, and training with ``mlflow.log_training: live``) open the tracking client and find
the experiment, against a SQLite store in a temporary folder.

- cold: a fresh interpreter runs the probe; the heavy packages the stage needs are imported
  first, one at a time, so that their cost is reported apart (shared dependencies such as
  numpy count towards the first one: torch, then MLflow). Python's own start and exit (the
  way ``python -m robsens`` exits) is the rest of the wall time of the subprocess.
- warm: a client as ``python -m robsens`` is one hands the probe to a warm server started
  for the benchmark (in a temporary folder); its wall time is the job's whole fixed cost.

The first run of each command finds which heavy packages it loads and warms the file cache;
the timed runs then go round-robin over the commands, so machine drift hits all alike. The
figures are medians; the machine and its load are printed beside them.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from robsens.core.host import machine

REPEATS = 5  # timed runs per command, after one warm-up run
TARGET_S = 1.0
HEAVY = ("torch", "mlflow", "pandas", "matplotlib", "seaborn", "scipy", "numpy")
TIMED = ("torch", "mlflow")  # imported apart, in this order, when the command needs them
TOOL_COMMANDS = ("validate", "pipeline")  # plus every stage
SERVER_START_S = 300  # the benchmark's warm server must be up within this (imports all)

# argv[1] is the mode: discover, or the packages to import first (comma-separated); the rest
# is the command's arguments. Prints one JSON line of seconds.
COLD = ("import sys; from robsens.bench.startup import probe; code = probe(sys.argv[1:]); "
        "from robsens.cli import exit_fast; exit_fast(code)")
# The same probe in a warm server's child, through the client of python -m robsens.
WARM = ("import sys; from robsens.core.reproducibility import pin_from_argv; "
        "pin_from_argv(sys.argv[2:]); from robsens import warm; "
        "code = warm.delegate(sys.argv[1:], target='robsens.bench.startup:probe'); "
        "sys.exit(91 if code is None else code)")
NO_SERVER = 91  # WARM's status when no server took the job


def probe(argv: list[str]) -> int:
    """What ``python -m robsens`` does before the stage's work, timed step by step: prints one
    JSON line. ``argv[0]`` is ``discover`` (find the heavy packages and the steps the command
    takes, cold) or ``<packages>;<steps>``: the heavy packages to import first (none in a
    warm server) and the steps found (``determinism``, ``tracking``); the rest of ``argv``
    is the command's arguments."""
    t0 = time.perf_counter()
    mode, argv = argv[0], argv[1:]
    from robsens.core.reproducibility import pin_from_argv

    pin_from_argv(argv)
    t_pin = time.perf_counter() - t0
    discover = mode == "discover"
    packages, steps = ("", "") if discover else mode.split(";")
    out: dict[str, object] = {}
    for pkg in filter(None, packages.split(",")):
        t = time.perf_counter()
        importlib.import_module(pkg)
        out[pkg.split(".")[0]] = time.perf_counter() - t
    t = time.perf_counter()
    from robsens.cli import COMMANDS, build_parser
    from robsens.pipeline.params import load_params

    command = next(a for a in argv if a in COMMANDS)
    args = build_parser(command).parse_args(argv)
    params = load_params(args.params)
    out["cli_params"] = t_pin + time.perf_counter() - t
    t = time.perf_counter()
    importlib.import_module(COMMANDS[command][0])
    out["entry"] = time.perf_counter() - t
    if discover:  # the steps of a cold start: what the command's imports make it do
        training = sys.modules.get("robsens.training.stage")
        steps = ",".join(
            [*(["determinism"] if "robsens.core.runtime" in sys.modules else []),
             *(["tracking"] if "robsens.core.tracking" in sys.modules
               or (training is not None and training.logs_live(params)) else [])])
    if "determinism" in steps:  # a torch stage's first call: seed, threads, kernels
        t = time.perf_counter()
        from robsens.core.runtime import make_deterministic

        make_deterministic(0, params["threads"])
        out["determinism"] = time.perf_counter() - t
    if "tracking" in steps:  # a stage that logs opens the store before its work
        t = time.perf_counter()
        from robsens.core import tracking

        tracking.open_store(params)
        out["tracking"] = time.perf_counter() - t
    out["in_process"] = time.perf_counter() - t0
    out["loaded"] = sorted({m.split(".")[0] for m in sys.modules})
    out["steps"] = steps
    print(json.dumps(out), flush=True)
    return 0


def _command(name: str, params: dict) -> list[str]:
    """``name``'s arguments as Snakemake would pass them (first model and seed)."""
    from robsens.pipeline.stages import STAGES

    args = [name]
    stage = next((s for s in STAGES if s.name == name), None)
    if stage is not None:
        wildcards = {"model": next(iter(params["models"])), "seed": params["seeds"][0]}
        for w in stage.wildcards:
            args += [f"--{w}", str(wildcards[w])]
    elif name == "pipeline":
        args += ["deps", "train"]
    return args


def _run(client: str, probe_mode: str, args: list[str], cwd: Path, env: dict[str, str]
         ) -> tuple[float, dict | None]:
    """Wall seconds of one probe and what it printed (None: no warm server took it)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", client, probe_mode, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if client == WARM and proc.returncode == NO_SERVER:
        return wall, None
    if proc.returncode != 0:
        raise RuntimeError(f"probe of {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def _python_start(cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], cwd=cwd, env=env, check=True)
    return time.perf_counter() - start


def _start_warm_server(args: list[str], cwd: Path, env: dict[str, str]) -> bool:
    """Start the benchmark's own warm server; False where jobs cannot run warm."""
    from robsens import warm

    if not warm.enabled(env):
        return False
    _run(WARM, ";", args, cwd, env)  # finds no server: starts one
    deadline = time.time() + SERVER_START_S
    while not list(Path(env[warm.DIR_ENV]).glob("*.sock")):
        if time.time() > deadline:
            raise RuntimeError(f"the warm server did not start within {SERVER_START_S} s")
        time.sleep(0.2)
    return True


def measure(params: dict, commands: list[str], repeats: int) -> dict[str, dict]:
    """Median seconds of each part of each command's fixed cost, cold and warm (module doc);
    ``warm`` is None where jobs cannot run warm."""
    from robsens import warm

    src = str(Path(__file__).resolve().parents[2])
    with tempfile.TemporaryDirectory(prefix="robsens-startup-") as tmp:
        root = Path(tmp)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
               "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
               warm.DIR_ENV: str(root / "warm")}
        env.pop(warm.SWITCH_ENV, None)
        modes, loaded = {}, {}
        for name in commands:  # warm-up: the file cache, the store, what each one loads
            _, found = _run(COLD, "discover", _command(name, params), root, env)
            packages = ",".join(p if p != "mlflow" else "mlflow.tracking"
                                for p in TIMED if p in found["loaded"])
            modes[name] = (f"{packages};{found['steps']}", f";{found['steps']}")
            loaded[name] = [p for p in HEAVY if p in found["loaded"]]
        warm_jobs = _start_warm_server(_command(commands[0], params), root, env)
        in_server = {}  # what a warm job finds loaded: the server's imports
        for name in commands if warm_jobs else ():
            _, found = _run(WARM, modes[name][1], _command(name, params), root, env)  # warm-up
            in_server[name] = [p for p in HEAVY if p in found["loaded"]]
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
        python: list[float] = []
        for _ in range(repeats):
            python.append(_python_start(root, env))
            for name in commands:
                wall, parts = _run(COLD, modes[name][0], _command(name, params), root, env)
                sample = {**parts, "total": wall, "python": wall - parts["in_process"]}
                if warm_jobs:
                    sample["warm"], _ = _run(WARM, modes[name][1], _command(name, params),
                                             root, env)
                samples[name].append(sample)
        for sock in (root / "warm").glob("*.sock"):
            sock.unlink()  # the server exits
    result: dict[str, dict] = {}
    for name in commands:
        keys = ("total", "python", "cli_params", *TIMED, "entry", "determinism", "tracking")
        result[name] = {k: statistics.median(s.get(k, 0.0) for s in samples[name])
                        for k in keys}
        result[name]["warm"] = (statistics.median(s["warm"] for s in samples[name])
                                if warm_jobs else None)
        result[name]["loaded"] = loaded[name]
        result[name]["warm_loaded"] = in_server.get(name)
    result["python -c pass"] = {"total": statistics.median(python)}
    return result


def run(params: dict) -> None:
    """``python -m robsens bench startup``: every stage, plus ``validate`` and ``pipeline``."""
    from robsens.cli import TOOLS
    from robsens.pipeline.stages import STAGES

    commands = [s.name for s in STAGES] + [t for t in TOOL_COMMANDS if t in TOOLS]
    print(f"machine: {machine()}")
    result = measure(params, commands, REPEATS)
    warm_jobs = result[commands[0]]["warm"] is not None
    print(f"fixed cost of a job, median of {REPEATS} runs per command (round-robin, after one "
          f"warm-up run each); seconds; target {TARGET_S:.1f} s, on the "
          f"{'warm' if warm_jobs else 'cold (jobs cannot run warm here)'} start")
    head = ("command", "warm", "cold", "python", "cli+params", "torch", "mlflow", "entry",
            "determinism", "tracking", "target", "heavy packages loaded")
    print(f"{head[0]:<18}" + "".join(f"{h:>12}" for h in head[1:11]) + f"  {head[11]}")
    for name in commands:
        r = result[name]
        job = r["warm"] if warm_jobs else r["total"]
        verdict = "met" if job <= TARGET_S else "NOT met"
        print(f"{name:<18}" + (f"{r['warm']:12.2f}" if warm_jobs else f"{'-':>12}")
              + "".join(f"{r[k]:12.2f}" for k in (
                  "total", "python", "cli_params", "torch", "mlflow", "entry", "determinism",
                  "tracking")) + f"{verdict:>12}  {', '.join(r['loaded']) or '-'}")
    print("(warm: the whole fixed cost of a job a warm interpreter runs (robsens.warm), "
          "as every job after a run's first does; cold: a fresh interpreter, split into the "
          "columns after it. python: interpreter start and exit, the wall time outside the "
          f"probe; `python -c pass` alone: {result['python -c pass']['total']:.2f} s. entry: "
          "the entry module's other imports. determinism: seeding and the deterministic-"
          "kernel switch a torch stage sets first. tracking: MLflow client and experiment "
          f"lookup, on SQLite. Load average after: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())})")
