"""The audio performance mapper: streaming audio -> motion frames by few-step flow matching.

Role in the LPM design: the half of the model that turns the voice into motion. Modules:
``config`` (hyper-parameters), ``net`` (velocity network, plain torch), ``model`` (the same as
a ``transformers`` PreTrainedModel, for training and checkpoints), ``flow`` (probability path, loss,
stateless ODE solver), ``state`` (32-frame state buffer), ``stream`` (``MotionStream``),
``io`` (checkpoint loading with typed errors).
"""

from typing import TYPE_CHECKING, Any

from lpm_bridge.mapper.config import MotionMapperConfig
from lpm_bridge.mapper.io import (
    DEFAULT_MODEL_DIR,
    load_motion_model,
    load_motion_net,
    save_motion_model,
)
from lpm_bridge.mapper.net import MapperNet
from lpm_bridge.mapper.state import MotionCodec, StateBuffer
from lpm_bridge.mapper.stream import ChunkRequest, MotionStream, sample_batch

if TYPE_CHECKING:
    from lpm_bridge.mapper.model import AudioPerformanceMapper


def __getattr__(name: str) -> Any:
    """``AudioPerformanceMapper`` on first use: importing it imports transformers'
    modeling code (~135 MB, ~2.7 s), which the compute processes never need."""
    if name == "AudioPerformanceMapper":
        from lpm_bridge.mapper.model import AudioPerformanceMapper

        return AudioPerformanceMapper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL_DIR",
    "AudioPerformanceMapper",
    "ChunkRequest",
    "MapperNet",
    "MotionCodec",
    "MotionMapperConfig",
    "MotionStream",
    "StateBuffer",
    "load_motion_model",
    "load_motion_net",
    "sample_batch",
    "save_motion_model",
]
