"""Boundary types of a live session: its configuration, the timeline maths, frames and events.

Every transport (gRPC servicer, offline renderer, Python pipeline) converts to and from
these dataclasses; none of them passes string-keyed dicts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from lpm_bridge.errors import ConfigError
from lpm_bridge.motion import BLENDSHAPES, HEAD, SUPPORTED_FPS, FloatArray

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000
SUPPORTED_SIZES = (256, 512)
MAX_INFERENCE_STEPS = 16
# The shipped mapper hears at most 80 ms past a frame. 40 ms lip-syncs as well on held-out
# voices (bench/motion_eval.py --lookahead-ms 40) and answers live audio 40 ms sooner.
DEFAULT_LOOKAHEAD_MS = 40
MAX_LOOKAHEAD_MS = 80
DEFAULT_JPEG_QUALITY = 85
MAX_SEED = 2**62  # the motion stream mixes the seed with the frame index below 2**63


class Encoding(enum.Enum):
    """How a frame's picture is encoded (mirrors proto FrameEncoding)."""

    JPEG = "jpeg"
    RGBA8 = "rgba8"
    RGB8 = "rgb8"
    NONE = "none"  # motion only: the renderer is skipped entirely


class EventType(enum.Enum):
    """Kinds of timeline events (mirrors proto EventType)."""

    UTTERANCE_START = "utterance_start"
    UTTERANCE_END = "utterance_end"
    INTERRUPTED = "interrupted"
    FRAMES_DROPPED = "frames_dropped"


@dataclass(frozen=True)
class SessionConfig:
    """Settings of one live session; field names match proto ``SessionConfig``."""

    sample_rate_hz: int  # rate of the PCM16 mono input; the timeline counts these samples
    fps: int = 25  # output frame rate, one of motion.SUPPORTED_FPS
    size: int = 256  # output width = height in pixels
    encoding: Encoding = Encoding.JPEG
    jpeg_quality: int = DEFAULT_JPEG_QUALITY  # 1..100, JPEG only
    blendshapes: bool = False  # transports include ARKit-52 weights + head rotation
    seed: int = 0  # motion sampler seed (transports pick a random one when unset)
    inference_steps: int = 4  # flow-matching solver steps
    lookahead_ms: int = DEFAULT_LOOKAHEAD_MS  # audio heard past each frame (latency)

    def validated(self) -> SessionConfig:
        """Return self, or raise ConfigError naming the first field out of range."""
        checks: list[tuple[bool, str, str]] = [
            (
                MIN_SAMPLE_RATE <= self.sample_rate_hz <= MAX_SAMPLE_RATE,
                "sample_rate_hz",
                f"must be {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, got {self.sample_rate_hz}",
            ),
            (self.fps in SUPPORTED_FPS, "fps", f"must be one of {SUPPORTED_FPS}, got {self.fps}"),
            (
                self.size in SUPPORTED_SIZES,
                "size",
                f"must be one of {SUPPORTED_SIZES}, got {self.size}",
            ),
            (
                1 <= self.jpeg_quality <= 100,
                "jpeg_quality",
                f"must be 1 to 100, got {self.jpeg_quality}",
            ),
            (
                1 <= self.inference_steps <= MAX_INFERENCE_STEPS,
                "inference_steps",
                f"must be 1 to {MAX_INFERENCE_STEPS}, got {self.inference_steps}",
            ),
            (0 <= self.seed <= MAX_SEED, "seed", f"must be 0 to 2**62, got {self.seed}"),
            (
                0 <= self.lookahead_ms <= MAX_LOOKAHEAD_MS,
                "lookahead_ms",
                f"must be 0 to {MAX_LOOKAHEAD_MS} ms, got {self.lookahead_ms}",
            ),
        ]
        for ok, name, why in checks:
            if not ok:
                raise ConfigError(f"config.{name} {why}", field=f"config.{name}")
        return self

    def with_(self, **changes: object) -> SessionConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Timeline:
    """Integer maths of one session timeline, counted in input-audio samples.

    Frame ``n`` lies at ``floor(n * sample_rate / fps)`` samples: computed from integers
    for every frame, so hour-long sessions have no cumulative rounding drift.
    """

    sample_rate: int
    fps: int

    def pts(self, frame: int) -> int:
        """Sample position of frame ``frame``."""
        return frame * self.sample_rate // self.fps

    def frame_at_or_after(self, sample: int) -> int:
        """The first frame whose pts is >= ``sample`` (n*sr//fps >= s  <=>  n >= s*fps/sr)."""
        return -(-sample * self.fps // self.sample_rate)

    def samples(self, seconds: float) -> int:
        """Whole samples in ``seconds``."""
        return int(seconds * self.sample_rate)


@dataclass(frozen=True, eq=False)
class Frame:
    """One output frame of a session."""

    index: int  # frame number on the session timeline, from 0
    pts_samples: int  # Timeline.pts(index)
    pts_seconds: float  # index / fps
    motion: FloatArray = field(repr=False)  # (55,) float32: ARKit-52 weights, yaw, pitch, roll
    viseme: int  # index into visemes.VISEME_NAMES
    speaking: bool  # within an utterance's audio span
    image: bytes | None = field(default=None, repr=False)  # encoded as SessionConfig.encoding
    width: int = 0
    height: int = 0

    @property
    def blendshapes(self) -> FloatArray:
        """(52,) float32 ARKit weights in motion.ARKIT_NAMES order."""
        return self.motion[BLENDSHAPES]

    @property
    def head_rotation(self) -> FloatArray:
        """(3,) float32 yaw, pitch, roll in radians."""
        return self.motion[HEAD]


@dataclass(frozen=True)
class Event:
    """Something that happened at ``pts_samples`` on the session timeline."""

    type: EventType
    pts_samples: int
    message: str = ""
