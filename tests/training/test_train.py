"""The training loop end to end on a tiny corpus: it runs, logs, saves a loadable checkpoint."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lpm_bridge.mapper import MotionStream, load_motion_model
from lpm_bridge.training.corpus import build_corpus
from lpm_bridge.training.train import TrainOptions, train

pytestmark = pytest.mark.slow


def test_tiny_training_run(tmp_path: Path) -> None:
    build_corpus(tmp_path / "corpus", n_train=4, n_heldout=2, seed=3, workers=1)
    opts = TrainOptions(
        tmp_path / "corpus", tmp_path / "model", minutes=0.1, batch_size=8, log_every=5,
        save_every=20, d_model=32, n_layers=1,
    )  # fmt: skip
    out = train(opts)
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["done"] and log[-1]["steps"] > 5
    assert all(np.isfinite(r["loss"]) for r in log if "loss" in r)
    model = load_motion_model(out)
    assert model.config.mouth_temperature == opts.mouth_temperature
    assert model.config.state_prefix  # new checkpoints cache the state across ODE steps
    stream = MotionStream(model, 16000)
    stream.push_audio(np.zeros(8000, dtype=np.int16))
    assert stream.generate(4).shape == (4, 55)
    # stage 2 fine-tunes from the stage-1 checkpoint
    out2 = train(replace(opts, out=tmp_path / "ft", minutes=0.05, init=out))
    tuned = load_motion_model(out2)
    assert tuned.config.motion_mean == model.config.motion_mean and tuned.config.state_prefix
