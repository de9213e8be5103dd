"""The audio performance mapper: streaming audio -> motion frames by few-step flow matching.

Role in the LPM design: the half of the model that turns the voice into motion. Modules:
``config`` (hyper-parameters), ``model`` (velocity network), ``flow`` (probability path, loss,
stateless ODE solver), ``state`` (32-frame state buffer), ``stream`` (``MotionStream``),
``io`` (checkpoint loading with typed errors).
"""

from lpm_bridge.mapper.config import MotionMapperConfig
from lpm_bridge.mapper.io import DEFAULT_MODEL_DIR, load_motion_model, save_motion_model
from lpm_bridge.mapper.model import AudioPerformanceMapper
from lpm_bridge.mapper.state import MotionCodec, StateBuffer
from lpm_bridge.mapper.stream import ChunkRequest, MotionStream, sample_batch

__all__ = [
    "DEFAULT_MODEL_DIR",
    "AudioPerformanceMapper",
    "ChunkRequest",
    "MotionCodec",
    "MotionMapperConfig",
    "MotionStream",
    "StateBuffer",
    "load_motion_model",
    "sample_batch",
    "save_motion_model",
]
