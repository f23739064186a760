"""The warm interpreter (robsens.warm): a job forked from it writes the same bytes as a
cold one, gets the job's streams, folder, environment and exit status, stops with its
waiting process, and is never served by code that changed since the server loaded it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robsens import warm

from .conftest import make_project, project_env, run, tiny_params

pytestmark = [pytest.mark.e2e,  # starts servers and subprocesses
              pytest.mark.skipif(not warm.enabled({}), reason="the warm interpreter needs Linux")]

# A client as python -m robsens is one, for any target (robsens.warm.delegate); 91: no
# server took the job.
CLIENT = ("import sys; from robsens import warm; "
          "code = warm.delegate(sys.argv[2:], target=sys.argv[1]); "
          "sys.exit(91 if code is None else code)")
# A target that shows what the job got, or sleeps.
PROBE_MODULE = '''
import os, sys, time
def main(argv):
    if argv[0] == "sleep":
        open(argv[1], "w").write(str(os.getpid()))
        time.sleep(120)
    print(os.getcwd(), os.environ.get("PROBE_VALUE"), sys.stdin.readline().strip())
    print("to stderr", file=sys.stderr)
    return int(argv[0])
'''


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """The test's own server folder; its servers stop at the end (socket deleted)."""
    yield tmp_path / "warm"
    for sock in (tmp_path / "warm").glob("*.sock"):
        sock.unlink()


def wait_for_server(folder: Path, seconds: float = 180) -> Path:
    """The socket of the one server in ``folder``, once it takes jobs."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        sockets = list(folder.glob("*.sock"))
        if sockets:
            return sockets[0]
        time.sleep(0.2)
    raise AssertionError(f"no warm server came up in {folder} within {seconds} s:\n"
                         f"{server_log(folder)}")


def server_log(folder: Path) -> str:
    return "\n".join(p.read_text() for p in folder.glob("*.log"))


@pytest.fixture
def probe(tmp_path: Path, folder: Path) -> tuple[list[str], dict[str, str]]:
    """A client for the probe target, and its environment: the test's server folder and the
    target on the path."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "probe_target.py").write_text(PROBE_MODULE)
    env = {**os.environ, warm.DIR_ENV: str(folder), "PYTHONPATH": str(tmp_path / "lib")}
    env.pop(warm.SWITCH_ENV, None)
    return [sys.executable, "-c", CLIENT, "probe_target:main"], env


def start_server(client: list[str], env: dict[str, str], folder: Path
                 ) -> subprocess.CompletedProcess:
    """A first job, which finds no server and starts one; returns once the server is up."""
    first = subprocess.run([*client, "0"], env=env, capture_output=True, text=True, input="",
                           timeout=60)
    wait_for_server(folder)
    return first


def sleeping_job(client: list[str], env: dict[str, str], pid_file: Path,
                 **popen: object) -> tuple[subprocess.Popen, int]:
    """A warm job that sleeps, and the pid of its child (which the job writes first)."""
    proc = subprocess.Popen([*client, "sleep", str(pid_file)], env=env,
                            stdin=subprocess.DEVNULL, **popen)
    deadline = time.time() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline, "the job did not start"
        time.sleep(0.1)
    return proc, int(pid_file.read_text())


def outputs(project: Path) -> dict[str, bytes]:
    return {p.relative_to(project).as_posix(): p.read_bytes()
            for p in sorted((project / "results").rglob("*")) if p.is_file()}


def test_a_warm_job_writes_the_same_bytes_as_a_cold_one(tmp_path: Path, folder: Path) -> None:
    project = make_project(tmp_path / "project", tiny_params())
    env = project_env(project, folder)
    jobs = [["train", "--model", "erm", "--seed", "0"], ["evaluate", "--model", "erm",
                                                         "--seed", "0"]]
    run([sys.executable, "-m", "robsens", "synthesize"], project, env)  # starts the server
    wait_for_server(folder)
    for job in jobs:
        run([sys.executable, "-m", "robsens", *job], project, env)
    log = server_log(folder)
    assert all(" ".join(job) in log for job in jobs), log  # they did run warm
    warm_bytes = outputs(project)
    assert any(name.endswith("model.pt") for name in warm_bytes)
    shutil.rmtree(project / "results")
    for job in jobs:
        run([sys.executable, "-m", "robsens", *job], project, env | {warm.SWITCH_ENV: "0"})
    assert outputs(project) == warm_bytes


def test_a_job_gets_its_streams_folder_environment_and_status(tmp_path: Path, folder: Path,
                                                              probe) -> None:
    client, env = probe
    first = start_server(client, env, folder)
    assert first.returncode == 91, first.stderr  # no server yet: it starts one
    job_dir = tmp_path / "elsewhere"
    job_dir.mkdir()
    done = subprocess.run([*client, "7"], env=env | {"PROBE_VALUE": "from the job"},
                          cwd=job_dir, capture_output=True, text=True, input="a line\n",
                          timeout=60)
    assert done.returncode == 7, done.stderr
    assert done.stdout.strip() == f"{job_dir} from the job a line"
    assert done.stderr.strip() == "to stderr"
    assert "probe_target:main" not in server_log(folder) and " 7 (in " in server_log(folder)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_job_stops_with_its_waiting_process(tmp_path: Path, folder: Path, probe,
                                              how: signal.Signals) -> None:
    client, env = probe
    start_server(client, env, folder)
    proc, child = sleeping_job(client, env, tmp_path / "pid")
    assert child != proc.pid
    proc.send_signal(how)
    assert proc.wait(timeout=30) == -how  # the client ends as the signal ends a process
    deadline = time.time() + 10
    while Path(f"/proc/{child}").exists():
        assert time.time() < deadline, f"the job {child} outlived its client ({how.name})"
        time.sleep(0.1)


