"""Conversions between the protocol messages (lpm_bridge._proto) and the session dataclasses.

Proto zero values mean "the default" (see bridge.proto); ``config_from_proto`` fills them in
and validates, so every range error names the proto field (``config.size`` ...).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge.errors import ConfigError
from lpm_bridge.motion import DEFAULT_FPS
from lpm_bridge.session_types import (
    DEFAULT_JPEG_QUALITY,
    DEFAULT_LOOKAHEAD_MS,
    MAX_SEED,
    Encoding,
    Event,
    EventType,
    Frame,
    SessionConfig,
)

ENCODING_TO_PROTO = {
    Encoding.JPEG: pb.FRAME_ENCODING_JPEG,
    Encoding.RGBA8: pb.FRAME_ENCODING_RGBA8,
    Encoding.RGB8: pb.FRAME_ENCODING_RGB8,
    Encoding.NONE: pb.FRAME_ENCODING_NONE,
}
ENCODING_FROM_PROTO = {v: k for k, v in ENCODING_TO_PROTO.items()}
EVENT_TO_PROTO = {
    EventType.UTTERANCE_START: pb.EVENT_TYPE_UTTERANCE_START,
    EventType.UTTERANCE_END: pb.EVENT_TYPE_UTTERANCE_END,
    EventType.INTERRUPTED: pb.EVENT_TYPE_INTERRUPTED,
    EventType.FRAMES_DROPPED: pb.EVENT_TYPE_FRAMES_DROPPED,
}


@dataclass(frozen=True)
class AvatarChoice:
    """Which face a SessionConfig asks for: a stored id or one-off portrait bytes."""

    avatar_id: str | None
    portrait_image: bytes | None


def config_from_proto(msg: pb.SessionConfig) -> tuple[SessionConfig, AvatarChoice]:
    """Fill defaults, validate; raises ConfigError naming ``config.<field>``."""
    if msg.sample_rate_hz == 0:
        raise ConfigError(
            "config.sample_rate_hz is required (8000 to 48000)", field="config.sample_rate_hz"
        )
    if msg.encoding not in ENCODING_FROM_PROTO and msg.encoding != pb.FRAME_ENCODING_UNSPECIFIED:
        raise ConfigError(
            f"config.encoding {msg.encoding} is not a FrameEncoding", field="config.encoding"
        )
    cfg = SessionConfig(
        sample_rate_hz=msg.sample_rate_hz,
        fps=msg.fps or DEFAULT_FPS,
        size=msg.size or 256,
        encoding=ENCODING_FROM_PROTO.get(msg.encoding, Encoding.JPEG),
        jpeg_quality=msg.jpeg_quality or DEFAULT_JPEG_QUALITY,
        blendshapes=msg.blendshapes,
        seed=msg.seed if msg.HasField("seed") else secrets.randbelow(MAX_SEED),
        inference_steps=msg.inference_steps or 4,
        lookahead_ms=(msg.lookahead_ms if msg.HasField("lookahead_ms") else DEFAULT_LOOKAHEAD_MS),
    ).validated()
    which = msg.WhichOneof("avatar")
    choice = AvatarChoice(
        avatar_id=msg.avatar_id if which == "avatar_id" else None,
        portrait_image=msg.portrait_image if which == "portrait_image" else None,
    )
    return cfg, choice


def config_to_proto(cfg: SessionConfig, avatar_id: str) -> pb.SessionConfig:
    """The effective config as SessionStarted echoes it (portrait bytes never echoed)."""
    return pb.SessionConfig(
        avatar_id=avatar_id,
        sample_rate_hz=cfg.sample_rate_hz,
        fps=cfg.fps,
        size=cfg.size,
        encoding=ENCODING_TO_PROTO[cfg.encoding],
        jpeg_quality=cfg.jpeg_quality,
        blendshapes=cfg.blendshapes,
        seed=cfg.seed,
        inference_steps=cfg.inference_steps,
        lookahead_ms=cfg.lookahead_ms,
    )


def frame_to_proto(frame: Frame, cfg: SessionConfig) -> pb.PerformResponse:
    msg = pb.Frame(
        index=frame.index,
        pts_samples=frame.pts_samples,
        pts_seconds=frame.pts_seconds,
        encoding=ENCODING_TO_PROTO[cfg.encoding],
        image=frame.image or b"",
        width=frame.width,
        height=frame.height,
        viseme=frame.viseme,
        speaking=frame.speaking,
    )
    if cfg.blendshapes:
        msg.blendshapes.extend(frame.blendshapes.tolist())
        msg.head_rotation.extend(frame.head_rotation.tolist())
    return pb.PerformResponse(frame=msg)


def event_to_proto(event: Event) -> pb.PerformResponse:
    return pb.PerformResponse(
        event=pb.Event(
            type=EVENT_TO_PROTO[event.type], pts_samples=event.pts_samples, message=event.message
        )
    )
