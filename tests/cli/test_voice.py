"""``lpm-bridge motion``: bake a motion track for a WAV; errors are typed and named."""

from pathlib import Path

import numpy as np
from scipy.io import wavfile

from lpm_bridge.cli import main
from lpm_bridge.motion import MotionTrack
from lpm_bridge.training.espeak import EspeakSynth


def _wav(path: Path, rate: int = 22050, stereo: bool = False) -> Path:
    utt = EspeakSynth.get().synth("Hello there.", "en-us", 175)
    audio = utt.audio if not stereo else np.stack([utt.audio, utt.audio], axis=1)
    wavfile.write(path, utt.sample_rate if rate == 22050 else rate, audio)
    return path


def test_motion_json_and_csv(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "a.wav")
    assert (
        main(["motion", "--audio", str(wav), "--out", str(tmp_path / "t.json"), "--seed", "3"]) == 0
    )
    track = MotionTrack.load(tmp_path / "t.json")
    rate, audio = wavfile.read(wav)
    assert track.fps == 25
    assert len(track.frames) == int(np.ceil(len(audio) * 25 / rate))
    assert (
        main(
            [
                "motion",
                "--audio",
                str(wav),
                "--out",
                str(tmp_path / "t.csv"),
                "--csv",
                "--fps",
                "60",
            ]
        )
        == 0
    )
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].startswith("time,eyeBlinkLeft")
    assert len(lines) == 1 + int(np.ceil(len(audio) * 60 / rate))


def test_motion_stereo_and_odd_rates(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "s.wav", rate=96000, stereo=True)
    assert main(["motion", "--audio", str(wav), "--out", str(tmp_path / "s.json")]) == 0


def test_motion_bad_input(tmp_path: Path, capsys: object) -> None:
    wav = _wav(tmp_path / "a.wav")
    assert (
        main(["motion", "--audio", str(wav), "--out", str(tmp_path / "x.json"), "--fps", "24"]) == 2
    )
    assert (
        main(["motion", "--audio", str(wav), "--out", str(tmp_path / "x.json"), "--steps", "0"])
        == 2
    )
    assert (
        main(["motion", "--audio", str(tmp_path / "none.wav"), "--out", str(tmp_path / "x.json")])
        == 2
    )
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEjunk")
    assert (
        main(["motion", "--audio", str(tmp_path / "bad.wav"), "--out", str(tmp_path / "x.json")])
        == 2
    )
    assert (
        main(
            [
                "motion",
                "--audio",
                str(wav),
                "--out",
                str(tmp_path / "x.json"),
                "--model",
                str(tmp_path),
            ]
        )
        == 2
    )


def test_train_motion_stages(tmp_path: Path) -> None:
    out = tmp_path / "model"
    args = ["train-motion", "--corpus", str(tmp_path / "corpus"), "--out", str(out)]
    sizes = ["--train-clips", "3", "--heldout-clips", "2", "--workers", "1"]
    sizes += ["--espeak-data", str(tmp_path / "no_mbrola")]  # formant voices: fast, hermetic
    assert main([*args, *sizes, "--minutes", "0.03", "--finetune-minutes", "0.02"]) == 0
    for stage in (tmp_path / "model_stage1", tmp_path / "model_stage2", out):
        assert (stage / "model.safetensors").is_file() and (stage / "train_log.jsonl").is_file()
    assert main([*args, "--minutes", "0"]) == 2
