"""What a finished job leaves for Snakemake, whichever tool ran it, so that switching between
Snakemake and DVC costs nothing and can never leave a stale result.

Snakemake decides from three things a job run by DVC (or by hand) does not update: the
oldest of its outputs *and its benchmark file*; the ``.snakemake_timestamp`` file that dates a
directory output; and its metadata records, which hold the checksums of the inputs each
output was made from (an input newer than the outputs but with the recorded checksum does not
rerun the job). After every stage job, therefore:

- the job's stale benchmark file is removed (Snakemake writes its own after its jobs end; a
  DVC job has none), so the outputs alone date the job;
- a directory output's ``.snakemake_timestamp`` is refreshed where it exists;
- Snakemake's metadata records of the job's outputs are removed (Snakemake writes new ones
  after its own jobs end): records from an earlier Snakemake run would otherwise vouch for
  outputs another tool has since replaced, and returning to that run's inputs would leave
  them stale. The records live in ``.snakemake/metadata/``, one file per output named by the
  URL-safe base64 of its path: Snakemake's file layout, which tests/test_reruns.py exercises
  (a change of it fails the switching test).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

from robsens.pipeline.stages import Stage

METADATA_DIR = Path(".snakemake/metadata")


def record_path(output: str) -> Path:
    """Where Snakemake keeps the metadata record of ``output`` (a path relative to the run's
    root, as the rule names it)."""
    return METADATA_DIR / base64.urlsafe_b64encode(output.encode()).decode()


def after_job(stage: Stage, wildcards: Mapping[str, object]) -> None:
    """Leave the job's outputs dated and vouched for by nothing but themselves."""
    Path(stage.benchmark.format(**wildcards)).unlink(missing_ok=True)
    for out in stage.outs:
        path = out.path.format(**wildcards)
        marker = Path(path) / ".snakemake_timestamp"
        if out.directory and marker.is_file():
            marker.touch()
        record_path(path).unlink(missing_ok=True)
