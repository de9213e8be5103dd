"""The offline pipeline: a whole clip in, chunks of frames out, through the same LiveSession.

``LPMPipeline.from_pretrained()`` loads the shipped model with no network;
``pipe.stream(image=..., audio=...)`` yields ``PipelineChunk``s the way diffusers-style
pipelines do. Under it is exactly the session the daemon runs, driven synchronously
with a frozen clock (no idle time passes, so the clip is rendered as fast as possible)
by the runner's own FrameWorker. ``lpm-bridge render`` is a thin CLI over it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lpm_bridge.audio import read_wav, to_pcm16
from lpm_bridge.engine import Backend, FrameWorker
from lpm_bridge.errors import AudioError
from lpm_bridge.motion import FloatArray
from lpm_bridge.outbox import OutboxClosed
from lpm_bridge.session import LiveSession, Pcm
from lpm_bridge.session_types import Encoding, Event, Frame, SessionConfig

UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class PipelineChunk:
    """Consecutive frames of a clip."""

    frames: UInt8Array  # (n, H, W, 3) uint8 RGB
    motion: FloatArray  # (n, 55) float32: ARKit-52 weights, yaw, pitch, roll
    pts_samples: npt.NDArray[np.int64]  # (n,) position of each frame in input samples
    speaking: npt.NDArray[np.bool_]  # (n,)
    visemes: npt.NDArray[np.int64]  # (n,) indices into visemes.VISEME_NAMES
    events: tuple[Event, ...]  # events due before the last frame of this chunk


class _FrozenClock:
    def now(self) -> float:
        return 0.0


class LPMPipeline:
    """The whole model behind one call: portrait + speech -> frames (see module docstring)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.worker = FrameWorker(backend)

    @classmethod
    def from_pretrained(
        cls, path_or_default: str | Path | None = "default", device: str = "cpu"
    ) -> LPMPipeline:
        """Load a mapper checkpoint directory, or the shipped one for ``"default"`` / None."""
        from lpm_bridge.backend import LPMBackend

        path = None if path_or_default in (None, "default") else Path(str(path_or_default))
        return cls(LPMBackend.load(path, device=device))

    def stream(
        self,
        image: Any,
        audio: str | Path | np.ndarray,
        *,
        sample_rate: int | None = None,
        chunk_size: int = 16,
        num_inference_steps: int = 4,
        generator: Any = None,
        size: int = 256,
        fps: int = 25,
    ) -> Iterator[PipelineChunk]:
        """Yield the clip's frames in chunks of ``chunk_size``.

        ``image``: portrait bytes or path, or an encoded ``Appearance``. ``audio``: a WAV path,
        or samples (int16, or float in [-1, 1]) with ``sample_rate``. ``generator``: a seeded
        ``torch.Generator`` (its initial seed seeds the motion sampler).
        """
        pcm, rate = self._audio(audio, sample_rate)
        seed = int(generator.initial_seed()) % (2**62) if generator is not None else 0
        cfg = SessionConfig(
            sample_rate_hz=rate,
            fps=fps,
            size=size,
            encoding=Encoding.RGB8,
            seed=seed,
            inference_steps=num_inference_steps,
        ).validated()
        session = LiveSession(
            cfg,
            self.backend.new_stream(cfg),
            appearance=self._appearance(image, size),
            clock=_FrozenClock(),
            outbox_frames=max(chunk_size, 1) * 2,
        )
        session.begin()
        session.push_audio(pcm)
        session.finish()
        total = session.timeline.frame_at_or_after(len(pcm))  # frames whose time lies in the clip
        done = 0
        while done < total:
            session.tick()
            n = session.plan(min(chunk_size, total - done))
            if n == 0:
                break
            job = session.make_job(n)
            session.deliver(job, self.worker.compute([job])[0])
            yield self._chunk(session, size)
            done += n
        session.close()

    def __call__(self, image: Any, audio: str | Path | np.ndarray, **kwargs: Any) -> PipelineChunk:
        """The whole clip as one chunk."""
        parts = list(self.stream(image, audio, **kwargs))
        return PipelineChunk(
            frames=np.concatenate([p.frames for p in parts]),
            motion=np.concatenate([p.motion for p in parts]),
            pts_samples=np.concatenate([p.pts_samples for p in parts]),
            speaking=np.concatenate([p.speaking for p in parts]),
            visemes=np.concatenate([p.visemes for p in parts]),
            events=tuple(e for p in parts for e in p.events),
        )

    @staticmethod
    def _audio(audio: str | Path | np.ndarray, sample_rate: int | None) -> tuple[Pcm, int]:
        if isinstance(audio, str | Path):
            return read_wav(audio)
        if sample_rate is None:
            raise AudioError("sample_rate is required with raw audio samples", field="sample_rate")
        return to_pcm16(np.asarray(audio)), sample_rate

    @staticmethod
    def _appearance(image: Any, size: int) -> Any:
        if isinstance(image, bytes | str | Path):
            from lpm_bridge.appearance import encode_appearance

            return encode_appearance(image, size=size)
        return image

    @staticmethod
    def _chunk(session: LiveSession, size: int) -> PipelineChunk:
        frames: list[Frame] = []
        events: list[Event] = []
        try:
            while (item := session.outbox.get_nowait()) is not None:
                if isinstance(item, Frame):
                    frames.append(item)
                else:
                    events.append(item)
        except OutboxClosed:
            pass  # the session finished with this chunk
        pictures = [np.frombuffer(f.image or b"", np.uint8).reshape(size, size, 3) for f in frames]
        return PipelineChunk(
            frames=np.stack(pictures) if pictures else np.zeros((0, size, size, 3), np.uint8),
            motion=np.stack([f.motion for f in frames]),
            pts_samples=np.array([f.pts_samples for f in frames], dtype=np.int64),
            speaking=np.array([f.speaking for f in frames], dtype=bool),
            visemes=np.array([f.viseme for f in frames], dtype=np.int64),
            events=tuple(events),
        )
