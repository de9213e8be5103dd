"""Shared test settings: one torch thread per test process keeps CI on 2 cores predictable."""

import torch

torch.set_num_threads(1)
