"""The model behind the runner: audio performance mapper + renderer + JPEG, as engine.Backend.

The one place the bridge touches the voice (lpm_bridge.mapper, visemes) and face
(lpm_bridge.renderer, frames) modules. ``motion`` and the render calls run in the runner's
worker thread; ``motion`` batches every session's chunk into one mapper call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from lpm_bridge.motion import FloatArray
from lpm_bridge.session import Job
from lpm_bridge.session_types import SessionConfig

UInt8Array = npt.NDArray[np.uint8]


class LPMBackend:
    """engine.Backend over the shipped (or a given) mapper checkpoint and the renderer."""

    def __init__(self, model: Any, renderer: Any, *, name: str, device: str = "cpu") -> None:
        self.model = model  # lpm_bridge.mapper.AudioPerformanceMapper
        self.renderer = renderer  # lpm_bridge.renderer.Renderer
        self.name = name
        self.device = device

    @classmethod
    def load(cls, model_path: str | Path | None = None, device: str = "cpu") -> LPMBackend:
        """Load the mapper (``None``: shipped default, no network) and the renderer."""
        from lpm_bridge.mapper import load_motion_model
        from lpm_bridge.renderer import Renderer

        model = load_motion_model(model_path, device=device)
        name = (
            "lpm-motion (shipped default)" if model_path is None else f"lpm-motion ({model_path})"
        )
        return cls(model, Renderer(device=device), name=name, device=device)

    def new_stream(self, config: SessionConfig) -> Any:
        from lpm_bridge.mapper import MotionStream

        return MotionStream(
            self.model,
            sample_rate=config.sample_rate_hz,
            fps=config.fps,
            num_steps=config.inference_steps,
            seed=config.seed,
            lookahead_ms=config.lookahead_ms,
        )

    def motion(self, jobs: Sequence[Job]) -> list[FloatArray]:
        from lpm_bridge.mapper import sample_batch

        streams = [cast(Any, job.session.stream) for job in jobs]
        requests = [s.prepare(job.n) for s, job in zip(streams, jobs, strict=True)]
        outs = sample_batch(self.model, requests)
        return [s.commit(r, o) for s, r, o in zip(streams, requests, outs, strict=True)]

    def visemes(self, motion: FloatArray) -> npt.NDArray[np.int64]:
        from lpm_bridge.visemes import visemes_from_motion

        return visemes_from_motion(motion)

    def render(self, appearances: Sequence[Any], motion: FloatArray) -> UInt8Array:
        out: UInt8Array = self.renderer.render_batch(list(appearances), motion)
        return out

    def render_jpeg(
        self, appearances: Sequence[Any], motion: FloatArray, quality: Sequence[int]
    ) -> list[bytes]:
        from lpm_bridge.frames import encode_jpeg_420

        planes = self.renderer.render_batch_ycbcr420(list(appearances), motion)
        files: list[bytes] = []
        start = 0
        while start < len(quality):  # one encoder call per run of one quality
            end = start + 1
            while end < len(quality) and quality[end] == quality[start]:
                end += 1
            files += encode_jpeg_420(planes[start:end], quality[start])
            start = end
        return files
