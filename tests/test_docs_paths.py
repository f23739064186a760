"""The documents name only files that exist, and the README stays a page for users.

Which mentions in README.md and docs/*.md are repository paths, and how each is checked:

1. **Markdown links and images** to a local target (not ``http:``, ``mailto:`` or a bare
   ``#anchor``): the target, without its ``#anchor``, relative to the document's folder, as
   GitHub resolves it.
2. **Code**: every backticked span and every fenced code block, split at white space. A token
   (stripped of quotes, brackets and trailing punctuation; not an expression with
   parentheses, quotes or ``=``) is a path when it contains a ``/``,
   or when it is a whole span naming a file with a source or document suffix (``.py``,
   ``.md``, ``.yaml``, ...). It is looked up relative to the repository root, then to the
   package folder ``src/robsens/`` (module paths such as ``warm.py``). A token with a
   ``/`` is checked when it is a whole span, or when its first component is a folder of the
   root or of the package; other tokens of commands (``s3://...``, ``dvc[s3]``) are not paths.
   A bare file name that is a whole span must be the name of some file of the repository.

Not checked: URLs and URIs (``scheme:...``); absolute paths, ``~`` and ``$VARIABLE`` paths
(outside the repository: ``/tmp/...``, ``/var/log/...``); anything under a folder the
pipeline writes (``GENERATED``: ``data/``, ``results/``, ``runs/``, ``logs/``,
``benchmarks/``, ``mlruns/``, ``dvc_plots/``, ``.snakemake/``, ``.venv/``), which exist only
after a run; and artifacts' bare file names (``history.json``, ``model.pt``). A path with a
placeholder (``<name>``, ``{model}``, ``*``) is checked up to the folder before its first
placeholder. A path leaving the repository (``../x``) must be one of ``OUTSIDE``, the
locations the project's own config names.

"Exists" means tracked by git or untracked and not ignored, i.e. in the next commit and so in
a user's clone (the file system where git is unavailable). ``reports/`` is committed (the
reference run), so its files are checked like any other.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "src/robsens"
GENERATED = {"data", "results", "runs", "logs", "benchmarks", "mlruns", "mlartifacts",
             "dvc_plots", ".snakemake", ".venv"}
OUTSIDE = {  # paths outside the repository the project itself names, and where
    "../robsens-dvc-store": ".dvc/config",  # the default DVC remote, beside the project
    "../shared/datasets/mnist": "configs/mnist.yaml",  # an offline copy of MNIST
}
SOURCE_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".smk", ".sh", ".txt", ".cfg",
                   ".svg", ".rst"}
PLACEHOLDER = re.compile(r"[<{*\[]")
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
SCHEME = re.compile(r"^[A-Za-z][\w+.-]*:")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@cache
def repository_files() -> frozenset[str]:
    """Every file of the next commit (tracked, or untracked and not ignored)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True, check=True,
                             timeout=60).stdout.decode()
        files = {f for f in out.split("\0") if f and (ROOT / f).exists()}
    except (OSError, subprocess.SubprocessError):
        files = set()
    if not files:  # not a git checkout
        files = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file()
                 and not {".git", *GENERATED} & set(p.relative_to(ROOT).parts)}
    return frozenset(files)


@cache
def repository_folders() -> frozenset[str]:
    return frozenset(str(parent.as_posix()) for f in repository_files()
                     for parent in Path(f).parents if str(parent) != ".")


def exists(path: str) -> bool:
    """``path`` (relative to the root, no ``..``) names a file or folder of the repository."""
    path = path.rstrip("/")
    return path in repository_files() or path in repository_folders()


def resolve(token: str) -> str | None:
    """The repository path ``token`` names, or None when it names none."""
    fixed = PLACEHOLDER.split(token, maxsplit=1)[0]
    if fixed != token:  # check up to the folder before the placeholder
        fixed = fixed.rsplit("/", 1)[0] + "/" if "/" in fixed else ""
        if not fixed:
            return "."
    for base in ("", f"{PACKAGE}/"):
        if exists(base + fixed):
            return base + fixed
    return None


def code_tokens(text: str) -> Iterator[tuple[str, bool]]:
    """(token, whole span?) for every token of the code spans and fenced blocks of ``text``."""
    for block in FENCE.finditer(text):
        for line in block[0].splitlines()[1:-1]:
            for token in line.split():
                if token.startswith("#"):
                    break  # a comment: prose
                yield token, False
    for span in SPAN.finditer(FENCE.sub("", text)):
        tokens = span[2].split()
        for token in tokens:
            yield token, len(tokens) == 1


