"""Procedural MNIST-like digits, rendered offline from the fonts matplotlib ships.

Why: MNIST cannot be downloaded everywhere, yet the pipeline must run end to end.
Each digit is a font glyph with a random stroke width, affine warp (rotation, shear,
per-axis scale) and smooth elastic displacement, then fitted and centred by mass on a
28x28 canvas like MNIST. Everything is batched torch and deterministic per seed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

RENDER = 64  # glyph canvas side; warped at 2x the output then area-downsampled
GLYPH_BOX = 40  # glyph bounding box side inside the render canvas
OUT = 28
# maps output coordinates onto the render canvas so a glyph box spans 20 of 28 px (MNIST)
GLYPH_TO_CANVAS = (GLYPH_BOX / RENDER) / (20 / OUT)
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@cache
def _glyph(font: str, digit: int) -> np.ndarray:
    """One digit of one font, its bounding box fitted into the centre of the render canvas."""
    path = FONT_DIR / f"{font}.ttf"
    if not path.is_file():
        raise ValueError(f"data.synthetic.fonts: no font {font!r} in {FONT_DIR}")
    face = ImageFont.truetype(str(path), 96)
    canvas = Image.new("L", (160, 160))
    ImageDraw.Draw(canvas).text((30, 10), str(digit), fill=255, font=face)
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"data.synthetic.fonts: font {font!r} has no glyph for {digit}")
    glyph = canvas.crop(box)
    scale = GLYPH_BOX / max(glyph.size)
    size = (max(1, round(glyph.size[0] * scale)), max(1, round(glyph.size[1] * scale)))
    glyph = glyph.resize(size, Image.Resampling.LANCZOS)
    out = Image.new("L", (RENDER, RENDER))
    out.paste(glyph, ((RENDER - size[0]) // 2, (RENDER - size[1]) // 2))
    return np.asarray(out, dtype=np.float32) / 255.0


def _templates(fonts: list[str]) -> torch.Tensor:
    """(fonts, 10, 1, 64, 64) glyph templates."""
    return torch.from_numpy(
        np.stack([np.stack([_glyph(f, d) for d in range(10)]) for f in fonts])
    ).unsqueeze(2)


def _stroke(x: torch.Tensor, delta: torch.Tensor, deltas: list[int]) -> torch.Tensor:
    """Thicken (max-pool) or thin (min-pool) strokes by ``delta`` px, per image."""
    out = x.clone()
    for d in deltas:
        if d == 0:
            continue
        sel = delta == d
        if not sel.any():
            continue
        k = 2 * abs(d) + 1
        pooled = F.max_pool2d(x[sel] if d > 0 else -x[sel], k, stride=1, padding=abs(d))
        out[sel] = pooled if d > 0 else -pooled
    return out


def _affine(n: int, cfg: dict, g: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) sampling matrices: rotation, shear and per-axis scale (inverse map)."""
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g)  # noqa: E731
    angle = torch.deg2rad(u(-cfg["rotation_deg"], cfg["rotation_deg"]))
    shear = u(-cfg["shear"], cfg["shear"])
    sx, sy = u(*cfg["scale"]), u(*cfg["scale"])
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward map A = R @ Sh @ S; grid_sample needs the inverse (output -> input coords)
    a = torch.stack([cos * sx, (cos * shear - sin) * sy, sin * sx, (sin * shear + cos) * sy], 1)
    fwd = a.view(n, 2, 2)
    theta = torch.zeros(n, 2, 3)
    theta[:, :, :2] = torch.linalg.inv(fwd)
    return theta


def _elastic(n: int, side: int, cfg: dict, g: torch.Generator) -> torch.Tensor:
    """Smooth random displacement field (n, side, side, 2) in normalised coordinates."""
    coarse = torch.randn(n, 2, cfg["elastic_grid"], cfg["elastic_grid"], generator=g)
    field = F.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=True)
    return (2 * cfg["elastic_alpha"] * field).permute(0, 2, 3, 1)


def _centre_by_mass(x: torch.Tensor) -> torch.Tensor:
    """Translate each image so its centre of mass is the canvas centre (as MNIST does)."""
    n, _, h, w = x.shape
    mass = x.sum((1, 2, 3)).clamp_min(1e-6)
    rows = torch.arange(h, dtype=x.dtype).view(1, 1, h, 1)
    cols = torch.arange(w, dtype=x.dtype).view(1, 1, 1, w)
    cy = (x * rows).sum((1, 2, 3)) / mass
    cx = (x * cols).sum((1, 2, 3)) / mass
    theta = torch.zeros(n, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = (cx - (w - 1) / 2) * 2 / w
    theta[:, 1, 2] = (cy - (h - 1) / 2) * 2 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def render_digits(
    labels: torch.Tensor, cfg: dict, generator: torch.Generator, batch: int = 4096
) -> torch.Tensor:
    """Render one varied 28x28 digit per label: float32 (n, 28, 28) in [0, 1]."""
    templates = _templates(list(cfg["fonts"]))
    n_fonts = templates.shape[0]
    chunks = []
    for start in range(0, len(labels), batch):
        lab = labels[start : start + batch]
        n = len(lab)
        font = torch.randint(n_fonts, (n,), generator=generator)
        strokes = list(cfg["stroke"])
        delta = torch.tensor(strokes)[torch.randint(len(strokes), (n,), generator=generator)]
        x = _stroke(templates[font, lab], delta, strokes)
        side = 2 * OUT
        grid = F.affine_grid(_affine(n, cfg, generator), [n, 1, side, side], align_corners=False)
        grid = grid + _elastic(n, side, cfg, generator)
        warped = F.grid_sample(x, grid * GLYPH_TO_CANVAS, mode="bilinear",
                               padding_mode="zeros", align_corners=False)
        small = F.avg_pool2d(warped, 2)
        small = _centre_by_mass(small)
        peak = small.amax((1, 2, 3), keepdim=True).clamp_min(1e-6)
        lo, hi = cfg["intensity"]
        ink = lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=generator)
        chunks.append((small / peak * ink).clamp(0, 1).squeeze(1))
    return torch.cat(chunks)


def synthetic_pool(n: int, cfg: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digits with balanced labels: (uint8 images (n, 28, 28), int64 labels)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = render_digits(labels, cfg, g)
    return (images * 255).round().to(torch.uint8).numpy(), labels.numpy().astype(np.int64)

