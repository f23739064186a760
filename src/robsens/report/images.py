"""Figure layouts the report's sections share: image mosaics and grids of panels.

Grids of small images are drawn as one mosaic: one axes and one ``imshow`` per figure.

A grid of 28x28 images as a grid of axes (one ``imshow`` and one title each) spends seconds in
matplotlib's layout and drawing: ten rows of eight example digits took 3.6 s of the report.
Pasting the tiles into one RGB array and writing the titles as text on one axes draws the same
picture in a fraction of that. Tiles are coloured here (:func:`colour`), so that one mosaic
can mix colour maps (a grey input beside magma maps).
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

GAP = 2  # px of white between tiles
TITLE_GAP = 9  # px above each tile when the tiles have titles (7-point text at the sizes used)
CHAR_WIDTH = 0.6  # width of a character of the labels, in units of the font size
LABEL_OFFSET = 2  # px between a row label and the mosaic


def colour(images: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """Images (..., h, w) as RGB (..., h, w, 3) in [0, 1] under ``cmap``; NaN stays NaN (blank)."""
    rgb = matplotlib.colormaps[cmap](Normalize(vmin, vmax, clip=True)(images))[..., :3]
    return np.where(np.isnan(images)[..., None], np.nan, rgb)


def mosaic_figure(tiles: np.ndarray, *, titles: np.ndarray | None = None,
                  row_labels: list[str] | None = None, suptitle: str = "",
                  inches_per_px: float = 0.03, fontsize: float = 7) -> Figure:
    """One figure showing ``tiles`` (rows, cols, h, w, 3), RGB in [0, 1] (NaN: a blank tile),
    with an optional title above each tile (``titles``, (rows, cols) strings, "" for none)
    and a label left of each row."""
    rows, cols, h, w, _ = tiles.shape
    # each row's top edge: room for its titles above it, if it has any
    gaps = [TITLE_GAP if titles is not None and any(titles[r]) else GAP for r in range(rows)]
    tops = np.cumsum(gaps) + h * np.arange(rows)
    canvas = np.ones((tops[-1] + h, cols * (w + GAP) - GAP, 3))
    for r in range(rows):
        for c in range(cols):
            x = c * (w + GAP)
            canvas[tops[r]:tops[r] + h, x:x + w] = np.nan_to_num(tiles[r, c], nan=1.0)
    # room for the row labels, which end LABEL_OFFSET px left of the mosaic
    left = 0.05 + ((max(map(len, row_labels)) * CHAR_WIDTH * fontsize / 72
                    + LABEL_OFFSET * inches_per_px) if row_labels else 0.0)
    head = 0.45 if suptitle else 0.05
    width, height = canvas.shape[1] * inches_per_px, canvas.shape[0] * inches_per_px
    fig = Figure(figsize=(width + left + 0.05, height + head + 0.05))
    ax = fig.add_axes((left / fig.get_figwidth(), 0.05 / fig.get_figheight(),
                       width / fig.get_figwidth(), height / fig.get_figheight()))
    ax.imshow(canvas, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    if titles is not None:
        for (r, c), text in np.ndenumerate(titles):
            if text:
                ax.text(c * (w + GAP) + (w - 1) / 2, tops[r] - 1, text, ha="center",
                        va="bottom", fontsize=fontsize)
    for r, label in enumerate(row_labels or []):
        ax.text(-LABEL_OFFSET, tops[r] + (h - 1) / 2, label, ha="right", va="center",
                fontsize=fontsize)
    if suptitle:
        fig.suptitle(suptitle, fontsize=8, y=1 - 0.05 / fig.get_figheight())
    return fig


def panel_grid(n: int, max_cols: int, panel_size: tuple[float, float]) -> tuple[Figure, list]:
    """``n`` panels sharing both axes, ``max_cols`` per row (inches per panel: ``panel_size``);
    returns the figure (no pyplot state to close) and the ``n`` axes in order. Slots past
    ``n`` are hidden, and the panels above them keep their x tick labels (shared axes show
    them on the bottom row only)."""
    cols = min(max_cols, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(panel_size[0] * cols, panel_size[1] * rows))
    flat = list(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).flat)
    for ax in flat[n:]:
        ax.set_axis_off()
    for ax in flat[max(0, n - cols):n]:
        ax.tick_params(labelbottom=True)
    return fig, flat[:n]
