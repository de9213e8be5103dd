"""CLI commands of the bridge family; see lpm_bridge/cli/__init__.py.

* ``render``: portrait + WAV -> MP4 offline, through the same session the daemon runs.
* ``serve``:  the gRPC daemon.
* ``stream``: stream a WAV to a daemon as a game would; write the frames + audio to an MP4.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lpm_bridge.errors import ConfigError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this family's subcommands to the lpm-bridge parser."""
    _add_render(sub)
    _add_serve(sub)
    _add_stream(sub)


def _add_render(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("render", help="render a portrait speaking a WAV to an MP4, offline")
    p.add_argument(
        "--image", type=Path, default=None, help="portrait (default: the built-in avatar)"
    )
    p.add_argument("--audio", type=Path, required=True, help="speech WAV")
    p.add_argument("--out", type=Path, required=True, help="output MP4 (audio muxed in)")
    p.add_argument("--size", type=int, default=256, choices=(256, 512))
    p.add_argument("--fps", type=int, default=25, choices=(25, 30, 60))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--steps", type=int, default=4, help="flow-matching steps (1-16)")
    p.add_argument("--model", default="default", help="mapper checkpoint dir (default: shipped)")
    p.set_defaults(func=_render)


def _render(args: argparse.Namespace) -> int:
    import torch

    from lpm_bridge.appearance import default_avatar_image
    from lpm_bridge.audio import read_wav
    from lpm_bridge.pipeline import LPMPipeline
    from lpm_bridge.video import write_mp4

    pcm, rate = read_wav(args.audio, "--audio")
    image = args.image if args.image is not None else default_avatar_image()
    pipe = LPMPipeline.from_pretrained(args.model)
    t0 = time.perf_counter()
    chunks = pipe.stream(
        image,
        pcm,
        sample_rate=rate,
        size=args.size,
        fps=args.fps,
        num_inference_steps=args.steps,
        generator=torch.Generator().manual_seed(args.seed),
    )
    n = 0

    def frames() -> Any:
        nonlocal n
        for chunk in chunks:
            n += len(chunk.frames)
            yield from chunk.frames

    write_mp4(args.out, frames(), fps=args.fps, audio=pcm, sample_rate=rate)
    took = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "out": str(args.out),
                "frames": n,
                "seconds": round(took, 2),
                "realtime_factor": round(took / max(len(pcm) / rate, 1e-9), 3),
            }
        )
    )
    return 0


def _add_serve(sub: argparse._SubParsersAction[Any]) -> None:
    from lpm_bridge.server.avatars import DEFAULT_AVATARS_DIR, DEFAULT_QUOTA_BYTES

    p = sub.add_parser("serve", help="run the gRPC daemon")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=50051, help="0 picks a free port (printed)")
    p.add_argument(
        "--ws-port",
        type=int,
        default=None,
        help="also serve Perform over WebSocket on this port, for Godot and Unity WebGL "
        "(off by default; 0 picks a free port)",
    )
    _add_limits(p)
    p.add_argument("--avatars-dir", type=Path, default=DEFAULT_AVATARS_DIR)
    p.add_argument(
        "--avatars-quota-mb",
        type=int,
        default=DEFAULT_QUOTA_BYTES // 2**20,
        help="disk the avatar store may use; beyond it the least recently used avatars not in "
        "use are deleted (default 2048)",
    )
    p.add_argument(
        "--model", type=Path, default=None, help="mapper checkpoint dir (default: shipped)"
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per op (default 1; 0: all cores); cores are used by the lanes",
    )
    p.add_argument(
        "--render-workers",
        type=int,
        default=0,
        help="lanes: threads each computing their own batches (default 0: one per core, 1 on GPU)",
    )
    p.add_argument(
        "--compute-processes",
        type=int,
        default=None,
        help="worker processes for the mapper and renderer, out of the daemon's GIL "
        "(default: one per lane on a multi-core CPU; 0: compute in the lanes' threads)",
    )
    p.add_argument(
        "--max-batch-frames",
        type=int,
        default=0,
        help="frames per batch of one lane (default 0: 32 on CPU, 128 on GPU)",
    )
    p.add_argument(
        "--live-batch-frames",
        type=int,
        default=0,
        help="frames per batch that holds a live session (default 0: 12 on CPU; GPU: as "
        "--max-batch-frames)",
    )
    p.add_argument("--grace", type=float, default=5.0, help="seconds live sessions get on shutdown")
    p.set_defaults(func=_serve)


def _add_limits(p: argparse.ArgumentParser) -> None:
    """``serve``'s per-call limits and timeouts (docs/protocol.md, "Limits and timeouts")."""
    p.add_argument(
        "--max-sessions",
        type=int,
        default=20,
        help="Perform calls at once (default 20: what 2 CPU cores serve on time at 256; "
        "docs/performance.md)",
    )
    p.add_argument(
        "--config-timeout",
        type=float,
        default=10.0,
        help="seconds from a Perform call's start to its config (default 10)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=300.0,
        help="seconds a session may go without a request or a frame read (default 300)",
    )
    p.add_argument(
        "--max-pending-audio",
        type=float,
        default=30.0,
        help="seconds of audio a session holds before the server stops reading (default 30)",
    )


