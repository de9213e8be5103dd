"""`lpm-bridge serve` refuses bad scheduling flags before loading anything, naming the flag."""

import pytest

from lpm_bridge.cli import main


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--max-sessions", "0"),
        ("--render-workers", "-1"),
        ("--max-batch-frames", "-1"),
        ("--live-batch-frames", "-2"),
    ],
)
def test_bad_scheduling_flag_is_refused_by_name(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", flag, value]) == 2
    err = capsys.readouterr().err
    assert f"[{flag}]" in err and flag in err.split("]", 1)[1]


def test_compute_processes_flag_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--compute-processes", "-1"]) == 2
    assert "[--compute-processes]" in capsys.readouterr().err
    assert main(["serve", "--port", "0", "--device", "cuda:0", "--compute-processes", "2"]) == 2
    err = capsys.readouterr().err
    assert "[--compute-processes]" in err and "CPU serving" in err
