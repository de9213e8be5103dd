"""A bounded fuzz run against a real daemon (issue 18): thousands of random and malformed
calls, and the daemon must neither exit, nor hang, nor answer with an undocumented status.

One daemon subprocess with the WebSocket gateway and short timeouts. The run (seeded, so
every CI run draws the same cases) sends about 2,000 gRPC calls (valid sessions with odd
audio, wrong first messages, out-of-range configs, garbage and truncated protobufs, odd
orders of end-of-utterance and interrupt, a second config, huge avatar ids, cancels and
deadlines, portraits of noise and damaged faces with bursts of them at once, unary calls)
and about 600 WebSocket calls (text where JSON objects are due, binary where text is due,
bad base64, messages at 8 MiB, unknown paths, vanishing clients, hand-made frames with
protocol errors and odd close codes), 8 gRPC and 8 WebSocket calls at a time. The oracle
(fuzz_cases.py) says what docs/protocol.md allows for each; fuzz_run.py judges them.

Then: every kind of case ended as documented, none ran past its timeout, the daemon is up,
answers GetServerInfo with every slot freed, and logged no traceback; and a SIGTERM amid
more fuzzing ends every call OK or UNAVAILABLE and the daemon exits 0.
``python bench/fuzz.py`` runs the same for longer and prints a JSON report.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import signal
import subprocess
import time
from collections.abc import Iterator

import grpc
import pytest
from daemon_harness import Daemon
from face_helpers import mirrored_astronaut_png
from fuzz_cases import (
    GRPC_MIX,
    UNARY_METHODS,
    UNDECODABLE,
    Ending,
    Expect,
    GrpcCase,
    Portraits,
    build_portraits,
    grpc_cases,
    valid_config,
)
from fuzz_run import (
    DAEMON_FLAGS,
    REFUSED,
    Outcome,
    Plan,
    crash_signs,
    fuzz,
    run_grpc,
    run_ws,
    slots_after,
    summary,
)
from fuzz_ws_cases import EOF_, RAW_MIX, WS_MIX, WsCase, WsEnding, ws_cases, ws_perform

from lpm_bridge._proto import bridge_pb2 as pb

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
SEED = 18
PLAN = Plan(grpc_cases=2000, ws_cases=600)
GRPC_KINDS = [*GRPC_MIX, "silent", "oversized", "portrait_burst"]
WS_KINDS = [*WS_MIX, *RAW_MIX, "ws_huge", "ws_linger", "ws_register_burst"]


@dataclasses.dataclass(frozen=True)
class FuzzRun:
    outcomes: list[Outcome]
    seconds: float
    log: str  # the daemon's output during the run
    slots_after: int | None  # GetServerInfo.active_sessions after it (None: no answer)
    alive: bool


@pytest.fixture(scope="module")
def fuzz_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, str]]:
    d = Daemon(tmp_path_factory.mktemp("avatars"), *DAEMON_FLAGS)
    try:
        ws_url = d.wait_for("websocket gateway on").split(" on ")[1].split()[0]
        d.wait_for("serving on")
        yield d, ws_url.removesuffix("/v1/perform")
    finally:
        d.stop()


@pytest.fixture(scope="module")
def portraits() -> Portraits:
    return build_portraits(mirrored_astronaut_png(), SEED)


@pytest.fixture(scope="module")
def run(fuzz_daemon: tuple[Daemon, str], portraits: Portraits) -> FuzzRun:
    daemon, ws_base = fuzz_daemon
    start = len(daemon.log)
    t0 = time.monotonic()
    outcomes = asyncio.run(fuzz(daemon.target, ws_base, PLAN, portraits, SEED))
    seconds = time.monotonic() - t0
    slots = asyncio.run(slots_after(daemon.target, timeout=10.0))
    print(summary(outcomes, seconds))  # shown with -s, and on failure
    return FuzzRun(
        outcomes, seconds, "".join(daemon.log[start:]), slots, daemon.proc.poll() is None
    )


def _show(outcomes: list[Outcome]) -> str:
    return "\n".join(f"{o.status}: {o.problem} | {o.detail} | {o.repro}" for o in outcomes[:5])


@pytest.mark.parametrize("kind", [f"grpc:{k}" for k in GRPC_KINDS] + [f"ws:{k}" for k in WS_KINDS])
def test_every_case_ends_as_documented(run: FuzzRun, kind: str) -> None:
    """Each kind of case was drawn, and each one ended with a status its kind allows, its
    error in-band first naming the field, frames on the timeline's grid."""
    mine = [o for o in run.outcomes if f"{o.transport}:{o.kind}" == kind]
    assert mine, f"the run drew no {kind} case"
    broken = [o for o in mine if o.problem]
    assert not broken, f"{len(broken)} of {len(mine)} {kind} cases:\n{_show(broken)}"


def test_the_fuzzer_ran_thousands_of_calls_and_none_hung(run: FuzzRun) -> None:
    report = summary(run.outcomes, run.seconds)
    assert report["cases"].get("grpc", 0) >= 2000 and report["cases"].get("ws", 0) >= 600
    assert report["messages"]["grpc"] >= 5000, report["messages"]
    own = [o for o in run.outcomes if o.status in ("CLIENT_ERROR", "HANG")]
    assert not own, _show(own)
    assert run.seconds < 150, f"the run took {run.seconds:.0f} s"


def test_the_daemon_survives_answers_and_frees_every_slot(run: FuzzRun) -> None:
    assert run.alive, "the daemon exited during the fuzz run"
    assert run.slots_after is not None, "GetServerInfo got no answer after the fuzz run"
    assert run.slots_after == 0, f"{run.slots_after} slots still held 10 s after the run"


