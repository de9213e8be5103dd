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


def test_key_visemes_weigh_more_in_the_loss() -> None:
    from lpm_bridge.training.train import KEY_VISEME_WEIGHT, Corpus, _frame_weights
    from lpm_bridge.visemes import SILENCE, VISEME

    visemes = np.full(100, SILENCE, dtype=np.int8)
    visemes[50:53] = VISEME["PP"]  # a /p/ at 0.50-0.53 s
    visemes[80:85] = VISEME["aa"]
    corpus = Corpus(
        np.zeros((100, 40), np.float32),
        np.zeros((100, 25), np.float32),
        np.array([0, 100]),
        visemes,
    )
    lo = np.array([[40, 48, 50, 52, 60, 80]])  # 10 ms frames of six motion frames
    w = _frame_weights(corpus, np.array([[0]]), lo, np.array([[99]]))
    # frames at or just before the /p/ (the lips lead the sound) weigh more; others 1
    assert w.tolist() == [[1.0, KEY_VISEME_WEIGHT, KEY_VISEME_WEIGHT, KEY_VISEME_WEIGHT, 1.0, 1.0]]
