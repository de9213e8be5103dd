"""Small fakes for bridge tests: a virtual clock, a motion stream and a backend with no model.

``FakeStream`` follows MotionStream's timeline contract (lpm_bridge/mapper/stream.py): frame k
is ready once audio through pts(k) + lookahead is pushed; ``flush`` pads just enough silence;
``drop_pending_audio`` cuts the timeline at the next frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lpm_bridge.motion import CH, NUM_CHANNELS
from lpm_bridge.session import Job, LiveSession
from lpm_bridge.session_types import SessionConfig, Timeline


class VirtualClock:
    """A clock that moves only when told to (livekit's virtual-time idea)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeStream:
    def __init__(self, sample_rate: int, fps: int, lookahead_ms: int = 80) -> None:
        self.tl = Timeline(sample_rate, fps)
        self.look = sample_rate * lookahead_ms // 1000
        self.samples_pushed = 0
        self.frames_done = 0
        self.loud = np.zeros(0, dtype=bool)  # per pushed sample: non-silent?

    @property
    def frames_ready(self) -> int:
        x = self.samples_pushed - self.look
        return max(0, self.tl.frame_at_or_after(x + 1) - self.frames_done) if x >= 0 else 0

    def push_audio(self, pcm: Any) -> None:
        pcm = np.asarray(pcm)
        self.loud = np.concatenate([self.loud, pcm != 0])
        self.samples_pushed += len(pcm)

    def flush(self) -> int:
        self.push_audio(np.zeros(self.look + 1, dtype=np.int16))
        return self.look + 1

    def drop_pending_audio(self) -> int:
        cut = self.tl.pts(self.frames_done)
        dropped = max(0, self.samples_pushed - cut)
        self.samples_pushed -= dropped
        self.loud = self.loud[: self.samples_pushed]
        return dropped

    def generate(self, n: int) -> np.ndarray:
        assert 1 <= n <= self.frames_ready, (n, self.frames_ready)
        out = np.zeros((n, NUM_CHANNELS), dtype=np.float32)
        for i in range(n):
            pts = self.tl.pts(self.frames_done + i)
            out[i, CH["jawOpen"]] = float(self.loud[pts]) if pts < len(self.loud) else 0.0
        self.frames_done += n
        return out


class FakeBackend:
    """Backend protocol (engine.py) without a network: jawOpen = 1 where the audio is non-zero."""

    name = "fake"
    device = "cpu"

    def __init__(self, lookahead_ms: int = 80) -> None:
        self.lookahead_ms = lookahead_ms
        self.batches: list[int] = []  # sessions per motion() call

    def new_stream(self, config: SessionConfig) -> FakeStream:
        return FakeStream(config.sample_rate_hz, config.fps, self.lookahead_ms)

    def motion(self, jobs: Sequence[Job]) -> list[np.ndarray]:
        self.batches.append(len(jobs))
        return [job.session.stream.generate(job.n) for job in jobs]  # type: ignore[attr-defined]

    def visemes(self, motion: np.ndarray) -> np.ndarray:
        return (motion[:, CH["jawOpen"]] > 0.5).astype(np.int64) * 10

    def render(self, appearances: Sequence[Any], motion: np.ndarray) -> np.ndarray:
        size = 8
        out = np.zeros((len(motion), size, size, 3), dtype=np.uint8)
        out[..., 0] = (motion[:, CH["jawOpen"]] * 255).astype(np.uint8)[:, None, None]
        return out

    def render_jpeg(
        self, appearances: Sequence[Any], motion: np.ndarray, quality: Sequence[int]
    ) -> list[bytes]:
        return [b"JPEG" + f.tobytes()[:4] for f in self.render(appearances, motion)]


def make_session(
    sample_rate: int = 16000,
    fps: int = 25,
    *,
    clock: VirtualClock,
    backend: FakeBackend | None = None,
    outbox_frames: int = 64,
    **config: Any,
) -> LiveSession:
    backend = backend or FakeBackend()
    cfg = SessionConfig(sample_rate_hz=sample_rate, fps=fps, **config)
    return LiveSession(
        cfg, backend.new_stream(cfg), appearance="face", clock=clock, outbox_frames=outbox_frames
    )
