"""`lpm-bridge serve`'s per-call limits: the defaults docs/protocol.md lists, and bad values
refused by flag name before anything loads."""

import pytest

from lpm_bridge.cli import build_parser, main
from lpm_bridge.server.servicer import ServerLimits


def test_defaults_match_the_server_limits() -> None:
    args = build_parser().parse_args(["serve"])
    lim = ServerLimits()
    # 20 sessions: what 2 cores serve on time at 256 (16-20 on time, 28 not; docs/performance.md)
    assert args.max_sessions == lim.max_sessions == 20
    assert args.config_timeout == lim.config_timeout_s == 10.0
    assert args.idle_timeout == lim.idle_timeout_s == 300.0
    assert args.max_pending_audio == lim.max_pending_audio_s == 30.0


@pytest.mark.parametrize("flag", ["--config-timeout", "--idle-timeout", "--max-pending-audio"])
def test_a_timeout_of_zero_is_refused_by_name(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", flag, "0"]) == 2
    err = capsys.readouterr().err
    assert f"[{flag}]" in err and "more than 0" in err
