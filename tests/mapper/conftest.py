"""Tiny random mappers for unit tests (the shipped weights are for end-to-end tests)."""

import pytest
import torch

from lpm_bridge.mapper import AudioPerformanceMapper, MotionMapperConfig


def tiny_config() -> MotionMapperConfig:
    return MotionMapperConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, audio_hidden=16)


@pytest.fixture
def tiny_model() -> AudioPerformanceMapper:
    torch.manual_seed(0)
    return AudioPerformanceMapper(tiny_config()).eval()
