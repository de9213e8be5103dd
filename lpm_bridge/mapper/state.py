"""The latent state buffer of the audio performance mapper, and the motion <-> model-space codec.

Role in the LPM design: the mapper is conditioned on the last ``STATE_FRAMES`` = 32 motion frames
it produced, held here in a fixed-size, immutable buffer. Each generated chunk is appended and the
buffer is trimmed back to the last 32 frames (``frames[-32:]``), so memory and time per chunk stay
constant however long the stream runs. A new stream starts from the rest pose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from lpm_bridge.errors import MotionError
from lpm_bridge.mapper.config import MotionMapperConfig
from lpm_bridge.motion import BLENDSHAPES, CH, HEAD, MAX_HEAD_ANGLE, NUM_CHANNELS

FloatArray = npt.NDArray[np.float32]
# Just inside MAX_HEAD_ANGLE, so decoded frames validate even after JSON rounds them to 5 places.
HEAD_LIMIT: Final[float] = MAX_HEAD_ANGLE - 2e-5


@dataclass(frozen=True)
class MotionCodec:
    """Maps 55-channel motion frames to the normalised active channels the network models."""

    index: npt.NDArray[np.int64]  # (D,) channel index of each active channel
    mean: FloatArray  # (D,)
    std: FloatArray  # (D,)
    rest: FloatArray  # (55,)

    @classmethod
    def from_config(cls, config: MotionMapperConfig) -> MotionCodec:
        return cls(
            index=np.array([CH[c] for c in config.active_channels], dtype=np.int64),
            mean=np.asarray(config.motion_mean, dtype=np.float32),
            std=np.asarray(config.motion_std, dtype=np.float32),
            rest=np.asarray(config.rest_pose, dtype=np.float32),
        )

    def encode(self, frames: FloatArray) -> FloatArray:
        """(T, 55) motion -> (T, D) normalised model space."""
        return ((frames[:, self.index] - self.mean) / self.std).astype(np.float32)

    def decode(self, x: FloatArray) -> FloatArray:
        """(T, D) model space -> (T, 55) valid motion (weights clipped to [0, 1], head bounded)."""
        out = np.repeat(self.rest[None, :], len(x), axis=0)
        out[:, self.index] = x * self.std + self.mean
        out[:, BLENDSHAPES] = np.clip(out[:, BLENDSHAPES], 0.0, 1.0)
        out[:, HEAD] = np.clip(out[:, HEAD], -HEAD_LIMIT, HEAD_LIMIT)
        return out.astype(np.float32)


@dataclass(frozen=True)
class StateBuffer:
    """The last ``size`` motion frames in model space, oldest first: ``frames`` (S, D)."""

    frames: Tensor

    @classmethod
    def rest(cls, config: MotionMapperConfig) -> StateBuffer:
        """A buffer filled with the rest pose: how every stream starts."""
        codec = MotionCodec.from_config(config)
        rest = codec.encode(codec.rest[None, :])  # (1, D)
        return cls(torch.from_numpy(np.repeat(rest, config.state_frames, axis=0)))

    @property
    def size(self) -> int:
        return int(self.frames.shape[0])

    def push(self, new: Tensor) -> StateBuffer:
        """Append (n, D) frames, keep the last ``size``: a new buffer of the same shape."""
        if new.dim() != 2 or new.shape[1] != self.frames.shape[1]:
            raise MotionError(
                f"state update must be (n, {self.frames.shape[1]}), got {tuple(new.shape)}",
                field="state",
            )
        return StateBuffer(torch.cat([self.frames, new.to(self.frames.dtype)])[-self.size :])


def assert_motion_width(frames: FloatArray) -> None:
    """Raise MotionError unless ``frames`` is (T, 55)."""
    if frames.ndim != 2 or frames.shape[1] != NUM_CHANNELS:
        raise MotionError(f"motion must be (T, {NUM_CHANNELS}), got {frames.shape}", field="frames")
