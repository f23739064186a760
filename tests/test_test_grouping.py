"""The suite's own parallelism: tests that share a study run on one pytest-xdist worker.

``./dev test`` runs two workers with ``--dist loadgroup``; the collection hook of
tests/conftest.py puts the tests of each shared study in one group so the study is built
once. pytest-xdist carries the groups in the node ids: a pytest that ignores that (9.2 with
xdist 3.8, pytest-dev/pytest-xdist#1386), or a hook that adds the groups after xdist has read
them, spreads the tests silently: nothing fails, every worker builds the study again (the
small study twice, 70-130 s of CI). This runs that hook, with the installed pytest and xdist,
in an inner session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

# The inner session's conftest: the suite's own collection hook, and a stand-in for the
# shared small study's fixture (the hook groups tests by the fixtures they use).
CONFTEST = '''
import pytest
from tests.conftest import pytest_collection_modifyitems  # noqa: F401 (the hook under test)

@pytest.fixture(scope="session")
def small_study():
    return None
'''
TESTS = '''
import pytest

@pytest.mark.parametrize("i", range(4))
def test_shares_the_study(small_study, i):
    pass

@pytest.mark.parametrize("i", range(4))
def test_alone(i):
    pass
'''


def test_the_suites_hook_runs_a_shared_study_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text(TESTS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                 "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
         "no:cacheprovider", "-o", "addopts=", "test_a.py", "test_b.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    ran = re.findall(r"\[(gw\d+)\].*PASSED \S+::(test_\w+)", proc.stdout)
    assert len(ran) == 16, proc.stdout[-3000:]
    shared = {worker for worker, test in ran if test == "test_shares_the_study"}
    assert len(shared) == 1, ("the shared study's tests ran on several workers: with pytest "
                              "9.2 install pytest<9.2 (pyproject.toml)", proc.stdout[-3000:])
