"""End-to-end: what a hostile but fair client found (issue 18), over a real socket.

* Undecodable messages end the call with INVALID_ARGUMENT naming ``request``, first or
  after audio, and leave no traceback in the daemon's log.
* Whole chunks longer than the read-ahead (``--max-pending-audio``), alone or back to back,
  are accepted and performed in full.
* Idle sessions whose client reads nothing cost no compute once their outbox is full.
* SIGTERM while sessions are held back by backpressure flushes what they accepted and never
  blames the client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from daemon_harness import END, SR, Call, Daemon, audio, config, speech, started

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc

pytestmark = pytest.mark.timeout(180)
PENDING_S = 2.0  # --max-pending-audio: the read-ahead before the server stops reading
PERFORM = "/lpm.bridge.v1.Bridge/Perform"
UNDECODABLE = bytes.fromhex("0affffffff0f")  # field 1, length-delimited, length 2**32 - 1


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with started(
        Daemon(Path(tmp_path_factory.mktemp("avatars")), "--max-pending-audio", str(PENDING_S))
    ) as d:
        yield d


@pytest.fixture
async def channel(daemon: Daemon) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(daemon.target) as ch:
        yield ch


def raw_perform(channel: grpc.aio.Channel) -> grpc.aio.StreamStreamCall:
    """A Perform call that writes raw bytes, so a message can be undecodable."""
    method = channel.stream_stream(PERFORM, response_deserializer=pb.PerformResponse.FromString)
    return method()


async def finish(call: grpc.aio.StreamStreamCall) -> list[pb.PerformResponse]:
    """Read every response until the call ends (its status is then in call.code())."""
    out: list[pb.PerformResponse] = []

    async def loop() -> None:
        while (msg := await call.read()) is not grpc.aio.EOF:
            out.append(msg)

    with pytest.raises(grpc.aio.AioRpcError):
        await asyncio.wait_for(loop(), 30)
    return out


@pytest.mark.parametrize("after_audio", [False, True], ids=["first", "after_config_and_audio"])
async def test_undecodable_message_is_invalid_argument_without_traceback(
    daemon: Daemon, channel: grpc.aio.Channel, after_audio: bool
) -> None:
    log_before = len(daemon.log)
    call = raw_perform(channel)
    if after_audio:
        await call.write(config(encoding=pb.FRAME_ENCODING_NONE).SerializeToString())
        await call.write(audio(speech(2.0)).SerializeToString())
    await call.write(UNDECODABLE)
    responses = await finish(call)
    assert await call.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = await call.details()
    assert details.startswith("request:") and "PerformRequest" in details
    errors = [r.event for r in responses if r.WhichOneof("response") == "event"]
    assert errors and errors[-1].type == pb.EVENT_TYPE_ERROR and errors[-1].field == "request"
    await asyncio.sleep(0.2)
    log = "".join(daemon.log[log_before:])
    assert "Traceback" not in log and "DecodeError" not in log


async def test_whole_chunks_longer_than_the_read_ahead_are_accepted(
    channel: grpc.aio.Channel,
) -> None:
    stub = pb_grpc.BridgeStub(channel)  # type: ignore[no-untyped-call]
    c = Call(stub)
    long = speech(2.5 * PENDING_S)  # one chunk of 5 s: more than twice the read-ahead
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE), audio(long), END)
    for _ in range(3):  # then 3 more of the same, back to back
        await c.send(audio(long))
    await c.send(END)
    await c.call.done_writing()
    await c.drain(timeout=90)
    assert await c.call.code() == grpc.StatusCode.OK
    ends = [e.pts_samples for e in c.events if e.type == pb.EVENT_TYPE_UTTERANCE_END]
    assert len(ends) == 2
    assert sum(f.speaking for f in c.frames) == 4 * 2.5 * PENDING_S * 25


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and of its children (the compute processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def test_unread_idle_sessions_cost_no_compute(daemon: Daemon) -> None:
    async with grpc.aio.insecure_channel(daemon.target) as ch:
        stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
        calls = [Call(stub) for _ in range(3)]
        for c in calls:  # raw 256 frames: the clients' buffers fill in a second
            await c.send(config(encoding=pb.FRAME_ENCODING_RGB8))
            await c.read_until(lambda m: m.WhichOneof("response") == "frame")
        await asyncio.sleep(4.0)  # nobody reads: the outboxes fill (50 frames, 2 s)
        used = cpu_seconds(daemon.proc.pid)
        t0 = time.monotonic()
        await asyncio.sleep(3.0)
        cores = (cpu_seconds(daemon.proc.pid) - used) / (time.monotonic() - t0)
        for c in calls:
            c.call.cancel()
    # Rendering 3 idle sessions at 25 fps took 0.58 cores; paused they cost next to nothing.
    assert cores < 0.12, f"3 unread idle sessions used {cores:.2f} cores"


async def test_sigterm_under_backpressure_flushes_and_never_blames_the_client(
    tmp_path: Path,
) -> None:
    d = Daemon(tmp_path / "avatars", "--max-pending-audio", "1", "--grace", "30")
    try:
        d.wait_for("serving on")
        async with grpc.aio.insecure_channel(d.target) as ch:
            stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
            calls = [Call(stub) for _ in range(4)]
            senders = [asyncio.create_task(send_ahead(c, seconds=20.0)) for c in calls]
            readers = [asyncio.create_task(c.drain(timeout=60)) for c in calls]
            for c in calls:  # each is speaking, its sender held back by backpressure
                while sum(f.speaking for f in c.frames) < 25:
                    await asyncio.sleep(0.05)
            d.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 60)
            for task in senders:
                task.cancel()
            for c in calls:
                code = await c.call.code()
                assert code in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE), code
                assert any(e.type == pb.EVENT_TYPE_UTTERANCE_END for e in c.events)
                # every sample it accepted was performed: at least the read-ahead's worth
                assert sum(f.speaking for f in c.frames) >= 25
                if code == grpc.StatusCode.UNAVAILABLE:
                    assert "shutting down" in (await c.call.details() or "")
        assert d.proc.wait(30) == 0
    finally:
        d.stop()


async def send_ahead(c: Call, seconds: float) -> None:
    """A whole line sent as fast as the server reads it, in 0.25 s chunks."""
    await c.send(config())  # JPEG frames: rendering, not the client, sets the pace
    pcm = speech(seconds)
    step = SR // 4 * 2
    for i in range(0, len(pcm), step):
        await c.send(audio(pcm[i : i + step]))
    await c.send(END)


async def test_interrupt_of_a_line_sent_ahead_resumes_idle_at_once(
    channel: grpc.aio.Channel,
) -> None:
    stub = pb_grpc.BridgeStub(channel)  # type: ignore[no-untyped-call]
    c = Call(stub)
    line = speech(8.0)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE))
    for i in range(0, len(line), 2 * SR):  # a whole line, sent as fast as it is read
        await c.send(audio(line[i : i + 2 * SR]))
    await c.send(END)

    def ahead_of_playback(m: pb.PerformResponse) -> bool:  # rendered 2 s past the wall clock
        return m.WhichOneof("response") == "frame" and (
            m.frame.pts_seconds > time.monotonic() - c.started_at + 2.0
        )

    await c.read_until(ahead_of_playback, timeout=20)
    t0 = time.monotonic()
    await c.send(pb.PerformRequest(interrupt=pb.Interrupt()))
    await c.read_until(
        lambda m: m.WhichOneof("response") == "event" and m.event.type == pb.EVENT_TYPE_INTERRUPTED
    )
    await c.read_until(lambda m: m.WhichOneof("response") == "frame" and not m.frame.speaking)
    # Idle frames come at once, not when the wall clock reaches the end of the rendered line.
    assert time.monotonic() - t0 < 1.0
    c.call.cancel()
