"""``lpm-bridge avatar register | list | delete`` against a daemon over a real socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_harness import Daemon

from lpm_bridge.appearance import default_avatar_image
from lpm_bridge.cli import main


def test_register_list_delete(
    daemon: Daemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    portrait = tmp_path / "npc.png"
    portrait.write_bytes(default_avatar_image())
    server = ["--server", daemon.target]

    assert main(["avatar", "register", "--image", str(portrait), "--name", "Ada", *server]) == 0
    registered = json.loads(capsys.readouterr().out)
    assert registered["name"] == "Ada" and len(registered["content_sha256"]) == 64
    assert registered["sizes"] == [256]
    # --sizes prepares 512 as well (same bytes: same avatar, one more encoding)
    args = ["avatar", "register", "--image", str(portrait), "--sizes", "256", "512", *server]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["sizes"] == [256, 512]

    assert main(["avatar", "list", *server]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed[0]["builtin"] and listed[0]["id"] == "default"
    assert registered["id"] in [a["id"] for a in listed]

    assert main(["avatar", "delete", registered["id"], *server]) == 0
    capsys.readouterr()
    assert main(["avatar", "delete", registered["id"], *server]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err

    assert main(["avatar", "register", "--image", str(tmp_path / "missing.png"), *server]) == 2
    assert "--image" in capsys.readouterr().err
