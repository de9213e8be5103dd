"""``lpm-bridge animate`` and ``lpm-bridge avatar inspect``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lpm_bridge.cli import main
from lpm_bridge.motion import CH, MotionTrack, neutral
from lpm_bridge.video import read_mp4_info


def _track(path: Path, n: int = 20, fps: int = 25) -> Path:
    m = neutral(n)
    m[:, CH["jawOpen"]] = np.linspace(0, 1, n)
    m[n // 2, CH["eyeBlinkLeft"]] = m[n // 2, CH["eyeBlinkRight"]] = 1.0
    MotionTrack(fps=fps, frames=m).save(path)
    return path


def test_animate_writes_watchable_mp4(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert main(["animate", "--motion", str(_track(tmp_path / "t.json")), "--out", str(out)]) == 0
    info = read_mp4_info(out)
    assert info["video_codec"] == "h264" and info["frames"] == 20
    assert (info["width"], info["height"]) == (256, 256) and info["fps"] == pytest.approx(25)


def test_animate_resamples_fps_and_size(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    args = [
        "animate",
        "--motion",
        str(_track(tmp_path / "t.json")),
        "--out",
        str(out),
        "--fps",
        "50",
        "--size",
        "512",
    ]
    assert main(args) == 0
    info = read_mp4_info(out)
    assert info["frames"] == 40 and info["width"] == 512


def test_inspect_draws_landmarks(tmp_path: Path) -> None:
    out = tmp_path / "overlay.png"
    assert main(["avatar", "inspect", "--out", str(out)]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (512, 512, 3)
    # Mouth landmarks are drawn in pure-ish red/magenta: present near the mouth.
    red = (img[..., 0] > 230) & (img[..., 1] < 90)
    assert red.sum() > 50


def test_errors_exit_2_with_actionable_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track = _track(tmp_path / "t.json")
    assert (
        main(
            [
                "animate",
                "--image",
                str(tmp_path / "nope.png"),
                "--motion",
                str(track),
                "--out",
                "x.mp4",
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    txt = tmp_path / "notimage.png"
    txt.write_text("hello")
    assert main(["avatar", "inspect", "--image", str(txt), "--out", str(tmp_path / "o.png")]) == 2
    assert "not an image" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"fps": 25, "frames": [[0.5, 0.5]]}')
    assert main(["animate", "--motion", str(bad), "--out", str(tmp_path / "b.mp4")]) == 2
    assert "55 channels" in capsys.readouterr().err
