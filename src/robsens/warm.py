"""A warm interpreter for jobs: the heavy imports done once, each job a fork of it.

Why: importing torch, MLflow and the stages is most of a short job's cost (``bench
startup``: about 1.2 s of a 1.3 s fixed cost), and the default study runs about 170 such
jobs. So the first ``python -m robsens`` that finds no server starts one in the background
(and runs its own job as before); the server imports the stages and the heavy packages,
then waits on a Unix socket. A later job connects and sends its arguments, working
directory, environment and its stdin, stdout and stderr; the server forks a child that
takes them over and runs the CLI exactly as ``python -m robsens`` would, while the job's
own process only waits for the exit status and passes signals on. Snakemake, DVC and a
user's shell see an ordinary process with the job's streams, exit status and duration.

What keeps a job's results the same as a cold start's:

- The server is keyed by the interpreter and its options, the package's directory and every
  environment variable a library reads when it loads (:data:`LOAD_TIME_ENV`: the portable
  pins of :mod:`robsens.core.reproducibility`, thread counts, ``PYTHONPATH``, the locale...):
  a job only ever runs in a server loaded the way it would have loaded itself. The key also
  covers what a child inherits from the server rather than from its job: the niceness, the
  CPU affinity, the resource limits and the cgroup (:func:`inherited`), so ``nice ./dev
  run`` or a job under ``taskset`` or ``ulimit`` gets a server that runs as it would.
- Before each fork the server checks the files of every module it loaded and every file
  of the package; on any change it retires (the job runs cold and the next one starts a
  fresh server), so an edit is never served by old code.
- The server computes nothing before forking (no torch thread pool, no CUDA context, no
  RNG draw; the only threads, OpenBLAS's and jemalloc's, have fork handlers), and checks it
  before every fork: a second Python thread, more native threads than it had when it became
  ready, or an initialised CUDA make it retire (its log says which): each child
  starts from the state of a fresh process that has imported the same modules, with the
  job's streams set up as the interpreter sets them, its umask and its record of what the
  portable pins replaced. ``tests/test_warm.py`` compares a warm job's outputs with a
  cold one's, byte for byte.

The sockets live in a private directory of the user (``ROBSENS_WARM_DIR`` moves it), and
the server serves only its own user. A server exits after :data:`IDLE_S` seconds without
a job, or when its socket is deleted; one that fails to start (its log says why) is not
retried for :data:`RETRY_FAILED_S` seconds, and jobs run cold meanwhile.
``ROBSENS_WARM=0`` starts every job cold; so does a Slurm job (each is its own allocation),
a job tracing its imports (``-X importtime``), and a platform without ``fork``,
``pidfd_open`` or descriptor passing (anything but Linux).

One caveat: a child is not a descendant of its job's process, so the memory and CPU columns
of Snakemake's ``benchmark:`` files measure only the waiting client (wall times are right);
``ROBSENS_WARM=0`` measures whole jobs, which is how the rules' ``mem_mb`` are sized.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import fcntl
import hashlib
import importlib
import io
import json
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

SWITCH_ENV = "ROBSENS_WARM"  # "0": every job starts its own interpreter
DIR_ENV = "ROBSENS_WARM_DIR"  # where the sockets live (default: a private per-user folder)
IDLE_S = 120.0  # a server with no job for this long exits
CLI_TARGET = "robsens.cli:main"
# Environment variables (by prefix) that a library reads when it loads, or that decide what
# loads: a server serves only jobs whose values match the ones it was started with. Others
# (MLflow's URI, the validation cache...) are read at run time, from the job's environment.
LOAD_TIME_ENV = ("ATEN_", "ONEDNN_", "DNNL_", "MKL", "KMP_", "OMP_", "GOMP_", "OPENBLAS_",
                 "GOTO_", "BLIS_", "VECLIB_", "NUMEXPR_", "NPY_", "NUMPY_", "TORCH",
                 "PYTORCH_", "CUDA", "CUBLAS_", "NVIDIA_", "LD_", "PYTHON", "VIRTUAL_ENV",
                 "MPL", "MATPLOTLIB", "HOME", "XDG_CONFIG_HOME", "LANG", "LC_", "TZ")
# Imported by the server besides every stage's entry module: what stages import lazily
# (MLflow's stores and their SQLAlchemy / Alembic modules load only when a client opens one:
# 0.7 s of the report's and the linear study's fixed cost). One missing is skipped.
PRELOAD = ("torch", "mlflow", "mlflow.tracking", "mlflow.store.tracking.sqlalchemy_store",
           "mlflow.store.tracking.rest_store", "sqlalchemy.dialects.sqlite", "alembic.command",
           "alembic.config", "matplotlib.pyplot", "seaborn", "pandas", "scipy.stats")
STREAMS = (0, 1, 2)
_HEADER = struct.Struct("!I")  # length of the request's JSON
SOCKET_PATH_MAX = 107  # sun_path's size on Linux, less the terminating NUL
RETRY_FAILED_S = 300  # after a server failed to start, jobs run cold this long before a retry


@dataclass(frozen=True)
class Place:
    """Where the server for one key listens, locks and logs."""

    socket: Path
    lock: Path
    log: Path


def enabled(environ: dict[str, str] | os._Environ = os.environ) -> bool:
    """Whether a job may run warm: not when switched off, in a Slurm job, when it traces its
    own imports (they happened in the server), or without the Linux calls it needs."""
    traces_imports = bool(environ.get("PYTHONPROFILEIMPORTTIME")) or "importtime" in getattr(
        sys, "_xoptions", {})
    return (environ.get(SWITCH_ENV, "1") != "0" and "SLURM_JOB_ID" not in environ
            and not traces_imports and sys.platform == "linux"
            and hasattr(socket, "SCM_RIGHTS") and _has_pidfd())


def _has_pidfd() -> bool:
    """pidfd_open works (Linux >= 5.3): the server reaps its children through it."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def _interpreter_flags() -> list[str]:
    """This interpreter's options (-X, -W, -O, -I...), which the server must share."""
    return subprocess._args_from_interpreter_flags()


