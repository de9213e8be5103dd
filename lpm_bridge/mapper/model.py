"""The audio performance mapper's velocity network as a ``transformers`` PreTrainedModel.

Role in the LPM design: the form of the network that is trained and saved. ``config.json`` +
``model.safetensors`` come from ``save_pretrained``; the layers and all of the maths are
``net.MapperNet``'s (same parameter names), so a checkpoint loads into either. Sampling code
takes any ``MapperNet``; the daemon's compute processes load the plain one.
"""

from __future__ import annotations

from torch import nn
from transformers import PreTrainedModel

from lpm_bridge.mapper.config import MotionMapperConfig
from lpm_bridge.mapper.net import INIT_STD, ChunkCondition, MapperNet, time_features

__all__ = ["AudioPerformanceMapper", "ChunkCondition", "time_features"]


class AudioPerformanceMapper(MapperNet, PreTrainedModel):
    """``MapperNet`` with ``transformers``' weight init, ``save_pretrained`` and hub mixins."""

    config_class = MotionMapperConfig
    config: MotionMapperConfig
    base_model_prefix = "mapper"
    main_input_name = "x_t"

    def __init__(self, config: MotionMapperConfig) -> None:
        # PreTrainedModel's own __init__ (not MapperNet's): it sets ``config`` and initialises
        # the nn.Module; then the layers, then transformers' weight init (``_init_weights``).
        PreTrainedModel.__init__(self, config)  # type: ignore[no-untyped-call]
        self._build_layers(config)
        self.post_init()  # type: ignore[no-untyped-call]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=INIT_STD)
        elif isinstance(module, MapperNet):
            nn.init.normal_(module.state_pos, std=INIT_STD)
            nn.init.normal_(module.chunk_pos, std=INIT_STD)
