"""End-to-end: nothing holds a slot forever. A call that sends no config, and a session whose
client neither sends nor reads, end with DEADLINE_EXCEEDED and free their slot; a client that
only reads idle frames is never idle; GetServerInfo counts slots held before the config.

One daemon with short timeouts (``--config-timeout 1 --idle-timeout 2``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from daemon_harness import Call, Daemon, config, started

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc

pytestmark = pytest.mark.timeout(120)
CONFIG_TIMEOUT_S = 1.0
IDLE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    flags = (
        "--config-timeout", str(CONFIG_TIMEOUT_S),
        "--idle-timeout", str(IDLE_TIMEOUT_S),
        "--max-sessions", "3",
    )  # fmt: skip
    with started(Daemon(Path(tmp_path_factory.mktemp("avatars")), *flags)) as d:
        yield d


async def slots(stub: pb_grpc.BridgeStub) -> int:
    info = await stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=5)
    return int(info.limits.active_sessions)


async def wait_slots(stub: pb_grpc.BridgeStub, n: int, timeout: float) -> float:
    """Seconds until GetServerInfo reports ``n`` slots in use (fails after ``timeout``)."""
    t0 = time.monotonic()
    while await slots(stub) != n:
        assert time.monotonic() - t0 < timeout, f"slots in use never became {n}"
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def test_a_silent_call_holds_a_slot_then_times_out_naming_config(
    stub: pb_grpc.BridgeStub,
) -> None:
    await wait_slots(stub, 0, 5)
    silent = Call(stub)  # opens the stream, never sends a config
    await silent.call.wait_for_connection()
    assert await wait_slots(stub, 1, 0.5) < 0.5  # counted while it waits for its config
    t0 = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await asyncio.wait_for(silent.drain(), 10)
    took = time.monotonic() - t0
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert (e.value.details() or "").startswith("config:")
    assert took < CONFIG_TIMEOUT_S + 1.5
    assert silent.events and silent.events[-1].type == pb.EVENT_TYPE_ERROR  # in-band too
    assert silent.events[-1].field == "config"
    await wait_slots(stub, 0, 1)


async def test_config_then_nothing_ends_even_when_the_client_does_not_read(
    stub: pb_grpc.BridgeStub,
) -> None:
    await wait_slots(stub, 0, 5)
    frozen = Call(stub)
    # RGB8 frames (192 KiB each) fill the client's flow-control window at once, so the
    # server's writer is blocked as well: the call is ended from outside.
    await frozen.send(config(encoding=pb.FRAME_ENCODING_RGB8))
    await wait_slots(stub, 1, 2)
    freed_after = await wait_slots(stub, 0, IDLE_TIMEOUT_S + 5)  # nobody reads, nobody sends
    assert freed_after < IDLE_TIMEOUT_S + 3
    with pytest.raises(grpc.aio.AioRpcError) as e:  # what the client sees when it wakes up
        await asyncio.wait_for(frozen.drain(), 20)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert (e.value.details() or "").startswith("idle_timeout:")


async def test_a_client_that_only_reads_idle_frames_is_not_idle(
    stub: pb_grpc.BridgeStub,
) -> None:
    await wait_slots(stub, 0, 5)
    c = Call(stub)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE))
    end = time.monotonic() + IDLE_TIMEOUT_S * 2
    while time.monotonic() < end:  # an NPC standing idle: frames read, nothing sent
        await c.read_until(lambda m: m.WhichOneof("response") == "frame", timeout=5)
    assert await slots(stub) == 1
    c.call.cancel()
    await wait_slots(stub, 0, 2)