def prose(text: str) -> str:
    """``text`` without its fenced blocks and code spans (links are read from this)."""
    return SPAN.sub("", FENCE.sub("", text))


def problems(text: str, folder: Path) -> Iterator[str]:
    """Every mention in ``text``, a document in ``folder``, of a repository path that does
    not exist."""
    for target in LINK.findall(prose(text)):
        if SCHEME.match(target) or target.startswith("#"):
            continue
        path = (folder / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(ROOT):
            yield f"link {target}: outside the repository"
        elif not exists(path.relative_to(ROOT).as_posix()):
            yield f"link {target}: no such file ({path.relative_to(ROOT).as_posix()})"
    for raw, whole in code_tokens(text):
        token = raw.strip("'\"()[],;").rstrip(".:").removeprefix("./")
        if not token or SCHEME.match(token) or token.startswith(("/", "~", "$", "-")):
            continue
        if re.search(r"[()\"'=]", token):
            continue  # an expression: `f("a/b")`, `KEY=a/b`
        if token.startswith("../"):
            if token.rstrip("/") not in OUTSIDE:
                yield f"`{token}`: outside the repository"
            continue
        first = token.split("/", 1)[0]
        if first in GENERATED:
            continue
        if "/" in token:
            if not whole and not (exists(first) or exists(f"{PACKAGE}/{first}")):
                continue  # a command's argument that is no path of ours
            if resolve(token) is None:
                yield f"`{token}`: no such file or folder"
        elif (whole and Path(token).suffix in SOURCE_SUFFIXES
              and not any(Path(f).name == token for f in repository_files())):
            yield f"`{token}`: no file of that name"


@pytest.mark.parametrize("doc", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_documents_name_only_existing_files(doc):
    found = list(problems(doc.read_text(), doc.parent))
    assert not found, f"{doc.relative_to(ROOT)}:\n  " + "\n  ".join(found)


def test_the_documents_this_checks_exist():
    names = {p.relative_to(ROOT).as_posix() for p in documents()}
    assert {"README.md", "docs/DEVELOPING.md", "docs/operations.md",
            "docs/parameters.md"} <= names


@pytest.mark.parametrize("outside, named_in", sorted(OUTSIDE.items()))
def test_outside_locations_are_the_projects_own(outside, named_in):
    assert Path(outside).name in (ROOT / named_in).read_text()


def test_the_rule_finds_what_is_missing():
    text = (
        "See [science](docs/science-missing.md), [ok](README.md), [web](https://x.org/a.md)\n"
        "and `src/robsens/sensitivity/nothing.py`, `sensitivity/nothing.py`, `warm.py`,\n"
        "`results/models/M/seedS/model.pt` (generated), `../elsewhere/science.md`,\n"
        "`src/robsens/methods/<name>.py`, `src/robsens/nofolder/<name>.py`, `history.json`,\n"
        "`nothing_here.py`, `/tmp/x`, `s3://bucket/x`, `./dev run`, `.ci/run`, `.ci/nothing`\n"
        "and `snakemake --configfile configs/no.yaml`.\n"
        "```bash\nsnakemake --profile workflow/profiles/nothing  # a comment: workflow/x\n```\n")
    assert list(problems(text, ROOT)) == [
        "link docs/science-missing.md: no such file (docs/science-missing.md)",
        "`workflow/profiles/nothing`: no such file or folder",
        "`src/robsens/sensitivity/nothing.py`: no such file or folder",
        "`sensitivity/nothing.py`: no such file or folder",
        "`../elsewhere/science.md`: outside the repository",
        "`src/robsens/nofolder/<name>.py`: no such file or folder",
        "`nothing_here.py`: no file of that name",
        "`.ci/nothing`: no such file or folder",
        "`configs/no.yaml`: no such file or folder",
    ]


# --- the README is a page for users ---------------------------------------------------------


README_MAX_LINES = 250
LINE_MAX_CHARS = 300


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move detail to docs/"
    long = [n for n, line in enumerate(lines, 1) if len(line) > LINE_MAX_CHARS]
    assert not long, f"README.md lines over {LINE_MAX_CHARS} characters: {long}"


@pytest.mark.parametrize("doc", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_session_history(doc):
    """History belongs in the git log, not in the documents."""
    text = doc.read_text().lower()
    found = [phrase for phrase in ("this session", "last session", "previous session",
                                   "sessions ago", "next session") if phrase in text]
    assert not found, f"{doc.relative_to(ROOT)} mentions {found}"
