"""CLI commands of the face family; see lpm_bridge/cli/__init__.py.

* ``animate``: portrait + motion track -> H.264 MP4 (appearance encoder + renderer);
* ``avatar inspect``: portrait -> PNG of the detected landmarks and rig mesh;
* ``avatar register | list | delete``: a running daemon's avatar store (over gRPC).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lpm_bridge.errors import ConfigError, NotFoundError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this family's subcommands to the lpm-bridge parser."""
    p = sub.add_parser("animate", help="render a motion track on a portrait to an MP4")
    p.add_argument("--image", help="portrait (JPEG/PNG/WebP); default: the bundled astronaut")
    p.add_argument("--motion", required=True, help="motion track JSON (see lpm_bridge/motion.py)")
    p.add_argument("--out", required=True, help="output .mp4 path")
    p.add_argument("--size", type=int, default=256, choices=(256, 512), help="frame size (square)")
    p.add_argument("--fps", type=int, default=None, help="output fps (default: the track's fps)")
    p.set_defaults(func=cmd_animate)

    av = sub.add_parser("avatar", help="portrait tools")
    avsub = av.add_subparsers(dest="avatar_command", required=True, metavar="SUBCOMMAND")
    ins = avsub.add_parser("inspect", help="draw the detected landmarks and rig mesh on a portrait")
    ins.add_argument("--image", help="portrait (JPEG/PNG/WebP); default: the bundled astronaut")
    ins.add_argument("--out", required=True, help="output PNG path")
    ins.add_argument("--size", type=int, default=256, choices=(256, 512), help="crop size")
    ins.set_defaults(func=cmd_inspect)

    reg = avsub.add_parser("register", help="encode a portrait once on a daemon; prints its id")
    reg.add_argument("--image", required=True, help="portrait (JPEG/PNG/WebP)")
    reg.add_argument("--name", default="", help="display name")
    reg.add_argument(
        "--sizes", type=int, nargs="+", default=[256], choices=(256, 512),
        help="output sizes to prepare now (default: 256); others are encoded at first use",
    )  # fmt: skip
    lst = avsub.add_parser("list", help="the avatars a daemon has stored")
    rm = avsub.add_parser("delete", help="forget a stored avatar")
    rm.add_argument("id", help="avatar id (from register or list)")
    for p, func in ((reg, cmd_register), (lst, cmd_list), (rm, cmd_delete)):
        p.add_argument("--server", default="127.0.0.1:50051", help="HOST:PORT of lpm-bridge serve")
        p.set_defaults(func=func)


def _image_arg(image: str | None) -> bytes | Path:
    from lpm_bridge.appearance import default_avatar_image

    if image is None:
        return default_avatar_image()
    path = Path(image)
    if not path.is_file():
        raise NotFoundError(f"portrait {path} does not exist", field="--image")
    return path


def _resample(
    frames: npt.NDArray[np.float32], src_fps: int, dst_fps: int
) -> npt.NDArray[np.float32]:
    """Motion at ``src_fps`` -> ``dst_fps`` by linear interpolation (same duration)."""
    if src_fps == dst_fps or len(frames) < 2:
        return frames
    n = max(1, round(len(frames) * dst_fps / src_fps))
    t = np.arange(n) * src_fps / dst_fps
    idx = np.arange(len(frames))
    cols = [np.interp(t, idx, frames[:, c]) for c in range(frames.shape[1])]
    return np.stack(cols, axis=1).astype(np.float32)


def cmd_animate(args: argparse.Namespace) -> int:
    from lpm_bridge.appearance import encode_appearance
    from lpm_bridge.motion import MotionTrack
    from lpm_bridge.renderer import Renderer
    from lpm_bridge.video import write_mp4

    motion_path = Path(args.motion)
    if not motion_path.is_file():
        raise NotFoundError(f"motion track {motion_path} does not exist", field="--motion")
    track = MotionTrack.load(motion_path)
    fps = args.fps or track.fps
    if not 1 <= fps <= 120:
        raise ConfigError(f"--fps must be in 1..120, got {fps}", field="--fps")
    t0 = time.perf_counter()
    app = encode_appearance(_image_arg(args.image), size=args.size)
    motion = _resample(track.frames, track.fps, fps)
    renderer = Renderer()

    def frames() -> Iterator[npt.NDArray[np.uint8]]:
        for start in range(0, len(motion), 64):
            yield from renderer.render(app, motion[start : start + 64])

    write_mp4(args.out, frames(), fps)
    dt = time.perf_counter() - t0
    print(
        f"wrote {args.out}: {len(motion)} frames {args.size}x{args.size} @ {fps} fps in {dt:.1f} s",
        file=sys.stderr,
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from PIL import Image

    from lpm_bridge.appearance import encode_appearance
    from lpm_bridge.overlay import draw_overlay

    app = encode_appearance(_image_arg(args.image), size=args.size)
    Image.fromarray(draw_overlay(app, scale=2 if args.size == 256 else 1)).save(args.out)
    print(
        f"wrote {args.out}: face {app.face_height:.0f} px tall in a {app.size} px crop, "
        f"appearance {app.nbytes / 1e6:.1f} MB, id {app.content_hash[:12]}",
        file=sys.stderr,
    )
    return 0


def _avatar_json(avatar: Any) -> str:
    import json

    return json.dumps(
        {
            "id": avatar.id,
            "name": avatar.name,
            "content_sha256": avatar.content_sha256,
            "sizes": list(avatar.sizes),
            "builtin": avatar.builtin,
        }
    )


def cmd_register(args: argparse.Namespace) -> int:
    from lpm_bridge.client import SyncBridgeClient

    path = Path(args.image)
    if not path.is_file():
        raise NotFoundError(f"portrait {path} does not exist", field="--image")
    with SyncBridgeClient(args.server) as client:
        print(_avatar_json(client.register_avatar(path.read_bytes(), args.name, args.sizes)))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from lpm_bridge.client import SyncBridgeClient

    with SyncBridgeClient(args.server) as client:
        for avatar in client.list_avatars():
            print(_avatar_json(avatar))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from lpm_bridge.client import SyncBridgeClient

    with SyncBridgeClient(args.server) as client:
        client.delete_avatar(args.id)
    print(f"deleted {args.id}", file=sys.stderr)
    return 0
