"""Build the renderer's tooth-row asset from a public-domain portrait that shows its teeth.

The mouth interior of a closed-mouth portrait needs teeth it never showed. They are taken
from the official White House portrait of Barack Obama (2012, Pete Souza; a work of the
US federal government, public domain), ``01_obama_official_smile_teeth.jpg`` of the dev
set (``../shared/datasets/fetch_faces.sh``): the upper tooth row between the inner lips,
rectified so that row 0 is the upper inner lip and columns run from one inner mouth
corner to the other. The renderer hangs it from the moved upper lip, scaled to the mouth,
colour-matched to each portrait (``lpm_bridge/assets/mouth/teeth.png``, RGBA: alpha fades
out toward the mouth corners and the bottom edge).

Usage: python scripts/make_mouth_asset.py [PORTRAIT] [OUT_PNG]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import map_coordinates

from lpm_bridge import landmarks as lm
from lpm_bridge import rig
from lpm_bridge.appearance import decode_image, find_face, read_image_bytes

DEV_FACES = Path.home() / ".cache/lpm-dev-faces"
# Asset size: columns from inner corner to inner corner, rows of source pixels below the
# upper inner lip (the source's inner mouth is ~111 px wide, its teeth ~24 px tall).
WIDTH, ROWS = 128, 28
# A tooth ends where the luma down its column drops below this fraction of the teeth's,
# below the first GUM_ROWS rows (gum and the lip's edge).
TIP_LUMA, GUM_ROWS = 0.62, 3


def _alpha(rgb: np.ndarray) -> np.ndarray:
    """Opaque from the lip down to each column's tooth tip (found by luma, smoothed), then
    a 1.5-row fade; the outer 12 % of the row on each side fades out too."""
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    teeth = np.percentile(luma, 90)
    # Across a few columns, so the dark lines between teeth do not end a tooth early.
    wide = np.stack(
        [np.convolve(np.pad(r, 5, mode="edge"), np.ones(11) / 11, "valid") for r in luma]
    )
    dark = wide < TIP_LUMA * teeth
    # A tooth ends at the first dark row below the gum (the shadow under the incisal edge;
    # the lower lip further down is never reached). The dark buccal corridors at the sides
    # end at once and stay dark, as in the photo.
    dark[:GUM_ROWS] = False
    dark[-1] = True
    tip = np.argmax(dark, axis=0).astype(np.float64)
    rows = np.arange(ROWS)[:, None]
    tip = np.convolve(np.pad(tip, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    fade = np.clip((tip[None, :] - rows) / 1.5 + 0.5, 0, 1)
    u = np.linspace(-1, 1, WIDTH)[None, :]
    return fade * np.clip((1 - np.abs(u)) / 0.12, 0, 1)


def main(argv: list[str]) -> int:
    src = argv[0] if argv and argv[0] else str(DEV_FACES / "01_obama_official_smile_teeth.jpg")
    out = argv[1] if len(argv) > 1 else "lpm_bridge/assets/mouth/teeth.png"
    img = decode_image(read_image_bytes(src))
    p = find_face(img)
    w = rig.catmull_rom(len(lm.INNER_UPPER), 32)
    upper = w @ p[list(lm.INNER_UPPER)]  # (Q, 2) corner to corner
    # Arc-length columns along the upper lip, rows straight down from it.
    seg = np.linalg.norm(np.diff(upper, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    cols = np.interp(np.linspace(0, s[-1], WIDTH), s, np.arange(len(upper)))
    xs = np.interp(cols, np.arange(len(upper)), upper[:, 0])
    ys = np.interp(cols, np.arange(len(upper)), upper[:, 1])
    step = s[-1] / (WIDTH - 1)  # source pixels per asset pixel, both ways
    rr = (np.arange(ROWS) * step)[:, None]
    yy, xx = ys[None, :] + rr, np.broadcast_to(xs[None, :], (ROWS, WIDTH))
    rgb = np.stack(
        [map_coordinates(img[..., c].astype(np.float32), [yy, xx], order=1) for c in range(3)], -1
    )
    alpha = _alpha(rgb)
    rgba = np.concatenate([rgb, 255 * np.broadcast_to(alpha, (ROWS, WIDTH))[..., None]], -1)
    Image.fromarray(np.clip(rgba, 0, 255).round().astype(np.uint8), "RGBA").save(out, optimize=True)
    tips = (alpha[:, WIDTH // 3 : 2 * WIDTH // 3] > 0.5).sum(axis=0)
    print(
        out,
        f"{step:.2f} source px per asset px; row span / face height "
        f"{s[-1] / lm.face_height(p):.3f} (rig.TEETH_SPAN); central tooth tips at row "
        f"{np.median(tips):.1f} (rig.TEETH_TIP_ROW)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
