"""Debug drawing for the appearance encoder: what the rig found on a portrait.

``lpm-bridge avatar inspect`` uses this so a user can see why a portrait works or not:
the aligned crop with the rig mesh (triangles over face and surroundings), the 68 dlib
landmarks colour-coded by part, the virtual control points, the eyelid regions, the
mouth-interior box and the box of the nose's depth map (a head turn carries the nose ahead).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from lpm_bridge import landmarks as lm
from lpm_bridge import rig
from lpm_bridge.appearance import Appearance, mesh_vertices

PART_COLORS: Final[tuple[tuple[slice, tuple[int, int, int]], ...]] = (
    (lm.JAW, (255, 210, 0)),
    (lm.BROW_RIGHT, (255, 120, 0)),
    (lm.BROW_LEFT, (255, 120, 0)),
    (slice(27, 36), (0, 200, 255)),
    (lm.EYE_RIGHT, (0, 255, 120)),
    (lm.EYE_LEFT, (0, 255, 120)),
    (lm.MOUTH_OUTER, (255, 60, 60)),
    (lm.MOUTH_INNER, (255, 0, 200)),
)
MESH_COLOR: Final[tuple[int, int, int, int]] = (255, 255, 255, 90)
VIRTUAL_COLOR: Final[tuple[int, int, int]] = (80, 140, 255)


def draw_overlay(app: Appearance, scale: int = 2) -> npt.NDArray[np.uint8]:
    """The aligned portrait ``scale`` x larger with mesh and landmarks: ``(H, W, 3) uint8``."""
    base = (
        Image.fromarray(app.image.numpy())
        .resize((app.size * scale,) * 2, Image.Resampling.LANCZOS)
        .convert("RGBA")
    )
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    verts = mesh_vertices(app) * scale
    for tri in app.triangles.numpy():
        pts = [tuple(map(float, verts[i])) for i in tri]
        d.line([*pts, pts[0]], fill=MESH_COLOR, width=1)
    x0, y0, x1, y1 = (int(v) * scale for v in app.mouth_box)
    d.rectangle((x0, y0, x1, y1), outline=(255, 0, 200, 120))
    x0, y0, x1, y1 = (int(v) * scale for v in app.nose_box)
    d.rectangle((x0, y0, x1, y1), outline=(0, 200, 255, 120))  # the nose's depth map
    for e in app.eyes.numpy():
        cx, cy, lid = e[rig.EYE_CX] * scale, e[rig.EYE_CY] * scale, e[rig.EYE_LID] * scale
        half = e[rig.EYE_HALF] * scale
        top, bottom = cy - e[rig.EYE_UP] * scale - lid, cy + e[rig.EYE_LOW] * scale
        d.rectangle((cx - half, top, cx + half, bottom), outline=(0, 255, 120, 120))
    ctrl = app.points.numpy() * scale
    r = max(2, scale + 1)
    for part, color in PART_COLORS:
        for x, y in ctrl[part]:
            d.ellipse((x - r, y - r, x + r, y + r), fill=(*color, 255))
    for x, y in ctrl[lm.NUM_LANDMARKS :]:
        d.rectangle((x - r, y - r, x + r, y + r), outline=(*VIRTUAL_COLOR, 255))
    return np.asarray(Image.alpha_composite(base, layer).convert("RGB"), dtype=np.uint8)