def _serve(args: argparse.Namespace) -> int:
    from lpm_bridge.engine import EngineOptions
    from lpm_bridge.server.daemon import ServeOptions, run
    from lpm_bridge.server.servicer import ServerLimits

    if args.max_sessions < 1:
        raise ConfigError("--max-sessions must be at least 1", field="--max-sessions")
    for flag, value in (
        ("--config-timeout", args.config_timeout),
        ("--idle-timeout", args.idle_timeout),
        ("--max-pending-audio", args.max_pending_audio),
    ):
        if not value > 0:
            raise ConfigError(f"{flag} must be more than 0 seconds, got {value}", field=flag)
    if args.avatars_quota_mb < 1:
        raise ConfigError("--avatars-quota-mb must be at least 1", field="--avatars-quota-mb")
    if args.render_workers < 0:
        raise ConfigError("--render-workers must be 0 or more", field="--render-workers")
    if args.compute_processes is not None and args.compute_processes < 0:
        raise ConfigError("--compute-processes must be 0 or more", field="--compute-processes")
    if args.compute_processes and args.device != "cpu":
        raise ConfigError(
            f"--compute-processes is for CPU serving; leave it out with --device {args.device}",
            field="--compute-processes",
        )
    if args.max_batch_frames < 0:
        raise ConfigError("--max-batch-frames must be 0 (auto) or more", field="--max-batch-frames")
    if args.live_batch_frames < 0:
        raise ConfigError(
            "--live-batch-frames must be 0 (auto) or more", field="--live-batch-frames"
        )
    return run(
        ServeOptions(
            host=args.host,
            port=args.port,
            ws_port=args.ws_port,
            avatars_dir=args.avatars_dir,
            avatars_quota_mb=args.avatars_quota_mb,
            model=args.model,
            device=args.device,
            threads=args.threads,
            compute_processes=args.compute_processes,
            grace_s=args.grace,
            limits=ServerLimits(
                max_sessions=args.max_sessions,
                config_timeout_s=args.config_timeout,
                idle_timeout_s=args.idle_timeout,
                max_pending_audio_s=args.max_pending_audio,
            ),
            engine=EngineOptions(
                max_batch_frames=args.max_batch_frames,
                live_batch_frames=args.live_batch_frames,
                render_workers=args.render_workers,
            ),
        )
    )


def _add_stream(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "stream", help="stream a WAV to a daemon and write the returned face to an MP4"
    )
    p.add_argument("--server", default="127.0.0.1:50051", help="HOST:PORT of lpm-bridge serve")
    face = p.add_mutually_exclusive_group()
    face.add_argument("--avatar", default=None, help="avatar id (default: 'default')")
    face.add_argument("--image", type=Path, default=None, help="portrait file")
    p.add_argument("--audio", type=Path, required=True, help="speech WAV")
    p.add_argument("--out", type=Path, default=None, help="output MP4 (frames + audio, in sync)")
    p.add_argument("--realtime", action="store_true", help="send at real-time pace, as live audio")
    p.add_argument("--chunk-ms", type=int, default=20, help="audio per message, 20 to 40 ms")
    p.add_argument(
        "--playout-delay-ms",
        type=float,
        default=150.0,
        help="audio plays this long after its first chunk is sent; frames later than that are late",
    )
    p.add_argument("--size", type=int, default=256, choices=(256, 512))
    p.add_argument("--fps", type=int, default=25, choices=(25, 30, 60))
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--steps", type=int, default=0, help="flow-matching steps (0: server default)")
    p.add_argument(
        "--lookahead-ms",
        type=int,
        default=None,
        help="audio the model hears past each frame, 0-80 ms (default: the server's, 40)",
    )
    p.set_defaults(func=_stream)


def _stream(args: argparse.Namespace) -> int:
    import grpc

    from lpm_bridge.client import stream_wav

    if not 20 <= args.chunk_ms <= 40:
        raise ConfigError("--chunk-ms must be 20 to 40", field="--chunk-ms")
    image = args.image.read_bytes() if args.image is not None else None
    try:
        report = asyncio.run(
            stream_wav(
                args.server,
                args.audio,
                args.out,
                realtime=args.realtime,
                chunk_ms=args.chunk_ms,
                playout_delay_ms=args.playout_delay_ms,
                avatar_id=args.avatar,
                image=image,
                size=args.size,
                fps=args.fps,
                seed=args.seed,
                steps=args.steps,
                lookahead_ms=args.lookahead_ms,
            )
        )
    except grpc.aio.AioRpcError as e:
        print(f"lpm-bridge stream: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(report)))
    return 0