def _package_dir() -> Path:
    import robsens

    return Path(robsens.__file__).resolve().parent


def inherited() -> list:
    """What a forked child takes from the server instead of from its job: niceness, CPU
    affinity, every resource limit, and the cgroup (which carries memory and CPU limits)."""
    limits = sorted((name, resource.getrlimit(getattr(resource, name)))
                    for name in dir(resource) if name.startswith("RLIMIT_"))
    try:
        cgroup = Path("/proc/self/cgroup").read_text()
    except OSError:
        cgroup = ""
    return [os.getpriority(os.PRIO_PROCESS, 0), sorted(os.sched_getaffinity(0)), limits,
            cgroup]


def place(environ: dict[str, str] | os._Environ = os.environ) -> Place | None:
    """The server's files for this interpreter, package, load-time environment and inherited
    process state (:func:`inherited`); None when the folder cannot be made private to this
    user or the socket's path would be too long."""
    load_env = sorted((k, v) for k, v in environ.items() if k.startswith(LOAD_TIME_ENV))
    key = hashlib.sha256(json.dumps([sys.executable, _interpreter_flags(), str(_package_dir()),
                                     load_env, inherited()]).encode()).hexdigest()[:20]
    base = environ.get(DIR_ENV) or os.path.join(
        environ.get("XDG_RUNTIME_DIR") or "/tmp", f"robsens-warm-{os.getuid()}")
    folder = Path(base)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # another user could reach the socket
    if len(os.fsencode(folder / f"{key}.sock")) > SOCKET_PATH_MAX:
        return None  # too long for a Unix socket's address
    return Place(folder / f"{key}.sock", folder / f"{key}.lock", folder / f"{key}.log")


# --- the job's side -----------------------------------------------------------------------

