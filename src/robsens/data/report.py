"""The report's data section: split sizes, class counts and an example grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robsens.core.domain import RARE_CLASSES
from robsens.core.io import load_json, load_npz, save_figure
from robsens.pipeline import paths
from robsens.report.figures import figure_markdown
from robsens.report.images import colour, mosaic_figure


def data_grid(split: dict[str, np.ndarray], per_class: int, path: Path, name: str) -> None:
    """Examples of split ``name`` per centre digit, without and with a corner digit, titled
    by class."""
    tiles = np.full((10, 2 * per_class, *split["x"].shape[1:]), np.nan)
    titles = np.full(tiles.shape[:2], "", dtype=object)
    for digit in range(10):
        for col, with_corner in enumerate((False, True)):
            idx = np.flatnonzero((split["centre"] == digit) & (split["corner"] == with_corner))
            for j, i in enumerate(idx[:per_class]):
                tiles[digit, col * per_class + j] = split["x"][i]
                titles[digit, col * per_class + j] = f"class {split['y'][i]}"
    fig = mosaic_figure(
        colour(tiles, "gray", 0, 255), titles=titles,
        suptitle=f"{name.capitalize()} examples per centre digit: left {per_class} without a "
                 f"corner digit,\nright {per_class} with one (centre 0-4 + corner = rare class "
                 "10-14)")
    save_figure(path, fig, dpi=90, bbox_inches="tight")


def data_section(params: dict, fig_dir: Path) -> tuple[str, dict]:
    manifest = load_json(paths.DATA_MANIFEST)
    scored = paths.eval_split(params, "test")  # the evaluation's split: test or val
    test = load_npz(paths.split_path(scored))
    data_grid(test, params["report"]["examples_per_class"], fig_dir / "data_grid.png", scored)
    lines = ["| split | images | with corner | class counts 0-14 |", "|---|---|---|---|"]
    for name in paths.SPLITS:
        split = manifest["splits"][name]
        lines.append(f"| {name} | {split['n']} | {split['with_corner']} | "
                     f"{' '.join(map(str, split['class_counts']))} |")
    rare = np.isin(test["y"], RARE_CLASSES).mean()
    text = (
        "## Data\n\n"
        f"Digit source: **{manifest['source']}**. Corner fraction "
        f"{params['data']['corner_fraction']}, corner size {params['data']['corner_size']} px at "
        f"{params['data']['corner_position']}; rare classes 10-14 make up {rare:.1%} of the "
        f"{scored} split. The probe splits count each centre digit once (its with-corner "
        "label).\n\n"
        + "\n".join(lines) + "\n\n" + figure_markdown("data_grid")
    )
    return text, {"data": {"source": manifest["source"]}}
