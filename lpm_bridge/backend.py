"""The model behind the runner: audio performance mapper + renderer + JPEG, as engine.Backend.

The one place the bridge touches the voice (lpm_bridge.mapper, visemes) and face
(lpm_bridge.renderer, frames) modules. ``motion`` and the render calls run in the runner's
worker thread; ``motion`` batches every session's chunk into one mapper call. With
``render_processes`` the pictures are made in worker processes (``render_pool``), out of
the reach of the daemon's GIL; otherwise in the calling thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from lpm_bridge.motion import FloatArray
from lpm_bridge.render_pool import RenderPool
from lpm_bridge.session import Job
from lpm_bridge.session_types import SessionConfig

UInt8Array = npt.NDArray[np.uint8]


class LPMBackend:
    """engine.Backend over the shipped (or a given) mapper checkpoint and the renderer."""

    def __init__(
        self,
        model: Any,
        renderer: Any,
        *,
        name: str,
        device: str = "cpu",
        pool: RenderPool | None = None,
    ) -> None:
        self.model = model  # lpm_bridge.mapper.AudioPerformanceMapper
        self.renderer = renderer  # lpm_bridge.renderer.Renderer
        self.name = name
        self.device = device
        self.pool = pool  # render worker processes; None: render in the calling thread

    @classmethod
    def load(
        cls, model_path: str | Path | None = None, device: str = "cpu", render_processes: int = 0
    ) -> LPMBackend:
        """Load the mapper (``None``: shipped default, no network) and the renderer; start
        ``render_processes`` render workers (CPU only)."""
        from lpm_bridge.mapper import load_motion_model
        from lpm_bridge.renderer import Renderer

        if render_processes and device != "cpu":
            raise ValueError("render processes are for CPU rendering")
        # Started first: the workers import torch and build their renderer while the model
        # loads here.
        pool = RenderPool(render_processes) if render_processes > 0 else None
        try:
            model = load_motion_model(model_path, device=device)
        except BaseException:
            if pool is not None:
                pool.close()
            raise
        name = (
            "lpm-motion (shipped default)" if model_path is None else f"lpm-motion ({model_path})"
        )
        return cls(model, Renderer(device=device), name=name, device=device, pool=pool)

    def warm(self, appearance: Any) -> None:
        """Make the first picture in every render worker (start-up, not a client's call)."""
        if self.pool is not None:
            self.pool.warm(appearance)

    def close(self) -> None:
        """End the render workers (if any)."""
        if self.pool is not None:
            self.pool.close()

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
        if self.pool is not None:
            return self.pool.render(appearances, motion)
        out: UInt8Array = self.renderer.render_batch(list(appearances), motion)
        return out

    def render_jpeg(
        self, appearances: Sequence[Any], motion: FloatArray, quality: Sequence[int]
    ) -> list[bytes]:
        from lpm_bridge.render_pool import render_jpeg

        if self.pool is not None:
            return self.pool.render_jpeg(appearances, motion, quality)
        return render_jpeg(self.renderer, appearances, motion, quality)
