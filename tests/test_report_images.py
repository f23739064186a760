"""The report's shared figure layouts: image mosaics and panel grids."""

from __future__ import annotations

import numpy as np

from robsens.report.images import GAP, TITLE_GAP, colour, mosaic_figure, panel_grid


def test_mosaic_places_every_tile_and_blanks_missing_ones() -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, size=(2, 3, 5, 4))
    images[1, 2] = np.nan  # a missing example
    titles = np.array([["a", "", "c"], ["", "", ""]], dtype=object)
    fig = mosaic_figure(colour(images, "gray", 0, 1), titles=titles, row_labels=["r0", "r1"])
    ax, = fig.axes
    canvas = np.asarray(ax.images[0].get_array())
    tops = [TITLE_GAP, TITLE_GAP + 5 + GAP]  # row 0 has titles, row 1 none
    assert canvas.shape == (tops[1] + 5, 3 * 4 + 2 * GAP, 3)
    for r in range(2):
        for c in range(3):
            tile = canvas[tops[r]:tops[r] + 5, c * (4 + GAP):c * (4 + GAP) + 4]
            if (r, c) == (1, 2):
                assert (tile == 1).all()  # blank: the white background
            else:
                np.testing.assert_allclose(tile[..., 0], colour(images[r, c], "gray", 0, 1)[..., 0])
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["a", "c", "r0", "r1"]


def test_panel_grid_hides_empty_slots_and_labels_the_panels_above_them() -> None:
    fig, axes = panel_grid(7, 5, (2.0, 2.0))
    assert len(axes) == 7
    hidden = [ax for ax in fig.axes if not ax.axison]
    assert len(hidden) == 3  # 2 rows x 5 slots for 7 panels
    for i, ax in enumerate(axes):  # x tick labels on the last panel of every column
        shown = any(label.get_visible() for label in ax.get_xticklabels())
        assert shown == (i >= 2), i