def delegate(argv: list[str], target: str = CLI_TARGET) -> int | None:
    """Run ``target(argv)`` (``module:function`` returning an exit status) in a warm server;
    its exit status, or None when no server took the job (the caller then runs it itself;
    a server is started for the next job when none is running)."""
    where = place() if enabled() else None
    if where is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with sock:
        try:
            sock.connect(str(where.socket))
            umask = os.umask(0o022)
            os.umask(umask)
            pins = sys.modules.get("robsens.core.reproducibility")
            request = json.dumps({"argv": argv, "target": target, "cwd": os.getcwd(),
                                  "argv0": sys.argv[0], "env": dict(os.environ),
                                  "umask": umask,
                                  "before_pin": getattr(pins, "_BEFORE_PIN", {})}).encode()
            sock.sendmsg([_HEADER.pack(len(request)) + request],
                         [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", STREAMS))])
            lines = sock.makefile("r")
            reply = _read(lines)
        except OSError:
            reply = None
        if reply is None or "pid" not in reply:  # no server, or one that retired (stale)
            start_server(where)
            return None
        return _wait(reply["pid"], lines, where)


def _read(lines) -> dict | None:
    line = lines.readline()
    return json.loads(line) if line else None


def _wait(pid: int, lines, where: Place) -> int:
    """The child's exit status; meanwhile the signals that would stop this process stop it."""
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        status = _read(lines)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if status is None:
        print(f"error: the warm interpreter lost job {pid} (see the server's log, "
              f"{where.log}); rerun it, or set {SWITCH_ENV}=0", file=sys.stderr)
        return 1
    code = status["code"]
    if code < 0:  # killed by a signal: end the same way, as a cold job would have
        with contextlib.suppress(OSError, ValueError):  # SIGKILL's handler cannot be set
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def start_server(where: Place) -> None:
    """Start a server in the background unless one is running or starting (its lock), or
    one failed to start in the last :data:`RETRY_FAILED_S` seconds (its log says why)."""
    with contextlib.suppress(OSError), open(where.lock, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        fcntl.flock(lock, fcntl.LOCK_UN)
        with contextlib.suppress(FileNotFoundError):
            if time.time() - _failed(where).stat().st_mtime < RETRY_FAILED_S:
                return
        with open(where.log, "ab") as log:
            subprocess.Popen([sys.executable, *_interpreter_flags(), "-c",
                              "from robsens.warm import serve; "
                              f"serve({str(where.socket)!r})"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/",
                             start_new_session=True, close_fds=True)


def _failed(where: Place) -> Path:
    return where.socket.with_suffix(".failed")


# --- the server ---------------------------------------------------------------------------

def file_stats() -> dict[str, tuple[int, int, int]]:
    """(inode, size, mtime) of every loaded module's file and of every file of the package:
    any edit, install or new module changes it."""
    files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    package = _package_dir()
    # files only: a folder's mtime moves when Python first writes its __pycache__
    files.update(str(p) for p in package.rglob("*")
                 if "__pycache__" not in p.parts and p.is_file())
    stats = {}
    for name in files:
        if name:
            try:
                st = os.stat(name)
            except OSError:
                continue
            stats[name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return stats


def _native_threads() -> int:
    """The process's threads as the kernel counts them (Python's and the libraries' own)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {message}", file=sys.stderr,
          flush=True)


class Server:
    """Accepts jobs on ``path`` and forks a child per job (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = open(path.with_suffix(".lock"), "a")  # noqa: SIM115 (held for life)
        self.listener: socket.socket | None = None
        self.selector = selectors.DefaultSelector()
        self.jobs: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
        self.files: dict[str, tuple[int, int, int]] = {}
        self.socket_inode = 0
        self.native_threads = 0  # the process's threads when it became ready
        self.last_job = time.monotonic()

    def start(self) -> bool:
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another server is running or starting
        where = place()
        if where is None or where.socket != self.path:  # e.g. the job's folder shadows robsens
            return self.fail(f"not serving {self.path}: this interpreter's key gives "
                             f"{where.socket if where else 'no place'} (a relative PYTHONPATH "
                             "or a folder shadowing the package resolves differently in /)")
        tic = time.perf_counter()
        before = file_stats()
        try:
            from robsens.pipeline.stages import STAGES

            for module in PRELOAD:
                try:
                    importlib.import_module(module)
                except ImportError as exc:  # another version of a package: a job loads it
                    _log(f"not preloaded: {module} ({exc})")
            for module in ("robsens.cli", *(s.entry for s in STAGES)):
                importlib.import_module(module)
        except BaseException:
            return self.fail(f"failed to import:\n{traceback.format_exc()}")
        self.files = file_stats()
        if any(self.files.get(name) != stat for name, stat in before.items()):
            return self.fail("a file changed while the server imported it")
        self.path.with_suffix(".failed").unlink(missing_ok=True)
        self.native_threads = _native_threads()
        self.path.unlink(missing_ok=True)  # a dead server's socket (we hold the lock)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        self.socket_inode = os.stat(self.path).st_ino
        self.listener.listen(64)
        self.selector.register(self.listener, selectors.EVENT_READ)
        _log(f"ready in {time.perf_counter() - tic:.1f} s: {len(self.files)} files watched")
        return True

    def fail(self, why: str) -> bool:
        """Not serving: say why, and leave the marker that makes jobs run cold for
        :data:`RETRY_FAILED_S` seconds instead of each starting a server that stops at once."""
        _log(f"{why}; jobs run cold for {RETRY_FAILED_S} s")
        self.path.with_suffix(".failed").touch()
        return False

    def fork_hazard(self) -> str | None:
        """Why forking now could hand a child a broken state, or None: another Python thread
        (a lock it holds is never released in the child), more native threads than when the
        server became ready (a pool started by something it ran), or a CUDA context (which
        does not survive a fork)."""
        if threading.active_count() > 1:
            return f"{threading.active_count()} Python threads"
        if (count := _native_threads()) > self.native_threads:
            return f"{count} native threads (was {self.native_threads} when ready)"
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            return "CUDA is initialised"
        return None

    def retire(self, why: str) -> None:
        """Stop taking jobs (the next job starts a fresh server); running ones finish."""
        if self.listener is None:
            return
        _log(f"retiring: {why}")
        if self._owns_socket():
            self.path.unlink()
        self.selector.unregister(self.listener)
        self.listener.close()
        self.listener = None
        self.lock.close()

    def _owns_socket(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.socket_inode
        except OSError:
            return False

    def serve(self) -> None:
        while self.listener is not None or self.jobs:
            for key, _ in self.selector.select(timeout=1.0):
                if key.fileobj is self.listener:
                    self.accept()
                else:
                    self.reap(key.fileobj)
            if self.listener is not None:
                if not self._owns_socket():
                    self.retire("socket deleted")
                elif not self.jobs and time.monotonic() - self.last_job > IDLE_S:
                    self.retire(f"idle for {IDLE_S:.0f} s")

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            if uid != os.getuid():
                raise PermissionError(f"refused a job of uid {uid} (process {pid})")
            conn.settimeout(10)
            request, fds = _receive(conn)
            why = ("a loaded module or a file of the package changed"
                   if file_stats() != self.files else self.fork_hazard())
            if why is not None:
                self.retire(why)
                conn.sendall(b'{"stale": true}\n')  # after retiring: the job starts a new one
                conn.close()
                return
            conn.settimeout(None)
            go_read, go_write = os.pipe()
            child = os.fork()
            if child == 0:
                os.close(go_write)
                self.become_job(conn, request, fds, go_read)  # never returns
            os.close(go_read)
            # tracked before the job hears its pid, and started after: its status never
            # reaches the job before its pid, and it is reaped even if the job is gone
            pidfd = os.pidfd_open(child)
            self.jobs[pidfd] = (child, conn)
            self.selector.register(pidfd, selectors.EVENT_READ)
            self.last_job = time.monotonic()
            try:
                conn.sendall(json.dumps({"pid": child}).encode() + b"\n")
            finally:
                os.write(go_write, b"g")
                os.close(go_write)
            _log(f"job {child}: {' '.join(request['argv'])} (in {request['cwd']})")
        except Exception as exc:  # a bad request must not stop the server
            _log(f"request failed: {exc!r}")
            conn.close()
        finally:
            for fd in fds:
                os.close(fd)

    def reap(self, pidfd: int) -> None:
        pid, conn = self.jobs.pop(pidfd)
        self.selector.unregister(pidfd)
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"code": code}).encode() + b"\n")
        conn.close()
        self.last_job = time.monotonic()

    def become_job(self, conn: socket.socket, request: dict, fds: list[int], go: int
                   ) -> None:
        """In the child: take over the job's streams, folder, environment and arguments,
        run the target, report its status and exit as ``python -m robsens`` would."""
        code = 1
        try:
            for fd in (*self.jobs, self.selector.fileno()):
                os.close(fd)
            for _, other in self.jobs.values():
                other.close()
            self.listener.close()
            self.lock.close()
            for stream, fd in zip(STREAMS, fds, strict=True):
                os.dup2(fd, stream)
                os.close(fd)
            fds.clear()
            sys.stdin, sys.stdout, sys.stderr = (_stream(fd, like) for fd, like in zip(
                STREAMS, (sys.__stdin__, sys.__stdout__, sys.__stderr__), strict=True))
            os.chdir(request["cwd"])
            os.umask(request["umask"])
            os.environ.clear()
            os.environ.update(request["env"])
            from robsens.core import reproducibility

            reproducibility._BEFORE_PIN.update(request["before_pin"])
            sys.argv = [request["argv0"], *request["argv"]]
            if sys.path and sys.path[0] == "":  # as `python -m` puts it (not under -P)
                sys.path[0] = request["cwd"]
            for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            threading.Thread(target=_end_with_client, args=(conn,), daemon=True).start()
            os.read(go, 1)  # the server has tracked this process and told the job its pid
            os.close(go)
            module, function = request["target"].split(":")
            code = getattr(importlib.import_module(module), function)(request["argv"])
        except SystemExit as exc:
            code = _exit_code(exc)
        except KeyboardInterrupt:  # as Python ends: traceback, exit handlers, then SIGINT
            traceback.print_exc()
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            traceback.print_exc()
        try:
            atexit._run_exitfuncs()  # as robsens.cli.exit_fast: MLflow's flushes
            sys.stdout.flush()
            sys.stderr.flush()
            conn.sendall(json.dumps({"code": code}).encode() + b"\n")
        finally:
            os._exit(code)


def _stream(fd: int, like: io.TextIOWrapper) -> io.TextIOWrapper:
    """A standard stream on ``fd`` set up as the interpreter set up ``like`` (encoding,
    errors, -u / PYTHONUNBUFFERED), line-buffered where ``fd`` is a terminal, as Python does."""
    unbuffered = like.write_through
    binary = open(fd, "rb" if fd == 0 else "wb", closefd=False,  # noqa: SIM115
                  buffering=0 if unbuffered and fd != 0 else -1)
    return io.TextIOWrapper(binary, encoding=like.encoding, errors=like.errors,
                            line_buffering=like.line_buffering or os.isatty(fd),
                            write_through=unbuffered)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _end_with_client(conn: socket.socket) -> None:
    """A job whose waiting process died (killed, its terminal closed) stops too."""
    with contextlib.suppress(OSError):
        while conn.recv(1):
            pass
    os.kill(os.getpid(), signal.SIGTERM)


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(4 * len(STREAMS)))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(array.array("i", payload[: len(payload) - len(payload) % 4]))
    if len(fds) != len(STREAMS):
        for fd in fds:
            os.close(fd)
        raise ValueError(f"expected {len(STREAMS)} streams, got {len(fds)}")
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
        more = conn.recv(1 << 16)
        if not more:
            raise ValueError("truncated request")
        data += more
    return json.loads(data[_HEADER.size:]), fds


def serve(path: str) -> None:
    """The server's main (started by :func:`start_server`)."""
    server = Server(Path(path))
    if server.start():
        server.serve()
    _log("exited")
