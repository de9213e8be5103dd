"""Dependency-free SVG line plots for the mapper's documentation figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

WIDTH: Final[int] = 720
HEIGHT: Final[int] = 260
MARGIN: Final[int] = 48
COLOURS: Final[tuple[str, ...]] = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def line_plot_svg(
    series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str, ylabel: str
) -> str:
    """An SVG document with one polyline per named (x, y) series, shared axes and a legend."""
    xs = np.concatenate([np.asarray(x, dtype=float) for x, _ in series.values()])
    ys = np.concatenate([np.asarray(y, dtype=float) for _, y in series.values()])
    x0, x1 = float(xs.min()), float(xs.max()) or 1.0
    y0, y1 = float(ys.min()), float(ys.max())
    if y1 - y0 < 1e-9:
        y1 = y0 + 1.0
    pw, ph = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def px(x: float) -> float:
        return MARGIN + (x - x0) / ((x1 - x0) or 1.0) * pw

    def py(y: float) -> float:
        return HEIGHT - MARGIN - (y - y0) / (y1 - y0) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>',
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 10}" text-anchor="middle">{xlabel}</text>',
        f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" '
        f'text-anchor="middle">{ylabel}</text>',
        f'<text x="{MARGIN}" y="{HEIGHT - MARGIN + 14}">{x0:.3g}</text>',
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - MARGIN + 14}" text-anchor="end">{x1:.3g}</text>',
        f'<text x="{MARGIN - 4}" y="{HEIGHT - MARGIN}" text-anchor="end">{y0:.3g}</text>',
        f'<text x="{MARGIN - 4}" y="{MARGIN + 8}" text-anchor="end">{y1:.3g}</text>',
    ]
    for i, (name, (x, y)) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{px(float(a)):.1f},{py(float(b)):.1f}" for a, b in zip(x, y, strict=True))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.3" points="{pts}"/>')
        parts.append(
            f'<text x="{WIDTH - MARGIN - 4}" y="{MARGIN + 14 + 14 * i}" text-anchor="end" '
            f'fill="{colour}">{name}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