def test_the_daemon_logged_no_traceback(run: FuzzRun) -> None:
    assert not crash_signs(run.log), "\n".join(crash_signs(run.log)[:10])


async def test_undecodable_unary_requests_are_invalid_argument(
    fuzz_daemon: tuple[Daemon, str],
) -> None:
    """Minimal reproduction: ``GetServerInfo`` with the one byte ``08`` (a truncated varint)."""
    daemon, _ = fuzz_daemon
    start = len(daemon.log)
    problems = []
    async with grpc.aio.insecure_channel(daemon.target) as channel:
        for method in UNARY_METHODS:
            for raw in UNDECODABLE:
                expect = Expect.of("INVALID_ARGUMENT")
                case = GrpcCase("unary_undecodable", method, (raw,), Ending.HALF_CLOSE, expect)
                outcome = await run_grpc(channel, case, timeout=10)
                if outcome.problem:
                    problems.append(f"{method} {raw.hex()}: {outcome.problem} {outcome.detail}")
    await asyncio.sleep(0.5)  # the daemon's log lines of these calls are all in
    assert not problems, "\n".join(problems)
    assert not crash_signs("".join(daemon.log[start:]))


# ------------------------------------------------------------------ last: the drain
DRAIN_EXTRA = frozenset({"OK", "UNAVAILABLE"})  # what a drain may make of any call
# ... and of a WebSocket call: no connection any more, or the session's normal close
WS_DRAIN_EXTRA = DRAIN_EXTRA | {REFUSED, EOF_, "CLOSE_1000"}


@dataclasses.dataclass(frozen=True)
class Drain:
    outcomes: list[Outcome]
    exit_code: int | None
    log: str  # the daemon's output from the SIGTERM on


def _live_grpc(rng: random.Random) -> GrpcCase:
    """A session left open (its 60 s deadline is never reached): the drain ends it."""
    audio = pb.PerformRequest(audio=pb.AudioChunk(pcm=bytes(2 * 16000)))
    requests = (_config_bytes(rng), audio.SerializeToString())
    return GrpcCase("drain_live", "Perform", requests, Ending.DEADLINE, Expect.of(), wait_s=60)


def _config_bytes(rng: random.Random) -> bytes:
    data: bytes = pb.PerformRequest(config=valid_config(rng)).SerializeToString()
    return data


def _drain_cases(portraits: Portraits) -> tuple[list[GrpcCase], list[WsCase]]:
    """24 calls (fewer than --max-sessions): live sessions, calls waiting for a config,
    random ones; each may also end OK or UNAVAILABLE."""
    rng = random.Random(SEED + 1)
    calls = [_live_grpc(rng) for _ in range(4)] + grpc_cases(rng, portraits, 12)
    calls = [dataclasses.replace(c, expect=c.expect | Expect(DRAIN_EXTRA)) for c in calls]
    live = '{"config": {"sample_rate_hz": 16000, "encoding": "FRAME_ENCODING_NONE"}}'
    sockets = [ws_perform("drain_live", [live], portraits, WsEnding.SERVER_CLOSE)] * 2
    sockets += ws_cases(rng, portraits, 6)
    sockets = [dataclasses.replace(s, expect=s.expect | Expect(WS_DRAIN_EXTRA)) for s in sockets]
    return calls, sockets


@pytest.fixture(scope="module")
def drain(fuzz_daemon: tuple[Daemon, str], portraits: Portraits) -> Drain:
    """SIGTERM half a second into a batch of calls (this stops the module's daemon)."""
    daemon, ws_base = fuzz_daemon
    calls, sockets = _drain_cases(portraits)

    async def main() -> list[Outcome]:
        async def sigterm() -> None:
            await asyncio.sleep(0.5)
            daemon.proc.send_signal(signal.SIGTERM)

        async with grpc.aio.insecure_channel(daemon.target) as channel:
            jobs = [run_grpc(channel, c, 30) for c in calls]
            jobs += [run_ws(ws_base, s, 30) for s in sockets]
            signal_sent = asyncio.ensure_future(sigterm())
            outcomes = await asyncio.wait_for(asyncio.gather(*jobs), 60)
            await signal_sent
            return outcomes

    start = len(daemon.log)
    outcomes = asyncio.run(main())
    try:
        exit_code: int | None = daemon.proc.wait(30)
    except subprocess.TimeoutExpired:
        exit_code = None
    return Drain(outcomes, exit_code, "".join(daemon.log[start:]))


def test_a_drain_ends_every_grpc_call_as_documented(drain: Drain) -> None:
    """Live sessions flush and end OK or UNAVAILABLE, calls waiting for their config end
    UNAVAILABLE, random calls end as their kind allows: the client is never blamed."""
    mine = [o for o in drain.outcomes if o.transport == "grpc"]
    broken = [o for o in mine if o.problem]
    assert not broken, _show(broken)
    assert all(o.status in DRAIN_EXTRA for o in mine if o.kind == "drain_live")


def test_a_drain_closes_websockets_with_documented_codes(drain: Drain) -> None:
    """Open /v1/perform, send a config, SIGTERM the daemon and read until it closes: 1000
    after the flushed session, or 4014 (the gateway's shutdown closed with 1001 before)."""
    mine = [o for o in drain.outcomes if o.transport == "ws"]
    broken = [o for o in mine if o.problem]
    assert not broken, _show(broken)


def test_a_drain_exits_0_without_traceback(drain: Drain) -> None:
    assert drain.exit_code == 0, f"the daemon exited with {drain.exit_code} after SIGTERM"
    assert not crash_signs(drain.log), "\n".join(crash_signs(drain.log)[:10])
