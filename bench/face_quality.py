"""Face quality benchmark: renders fixed motions on a real portrait and judges them with dlib.

Every figure comes from *re-detecting* the face on the rendered frames with dlib's
detector, 68-point predictor and 128-D embedding, never from the renderer's own numbers:

* mouth: inner-lip gap / face height for jawOpen 0..1, and with mouthClose;
* eyes: eye aspect ratio (EAR) open vs eyeBlink*;
* identity: embedding distance of every rendered frame (each channel at 1, head at
  +-15 deg, and combinations) to the reference portrait;
* neutral fidelity: PSNR of a neutral frame vs the portrait crop over the face region.

Usage: python bench/face_quality.py [--image PORTRAIT] [--size 256|512] [--sheet PNG]
(prints JSON; ``--sheet`` also saves a labelled contact sheet of channel extremes)

Dev-set mode, the issue-14 targets per portrait (the astronaut plus every image in DIR),
on frames rendered as the daemon sends them (YCbCr 4:2:0, JPEG 85) and decoded:

    python bench/face_quality.py --faces ~/.cache/lpm-dev-faces [--poses-dir DIR] [--markdown]

* ``jawOpen`` = 1: inner-lip gap >= 8 % of the face height, and >= 30 % of the inner-lip
  polygon darker than 40 % of the face's median luma (a cavity);
* both ``eyeBlink`` = 1: each eye's aspect ratio <= 0.35 of its open value;
* yaw +-15 deg: the nose tip travels >= 0.25 inter-ocular distances (IOD) peak to peak
  *relative to the eyes* (``face_metrics.nose_ahead``: the parallax of a real turn; the
  whole face sliding sideways does not count); pitch +-10 deg: its vertical travel;
* identity: the largest dlib distance to the original portrait over every channel at 1,
  every head angle at +-15 deg and the combinations, <= 0.30.

``--poses-dir`` also saves one contact sheet of poses per portrait (``<stem>_poses.png``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np
import torch

from lpm_bridge import face_metrics as fm
from lpm_bridge import landmarks as lm
from lpm_bridge.appearance import (
    decode_image,
    default_avatar_image,
    encode_appearance,
    read_image_bytes,
)
from lpm_bridge.motion import (
    ARKIT_NAMES,
    CH,
    MAX_HEAD_ANGLE,
    NUM_CHANNELS,
    neutral,
)
from lpm_bridge.renderer import Renderer, psnr

HEAD_TEST_ANGLE = math.radians(15.0)


def motion(**channels: float) -> np.ndarray:
    m = neutral(1)[0]
    for name, v in channels.items():
        m[CH[name]] = v
    return m


COMBINATIONS = ("jaw+smile+brows", "jaw+funnel+yaw", "blink+jaw+roll")


def extreme_motions() -> dict[str, np.ndarray]:
    """Each blendshape at 1, each head angle at +-15 deg, and a few combined extremes."""
    out = {name: motion(**{name: 1.0}) for name in ARKIT_NAMES}
    for name in ("yaw", "pitch", "roll"):
        out[f"{name}+15"] = motion(**{name: HEAD_TEST_ANGLE})
        out[f"{name}-15"] = motion(**{name: -HEAD_TEST_ANGLE})
    # COMBINATIONS: several channels at once (stricter than the per-channel target).
    out["jaw+smile+brows"] = motion(jawOpen=1, mouthSmileLeft=1, mouthSmileRight=1, browInnerUp=1)
    out["jaw+funnel+yaw"] = motion(jawOpen=0.6, mouthFunnel=1, yaw=HEAD_TEST_ANGLE, pitch=0.15)
    out["blink+jaw+roll"] = motion(
        eyeBlinkLeft=1, eyeBlinkRight=1, jawOpen=1, roll=-HEAD_TEST_ANGLE
    )
    return out


def measure(frame: np.ndarray) -> dict[str, Any] | None:
    """Re-detected landmarks and embedding of one rendered frame (None: no face found)."""
    faces = lm.detect_faces(frame, upsample=1)
    if not faces:
        return None
    box = lm.pick_face(faces)
    pts = lm.predict_landmarks(frame, box)
    emb = lm.face_embedding(frame, box)
    return {"landmarks": pts, "embedding": emb}


def mouth_and_eyes(renderer: Renderer, app: Any, face_h: float) -> dict[str, Any]:
    steps = [0.0, 0.25, 0.5, 0.75, 1.0]
    rows = [motion(jawOpen=j) for j in steps]
    rows += [motion(mouthClose=1.0), motion(jawOpen=1.0, mouthClose=1.0)]
    rows += [
        motion(eyeBlinkLeft=1.0, eyeBlinkRight=1.0),
        motion(eyeBlinkLeft=1.0),
        motion(eyeBlinkRight=1.0),
    ]
    rows += [motion(eyeBlinkLeft=0.5, eyeBlinkRight=0.5)]
    frames = renderer.render(app, np.stack(rows))
    ms = [measure(f) for f in frames]
    gap = [None if m is None else lm.inner_lip_gap(m["landmarks"]) / face_h for m in ms]

    def ear(m: dict[str, Any] | None) -> list[float] | None:
        if m is None:
            return None
        return [
            lm.eye_aspect_ratio(m["landmarks"], lm.EYE_RIGHT),
            lm.eye_aspect_ratio(m["landmarks"], lm.EYE_LEFT),
        ]

    return {
        "inner_lip_gap_over_face_height": {
            "jawOpen": dict(zip([str(s) for s in steps], gap[:5], strict=True)),
            "mouthClose=1,jawOpen=0": gap[5],
            "mouthClose=1,jawOpen=1": gap[6],
            "jawOpen=1 minus neutral": None if None in (gap[4], gap[0]) else gap[4] - gap[0],  # type: ignore[operator]
        },
        "eye_aspect_ratio_[image-left,image-right]": {
            "open": ear(ms[0]),
            "blink_both": ear(ms[7]),
            "blink_left(subject)": ear(ms[8]),
            "blink_right(subject)": ear(ms[9]),
            "blink_both_0.5": ear(ms[10]),
        },
    }


def identity(renderer: Renderer, app: Any, ref_emb: np.ndarray) -> dict[str, Any]:
    cases = extreme_motions()
    frames = renderer.render(app, np.stack(list(cases.values())))
    dist: dict[str, float | None] = {}
    for name, f in zip(cases, frames, strict=True):
        m = measure(f)
        dist[name] = None if m is None else float(np.linalg.norm(m["embedding"] - ref_emb))
    found = [d for d in dist.values() if d is not None]
    worst = max(dist, key=lambda k: -1 if dist[k] is None else dist[k])  # type: ignore[arg-type,return-value]
    combos = [v for k, v in dist.items() if v is not None and k in COMBINATIONS]
    singles = {k: v for k, v in dist.items() if v is not None and k not in COMBINATIONS}
    return {
        "frames": len(dist),
        "face_found": len(found),
        "max_distance": max(found) if found else None,
        "max_distance_single_channel": max(singles.values()),
        "max_distance_single_channel_except_mouthClose": max(
            v for k, v in singles.items() if k != "mouthClose"
        ),
        "max_distance_combinations": max(combos) if combos else None,
        "mean_distance": float(np.mean(found)) if found else None,
        "worst_case": worst,
        "per_motion": {k: None if v is None else round(v, 4) for k, v in dist.items()},
    }


SHEET = {
    "neutral": {}, "jawOpen": {"jawOpen": 1.0}, "mouthClose": {"mouthClose": 1.0},
    "jawOpen .5 + funnel": {"jawOpen": 0.5, "mouthFunnel": 1.0},
    "mouthPucker": {"mouthPucker": 1.0},
    "smile L+R": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0},
    "stretch + jaw .3": {"mouthStretchLeft": 1.0, "mouthStretchRight": 1.0, "jawOpen": 0.3},
    "lowerDown+upperUp": {"mouthLowerDownLeft": 1.0, "mouthLowerDownRight": 1.0,
                          "mouthUpperUpLeft": 1.0, "mouthUpperUpRight": 1.0},
    "eyeBlink L+R": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "eyeBlinkLeft": {"eyeBlinkLeft": 1.0},
    "browInnerUp+outer": {"browInnerUp": 1.0, "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0},
    "browDown L+R": {"browDownLeft": 1.0, "browDownRight": 1.0},
    "look left": {"eyeLookOutLeft": 1.0, "eyeLookInRight": 1.0},
    "yaw +15": {"yaw": HEAD_TEST_ANGLE}, "pitch +15": {"pitch": HEAD_TEST_ANGLE},
    "roll +15": {"roll": HEAD_TEST_ANGLE},
}  # fmt: skip


def save_sheet(renderer: Renderer, app: Any, path: str, cols: int = 4) -> None:
    """A labelled grid of the renderer at the channel extremes in ``SHEET``."""
    from PIL import Image, ImageDraw

    frames = renderer.render(app, np.stack([motion(**v) for v in SHEET.values()]))
    s = app.size
    rows = (len(frames) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * s, rows * s), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, f) in enumerate(zip(SHEET, frames, strict=True)):
        x, y = (i % cols) * s, (i // cols) * s
        sheet.paste(Image.fromarray(f), (x, y))
        draw.rectangle((x, y, x + 7 * len(label) + 6, y + 14), fill=(0, 0, 0))
        draw.text((x + 3, y + 2), label, fill=(255, 255, 255))
    sheet.save(path)


# Poses of the contact sheets (``--poses-dir``): what a talking head does most.
POSES = {
    "neutral": {}, "jawOpen .3": {"jawOpen": 0.3}, "jawOpen .6": {"jawOpen": 0.6},
    "jawOpen 1": {"jawOpen": 1.0}, "jaw .5 + smile": {"jawOpen": 0.5, "mouthSmileLeft": 1.0,
                                                       "mouthSmileRight": 1.0},
    "jaw .4 + funnel": {"jawOpen": 0.4, "mouthFunnel": 1.0},
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "yaw -15": {"yaw": -HEAD_TEST_ANGLE}, "yaw +15": {"yaw": HEAD_TEST_ANGLE},
    "pitch -10": {"pitch": -math.radians(10)}, "pitch +10": {"pitch": math.radians(10)},
    "yaw 15 + jaw .7": {"yaw": HEAD_TEST_ANGLE, "jawOpen": 0.7},
}  # fmt: skip

# The issue-14 targets (see the module docstring).
TARGET_GAP, TARGET_CAVITY, TARGET_EAR, TARGET_NOSE, TARGET_ID = 0.08, 0.30, 0.35, 0.25, 0.30


def target_motions() -> dict[str, np.ndarray]:
    pitch = math.radians(10)
    return {
        "neutral": motion(), "jawOpen": motion(jawOpen=1.0),
        "blink": motion(eyeBlinkLeft=1.0, eyeBlinkRight=1.0),
        "yaw+15": motion(yaw=HEAD_TEST_ANGLE), "yaw-15": motion(yaw=-HEAD_TEST_ANGLE),
        "pitch+10": motion(pitch=pitch), "pitch-10": motion(pitch=-pitch),
    }  # fmt: skip


def portrait_targets(
    renderer: Renderer, app: Any, ref: fm.Detected, every_pose: bool = True
) -> dict[str, Any]:
    """The issue-14 numbers of one portrait, by re-detection on decoded frames (identity
    over the target poses only unless ``every_pose``)."""
    poses = target_motions()
    frames = fm.render_decoded(renderer, app, np.stack(list(poses.values())))
    d = dict(zip(poses, (fm.detect(f, embedding=True) for f in frames), strict=True))
    base = d["neutral"]
    if base is None:
        return {"error": "no face re-detected on the neutral frame"}
    out: dict[str, Any] = {}
    jaw = d["jawOpen"]
    if jaw is not None:
        f = frames[list(poses).index("jawOpen")]
        out["jaw_gap"] = fm.lip_gap(jaw)
        out["jaw_gap_gain"] = fm.lip_gap(jaw) - fm.lip_gap(base)
        out["jaw_cavity"] = fm.cavity_fraction(
            f, jaw.landmarks, fm.face_median_luma(f, jaw.landmarks)
        )
    if d["blink"] is not None:
        out["blink_ear_ratio"] = max(fm.eye_ratios(base, d["blink"]))
    iod = fm.inter_ocular(base)
    for axis, dim, deg in (("yaw", 0, 15), ("pitch", 1, 10)):
        hi, lo = d[f"{axis}+{deg}"], d[f"{axis}-{deg}"]
        if hi is not None and lo is not None:
            out[f"{axis}_nose_p2p_iod"] = abs(float(fm.nose_travel(lo, hi, iod)[dim]))
    dist = {k: fm.embedding_distance(v, ref) for k, v in d.items() if v is not None}
    found, frames_n = len(dist), len(d)
    if every_pose:
        ident = identity(renderer, app, ref.embedding)  # type: ignore[arg-type]
        dist |= {k: v for k, v in ident["per_motion"].items() if v is not None}
        found, frames_n = found + ident["face_found"], frames_n + ident["frames"]
        out["identity_max_single_channel"] = ident["max_distance_single_channel"]
        singles = {k: v for k, v in ident["per_motion"].items() if k not in COMBINATIONS}
        out["identity_worst_single_channel"] = max(singles, key=lambda k: singles[k] or 0.0)
    worst = max(dist, key=lambda k: dist[k])
    out["identity_max"], out["identity_worst"] = dist[worst], worst
    out["identity_faces_found"] = f"{found}/{frames_n}"
    out["pass"] = {
        "mouth": out.get("jaw_gap", 0) >= TARGET_GAP and out.get("jaw_cavity", 0) >= TARGET_CAVITY,
        "blink": out.get("blink_ear_ratio", 1) <= TARGET_EAR,
        "yaw": out.get("yaw_nose_p2p_iod", 0) >= TARGET_NOSE,
        "identity": out["identity_max"] <= TARGET_ID and found == frames_n,
    }
    return out


def save_poses(renderer: Renderer, app: Any, path: str, cols: int = 6) -> None:
    """A labelled contact sheet of ``POSES`` (the face region, 1.5x)."""
    from PIL import Image, ImageDraw

    frames = renderer.render(app, np.stack([motion(**v) for v in POSES.values()]))
    s = app.size
    x0, y0, w = s // 5, s // 6, 3 * s // 5  # the face and some of the hair and neck
    cell = w * 3 // 2
    rows = (len(frames) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cell, rows * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, f) in enumerate(zip(POSES, frames, strict=True)):
        x, y = (i % cols) * cell, (i // cols) * cell
        tile = Image.fromarray(f).crop((x0, y0, x0 + w, y0 + w))
        sheet.paste(tile.resize((cell, cell), Image.Resampling.LANCZOS), (x, y))
        draw.rectangle((x, y, x + 7 * len(label) + 6, y + 14), fill=(0, 0, 0))
        draw.text((x + 3, y + 2), label, fill=(255, 255, 255))
    sheet.save(path)


def dev_set(args: argparse.Namespace) -> int:
    """``--faces DIR``: the targets on the astronaut and every portrait in DIR."""
    from pathlib import Path

    paths = sorted(p for p in Path(args.faces).expanduser().iterdir() if p.is_file())
    portraits: list[tuple[str, bytes]] = [("astronaut", default_avatar_image())]
    portraits += [(p.stem, p.read_bytes()) for p in paths]
    if args.only:
        portraits = [(n, b) for n, b in portraits if any(n.startswith(o) for o in args.only)]
    renderer, results = Renderer(), {}
    for name, data in portraits:
        ref = fm.detect(decode_image(data), embedding=True)
        if ref is None:
            results[name] = {"error": "no face in the reference portrait"}
            continue
        app = encode_appearance(data, size=args.size)
        results[name] = portrait_targets(renderer, app, ref, every_pose=not args.quick)
        if args.poses_dir:
            save_poses(renderer, app, str(Path(args.poses_dir) / f"{name}_poses.png"))
        print(f"{name}: {results[name]}", file=sys.stderr)
    if args.markdown:
        print(markdown_table(results))
    else:
        print(json.dumps(results, indent=2, default=lambda o: round(float(o), 4)))
    return 0


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    """The dev-set numbers as a markdown table, one row per portrait."""

    def f(v: Any, digits: int = 2) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    lines = [
        "| portrait | jawOpen 1: lip gap / face h (>= 0.08) | dark share of the opening "
        "(>= 0.30) | blink: EAR shut / open (<= 0.35) | yaw +-15: nose vs eyes, IOD p2p "
        "(>= 0.25) | pitch +-10: nose vs eyes, IOD p2p | identity, worst single channel or "
        "angle (<= 0.30) | identity, worst of all (combinations too) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {f(r.get('jaw_gap'), 3)} | {f(r.get('jaw_cavity'))} "
            f"| {f(r.get('blink_ear_ratio'))} | {f(r.get('yaw_nose_p2p_iod'))} "
            f"| {f(r.get('pitch_nose_p2p_iod'))} | {f(r.get('identity_max_single_channel'))} "
            f"({r.get('identity_worst_single_channel', '-')}) "
            f"| {f(r.get('identity_max'))} ({r.get('identity_worst', '-')}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=None)
    ap.add_argument("--size", type=int, default=256, choices=(256, 512))
    ap.add_argument("--sheet", default=None, help="also save a contact sheet PNG here")
    ap.add_argument("--faces", default=None, help="dev-set mode: a folder of portraits")
    ap.add_argument("--poses-dir", default=None, help="dev-set mode: save pose sheets here")
    ap.add_argument("--markdown", action="store_true", help="dev-set mode: a table, not JSON")
    ap.add_argument("--quick", action="store_true", help="dev-set mode: identity on 7 poses")
    ap.add_argument("--only", nargs="*", default=None, help="dev-set mode: these names only")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.faces:
        return dev_set(args)
    data = read_image_bytes(args.image) if args.image else default_avatar_image()
    portrait = decode_image(data)
    ref = measure(portrait)
    if ref is None:
        print(json.dumps({"error": "no face in the reference portrait"}))
        return 1
    t0 = time.perf_counter()
    app = encode_appearance(data, size=args.size)
    encode_s = time.perf_counter() - t0
    renderer = Renderer()
    if args.sheet:
        save_sheet(renderer, app, args.sheet)
    neutral_frame = renderer.render(app, neutral(1))[0]
    crop = app.image.numpy()
    pts = app.landmarks.numpy()
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    n = measure(neutral_frame)
    assert n is not None, "no face re-detected on the neutral frame"
    face_h = lm.face_height(n["landmarks"])
    result = {
        "image": args.image or "bundled astronaut",
        "size": args.size,
        "encode_s": round(encode_s, 3),
        "appearance_mb": round(app.nbytes / 1e6, 2),
        "neutral_psnr_face_db": round(psnr(neutral_frame[y0:y1, x0:x1], crop[y0:y1, x0:x1]), 2),
        "neutral_psnr_full_db": round(psnr(neutral_frame, crop), 2),
        "reference_vs_crop_distance": float(np.linalg.norm(n["embedding"] - ref["embedding"])),
        "face_height_px": round(face_h, 1),
        **mouth_and_eyes(renderer, app, face_h),
        "identity": identity(renderer, app, ref["embedding"]),
        "max_head_angle_rad": MAX_HEAD_ANGLE,
        "channels": NUM_CHANNELS,
    }
    print(json.dumps(result, indent=2, default=lambda o: round(float(o), 4)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
