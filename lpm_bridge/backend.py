"""The model behind the runner: audio performance mapper + renderer + JPEG, as engine.Backend.

The one place the bridge touches the voice (lpm_bridge.mapper, visemes) and face
(lpm_bridge.renderer, frames) modules. ``motion`` and the render calls run in the runner's
worker thread; ``motion`` batches every session's chunk into one mapper call. With
``compute_processes`` the mapper's sampling and the pictures run in worker processes
(``compute_pool``), out of the reach of the daemon's GIL; otherwise in the calling thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from lpm_bridge.compute_pool import ComputePool
from lpm_bridge.motion import FloatArray
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
        pool: ComputePool | None = None,
    ) -> None:
        self.model = model  # lpm_bridge.mapper.MapperNet
        self.renderer = renderer  # lpm_bridge.renderer.Renderer
        self.name = name
        self.device = device
        self.pool = pool  # compute worker processes; None: compute in the calling thread

    @classmethod
    def load(
        cls, model_path: str | Path | None = None, device: str = "cpu", compute_processes: int = 0
    ) -> LPMBackend:
        """Load the mapper (``None``: shipped default, no network) and the renderer; start
        ``compute_processes`` compute workers (CPU only)."""
        from lpm_bridge.mapper import load_motion_net
        from lpm_bridge.renderer import Renderer

        if compute_processes and device != "cpu":
            raise ValueError("compute processes are for CPU serving")
        # Started first: the workers import torch and build their renderer while the model
        # loads here.
        path = None if model_path is None else str(model_path)
        pool = ComputePool(compute_processes, path) if compute_processes > 0 else None
        try:
            # Sampling needs only the plain-torch network (transformers' modeling code would
            # add ~135 MB and ~2.7 s to the daemon's start-up, as to each worker's).
            model = load_motion_net(model_path, device=device)
        except BaseException:
            if pool is not None:
                pool.close()
            raise
        name = (
            "lpm-motion (shipped default)" if model_path is None else f"lpm-motion ({model_path})"
        )
        return cls(model, Renderer(device=device), name=name, device=device, pool=pool)

    def preload(self, appearance: Any) -> None:
        """A new session's appearance to every compute worker, ahead of its first frame."""
        if self.pool is not None:
            self.pool.preload(appearance)

    def warm(self, appearances: Sequence[Any]) -> None:
        """The first motion and picture of every compute worker, at start-up (not a client's)."""
        if self.pool is not None:
            stream = self.new_stream(SessionConfig(sample_rate_hz=16000))
            stream.push_audio((np.sin(np.arange(8000) / 8.0) * 8000).astype(np.int16))
            self.pool.warm(appearances, [stream.prepare(2)])

    def close(self) -> None:
        """End the compute workers (if any)."""
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
        outs = self.pool.sample(requests) if self.pool else sample_batch(self.model, requests)
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
        from lpm_bridge.compute_pool import render_jpeg

        if self.pool is not None:
            return self.pool.render_jpeg(appearances, motion, quality)
        return render_jpeg(self.renderer, appearances, motion, quality)