def test_a_killed_job_ends_its_waiting_process_the_same_way(tmp_path: Path, folder: Path,
                                                            probe) -> None:
    client, env = probe
    start_server(client, env, folder)
    proc, child = sleeping_job(client, env, tmp_path / "pid", stderr=subprocess.PIPE)
    os.kill(child, signal.SIGKILL)  # as the OOM killer would
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not err, err


def test_an_edited_package_retires_the_server(tmp_path: Path, folder: Path) -> None:
    project = make_project(tmp_path / "project", tiny_params())
    env = project_env(project, folder)
    run([sys.executable, "-m", "robsens", "validate"], project, env)
    first = wait_for_server(folder)
    run([sys.executable, "-m", "robsens", "validate"], project, env)
    assert "job" in server_log(folder)
    errors = project / "src" / "robsens" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\n# edited\n")
    out = run([sys.executable, "-m", "robsens", "validate"], project, env)
    assert "valid" in out.stdout  # the job ran cold
    assert "retiring: a loaded module or a file of the package changed" in server_log(folder)
    deadline = time.time() + 30
    while first.exists():  # the old server let go of the socket...
        assert time.time() < deadline
        time.sleep(0.1)
    wait_for_server(folder)  # ...and the job started a fresh one


def test_the_file_stats_see_an_edit_of_a_loaded_module(tmp_path: Path, monkeypatch) -> None:
    module = tmp_path / "watched_module.py"
    module.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("watched_module")
    try:
        before = warm.file_stats()
        assert str(module) in before
        # files only: folders change when Python first writes their __pycache__
        assert all(os.path.isfile(name) for name in before)
        module.write_text("VALUE = 22\n")
        assert warm.file_stats() != before
    finally:
        sys.modules.pop("watched_module", None)


def test_no_warm_job_where_it_cannot_be_one() -> None:
    assert not warm.enabled({warm.SWITCH_ENV: "0"})
    assert not warm.enabled({"SLURM_JOB_ID": "12"})  # each Slurm job is its own allocation
    assert not warm.enabled({"PYTHONPROFILEIMPORTTIME": "1"})  # the trace is the job's


def test_a_server_that_will_not_serve_leaves_the_back_off_marker(tmp_path: Path) -> None:
    """A server whose own key differs from the socket it was started for (a relative
    PYTHONPATH or a shadowing folder resolves differently in /) refuses, and marks the socket
    failed, so jobs run cold instead of each starting a server that stops at once."""
    folder = tmp_path / "warm"
    folder.mkdir(mode=0o700)
    wrong = folder / "not-this-key.sock"
    env = {**os.environ, warm.DIR_ENV: str(folder)}
    subprocess.run([sys.executable, "-c", f"from robsens.warm import serve; "
                    f"serve({str(wrong)!r})"], env=env, check=True, timeout=120, cwd="/")
    assert wrong.with_suffix(".failed").is_file()
    where = warm.Place(wrong, wrong.with_suffix(".lock"), wrong.with_suffix(".log"))
    warm.start_server(where)  # within RETRY_FAILED_S of the failure: starts nothing
    time.sleep(0.5)
    assert not wrong.exists() and not where.log.exists()


def test_the_key_covers_niceness_affinity_and_limits(tmp_path: Path) -> None:
    """A job under nice (or another affinity or rlimit) is never served by a server that a
    job without it started: the child would inherit the server's."""
    env = {**os.environ, warm.DIR_ENV: str(tmp_path / "warm")}
    code = "from robsens import warm; print(warm.place().socket)"
    plain, niced, limited = (subprocess.run([*prefix, sys.executable, "-c", code], env=env,
                                            capture_output=True, text=True, check=True).stdout
                             for prefix in ([], ["nice", "-n", "5"],
                                            ["prlimit", "--nofile=512:512"]))
    assert len({plain, niced, limited}) == 3


def test_the_server_refuses_to_fork_with_threads_or_cuda(tmp_path: Path) -> None:
    """Forking with another thread running (it may hold a lock the child never gets back) or
    a CUDA context is refused, and says why."""
    code = """
import threading
from pathlib import Path
from robsens import warm
server = warm.Server(Path(r"%s"))
server.native_threads = warm._native_threads()
assert server.fork_hazard() is None, server.fork_hazard()
stop = threading.Event()
thread = threading.Thread(target=stop.wait)
thread.start()
print(server.fork_hazard())
stop.set()
thread.join()
""" % (tmp_path / "x.sock")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "2 Python threads" in out


def test_a_lost_job_is_reported_with_the_server_log(tmp_path: Path, capsys) -> None:
    """The server dies mid-job: the client says where its log is (no place() lookup that
    could be None) and fails."""
    ours, theirs = socket.socketpair()
    theirs.close()
    where = warm.Place(tmp_path / "k.sock", tmp_path / "k.lock", tmp_path / "k.log")
    with ours:
        assert warm._wait(os.getpid(), ours.makefile("r"), where) == 1
    assert str(where.log) in capsys.readouterr().err
