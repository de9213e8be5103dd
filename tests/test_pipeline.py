"""LPMPipeline and ``lpm-bridge render`` with the shipped weights (no network)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from lpm_bridge.cli import main
from lpm_bridge.pipeline import LPMPipeline
from lpm_bridge.session_types import EventType

SR = 16000


def voice(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR))
    env = (np.sin(2 * np.pi * 3 * t / SR) > -0.3).astype(np.float32)
    return (np.sign(np.sin(2 * np.pi * 180 * t / SR)) * env * 6000).astype(np.int16)


@pytest.fixture(scope="module")
def pipe() -> LPMPipeline:
    return LPMPipeline.from_pretrained()


@pytest.fixture(scope="module")
def face(pipe: LPMPipeline) -> object:
    from lpm_bridge.appearance import default_avatar_image, encode_appearance

    return encode_appearance(default_avatar_image(), size=256)


def test_stream_yields_chunks_of_frames(pipe: LPMPipeline, face: object) -> None:
    audio = voice(1.3)
    chunks = list(
        pipe.stream(
            face, audio, sample_rate=SR, chunk_size=8, generator=torch.Generator().manual_seed(42)
        )
    )
    assert [len(c.frames) for c in chunks][:-1] == [8] * (len(chunks) - 1)
    frames = np.concatenate([c.frames for c in chunks])
    pts = np.concatenate([c.pts_samples for c in chunks])
    assert frames.shape == (33, 256, 256, 3) and frames.dtype == np.uint8  # ceil(1.3 * 25)
    assert (pts == np.arange(33) * SR // 25).all()
    events = [e.type for c in chunks for e in c.events]
    assert events == [EventType.UTTERANCE_START, EventType.UTTERANCE_END]
    # the same generator seed and chunking give the same performance
    again = pipe(
        face, audio, sample_rate=SR, chunk_size=8, generator=torch.Generator().manual_seed(42)
    )
    assert np.array_equal(again.motion, np.concatenate([c.motion for c in chunks]))


def test_render_cli_writes_mp4_with_audio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, out = tmp_path / "a.wav", tmp_path / "a.mp4"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(voice(1.0).tobytes())
    assert main(["render", "--audio", str(wav), "--out", str(out), "--seed", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 25
    from lpm_bridge.video import read_mp4_info

    info = read_mp4_info(out)
    assert info["frames"] == 25 and info["audio_codec"] == "aac"


def test_render_cli_rejects_a_bad_wav(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    assert main(["render", "--audio", str(bad), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "--audio" in capsys.readouterr().err
