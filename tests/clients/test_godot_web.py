"""The Godot demo in real Godot 4.6 (its official web build, headless Chromium) against a daemon.

The page is started before the daemon, so the NPC first meets no daemon at all, then one
that is loading: it must say so (error, UNAVAILABLE, retrying) and connect on its own. Then
the NPC registers its own face (RegisterAvatar) and the demo's checks (demo/demo.gd,
_run_checks) run: two lines queued at once, the second
heard right after the first and the first heard to its end, the game paused mid-line (the
voice and the face wait, then go on in sync); a third interrupted 1 s in,
after which the face is idle at once and keeps moving; every speech frame shown on time
on the audio clock; a rig-only NPC asks for FRAME_ENCODING_NONE and moves its mesh's
blend shapes (through a rig mapping) and its head. Finally the daemon restarts and the
NPC reconnects by itself.

Needs Chromium (Debian `chromium`) and npm (for the web build, godot_web.py); skipped
without them.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from godot_web import Chromium, build_pck, fetch_web_build, install_pack, project_files, serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from daemon_harness import Daemon

PORTRAIT = (
    Path(__file__).resolve().parents[2] / "lpm_bridge" / "assets" / "avatars" / "astronaut.png"
)
LINE_S = 5.16  # clients/godot/demo/sample_line.wav
PAUSE_S = 3.0  # demo.gd's PAUSE_S
FPS = 25

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian chromium"),
    pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm (the Godot web build)"),
]

Report = dict[str, object]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The web build with the demo's pack, ready to serve."""
    build = fetch_web_build(Path(tempfile.gettempdir()) / "lpm-godot-web")
    files = project_files(extra={"test/portrait.png": PORTRAIT.read_bytes()})
    return install_pack(build, build_pck(files), tmp_path_factory.mktemp("web") / "s")


@pytest.fixture
def ws_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def page(site: Path, ws_port: int) -> Iterator[Chromium]:
    with serve(site) as base:
        url = f"ws://127.0.0.1:{ws_port}/v1/perform"
        query = f"lpm_url={url}&lpm_checks=1&lpm_portrait=res://test/portrait.png"
        browser = Chromium(f"{base}/run.html?{query}")
        try:
            yield browser
        finally:
            browser.close()


def _events(reports: list[Report], kind: str) -> list[Report]:
    return [r for r in reports if r["event"] == kind]


def _t(reports: list[Report], kind: str, line: int) -> int:
    [found] = [r for r in reports if r["event"] == kind and r.get("line") == line]
    return int(str(found["t_ms"]))


@pytest.mark.timeout(240)
def test_demo_in_godot_web(page: Chromium, ws_port: int, tmp_path: Path) -> None:
    # No daemon yet: the failure is loud and retried, not a silent success.
    [first_error] = page.reports_until("error", timeout=60)[-1:]
    assert first_error["status_code"] == 14, first_error
    assert "retrying" in str(first_error["message"]), first_error

    daemon = Daemon(tmp_path / "avatars", "--ws-port", str(ws_port))
    try:
        reports = page.reports_until("done", timeout=150)
        _check_lines(reports)
        _check_interrupt(reports)
        [rig] = _events(reports, "rig")
        assert rig["encoding"] == "FRAME_ENCODING_NONE" and not rig["texture"], rig
        assert float(str(rig["mouth_open_max"])) > 0.1 and rig["head_turned"], rig

        # A restart: the session is lost (loudly) and comes back by itself.
        daemon.stop()
        lost = page.reports_until("error", timeout=30)[-1]
        assert lost["status_code"] == 14 and "retrying" in str(lost["message"]), lost
        daemon = Daemon(tmp_path / "avatars", "--ws-port", str(ws_port))
        page.reports_until("connected", timeout=90)
    finally:
        daemon.stop()


def _check_lines(reports: list[Report]) -> None:
    """Two lines queued at once: both heard whole, the second right after the first."""
    # The NPC's own face was registered (RegisterAvatar: the reply read, then the close)
    # and its session uses it.
    [connected] = _events(reports, "connected")
    assert connected["avatar_id"] not in ("", "default"), connected
    start1, end1 = _t(reports, "speaking_started", 1), _t(reports, "speaking_ended", 1)
    start2, end2 = _t(reports, "speaking_started", 2), _t(reports, "speaking_ended", 2)
    # Heard whole (a cut line would end at once, when the second arrived), give or take a
    # few display frames (the signals come on them: ~100 ms each on a busy software
    # display), longer when the browser's audio starves (the clock waits for the sound).
    assert LINE_S - 0.6 < (end1 - start1) / 1000 < LINE_S + 2, (start1, end1)
    # The game paused for PAUSE_S in the middle of line 2: the voice waited, then went on.
    assert LINE_S + PAUSE_S - 0.6 < (end2 - start2) / 1000 < LINE_S + PAUSE_S + 2, (start2, end2)
    assert 0 <= start2 - end1 < 150, (end1, start2)  # queued: not cut, no gap
    for stats in _events(reports, "stats"):
        # Every speech frame on time: the one shown is at most a frame period behind the
        # heard position (plus a display frame of slack for a slow software renderer).
        assert stats["stale_display_frames"] == 0, stats
        assert float(str(stats["max_lag_ms"])) <= 1000 / FPS + 25, stats
    # A display slower than 25 fps (software WebGL on a busy machine) skips frames; the
    # ones it shows are on time (above).
    assert int(str(_events(reports, "stats")[-1]["speech_frames_shown"])) > LINE_S * FPS / 2
    assert all(r["texture"] for r in _events(reports, "frames")), "no picture was shown"


def _check_interrupt(reports: list[Report]) -> None:
    """The third line, interrupted: dropped at once, the face idle and moving again."""
    assert _t(reports, "speaking_interrupted", 3) <= _t(reports, "interrupt", 3)
    assert not [r for r in reports if r["event"] == "speaking_ended" and r.get("line") == 3]
    at = _t(reports, "interrupt", 3)
    after = [r for r in _events(reports, "frames") if int(str(r["t_ms"])) > at]
    assert len(after) >= 3, f"the face froze after the interrupt: {after}"
    assert int(str(after[0]["t_ms"])) - at < 1500, after[0]
    pts = [int(str(r["pts"])) for r in after]
    assert pts == sorted(pts) and pts[-1] > pts[0], pts
    assert not [r for r in after if r["speaking"]], "a frame of the dropped line was shown"
