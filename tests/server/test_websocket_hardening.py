"""The WebSocket gateway against hostile and careless clients (issue 18: 3, 4, 9, 13d; issue
16: the close after the final message).

An in-process gateway on a loopback port, over the real servicer and runner with the fake
backend (no model), so each limit can be set small and each test runs in seconds; the
clients are real WebSocket clients. test_websocket_e2e.py checks the daemon's defaults.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from bridge_fakes import FakeBackend
from google.protobuf import json_format
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge.engine import Engine, EngineOptions
from lpm_bridge.errors import NoFaceError
from lpm_bridge.server.avatars import AvatarStore
from lpm_bridge.server.servicer import BridgeServicer, ServerLimits
from lpm_bridge.server.websocket import SHUTDOWN_REASON, GatewayOptions, WebSocketGateway

pytestmark = pytest.mark.timeout(60)
SR = 16000
PERFORM, REGISTER = "/v1/perform", "/v1/register_avatar"
T = TypeVar("T")
CONFIG = json.dumps({"config": {"sample_rate_hz": SR, "encoding": "FRAME_ENCODING_NONE"}})


class _Appearance:
    def save(self, path: Path) -> None:
        path.write_bytes(b"appearance")


def _encode(image: bytes, size: int) -> _Appearance:
    """The appearance encoder's contract without the model: b"FACE..." is a face."""
    if not image.startswith(b"FACE") and not image.startswith(b"\x89PNG"):
        raise NoFaceError("no face found in the image", field="image")
    return _Appearance()


class BigPictures(FakeBackend):
    """Frames of 1 MB: a client that does not read fills the socket buffers at once."""

    def render_jpeg(self, appearances: Any, motion: Any, quality: Any) -> list[bytes]:
        return [b"JPEG" + bytes(1_000_000) for _ in motion]


@asynccontextmanager
async def serving(
    tmp_path: Path,
    limits: ServerLimits | None = None,
    backend: FakeBackend | None = None,
    **options: Any,
) -> AsyncIterator[tuple[WebSocketGateway, str]]:
    """A gateway over a servicer with the fake backend; yields it and ``ws://host:port``."""
    engine = Engine(backend or FakeBackend(), EngineOptions(render_workers=1))
    await engine.start()
    store = AvatarStore(tmp_path / "avatars", encode=_encode)
    await store.load_default()
    servicer = BridgeServicer(engine, store, limits or ServerLimits())
    gateway = WebSocketGateway(servicer, "127.0.0.1", 0, 8 * 1024 * 1024, GatewayOptions(**options))
    port = await gateway.start()
    try:
        yield gateway, f"ws://127.0.0.1:{port}"
    finally:
        await gateway.aclose()
        await engine.aclose()


def noise(seconds: float) -> bytes:
    """Speech-like PCM16 that does not compress (a fair test of byte limits)."""
    rng = np.random.default_rng(0)
    return rng.integers(-20000, 20000, int(seconds * SR)).astype("<i2").tobytes()


async def read_all(ws: ClientConnection, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every text message until the server closes (frames skipped)."""
    out: list[dict[str, Any]] = []

    async def loop() -> None:
        try:
            async for message in ws:
                if isinstance(message, str):
                    out.append(json.loads(message))
        except ConnectionClosed:
            pass

    await asyncio.wait_for(loop(), timeout)
    return out


def errors(messages: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [
        (m["event"]["status_code"], m["event"]["field"])
        for m in messages
        if m.get("event", {}).get("type") == "EVENT_TYPE_ERROR"
    ]


# ------------------------------------------------------------ (3) timeouts, cap, logs
@pytest.mark.parametrize(
    ("path", "field"), [("/v1/register_avatar", "message"), ("/v1/perform", "config")]
)
async def test_a_silent_connection_ends_with_deadline_exceeded(
    tmp_path: Path, path: str, field: str
) -> None:
    limits = ServerLimits(config_timeout_s=0.5)
    async with serving(tmp_path, limits, close_linger_s=0.2) as (_, url):
        async with connect(url + path) as ws:
            t0 = time.monotonic()
            received = await read_all(ws, timeout=5)
        assert time.monotonic() - t0 < 3
    assert errors(received) == [(4, field)]  # DEADLINE_EXCEEDED, naming what was missing
    assert ws.close_code == 4004 and field in (ws.close_reason or "")


async def test_a_silent_perform_connection_frees_its_session_slot(tmp_path: Path) -> None:
    limits = ServerLimits(max_sessions=1, config_timeout_s=0.5)
    async with serving(tmp_path, limits, close_linger_s=0.1) as (_, url):
        async with connect(url + "/v1/perform") as silent:
            async with connect(url + "/v1/perform") as refused:
                assert errors(await read_all(refused)) == [(8, "max_sessions")]
            assert errors(await read_all(silent, timeout=3)) == [(4, "config")]
        async with connect(url + "/v1/perform") as ws:
            await ws.send(CONFIG)
            assert "started" in json.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_connections_over_the_cap_are_refused_with_http_503(tmp_path: Path) -> None:
    limits = ServerLimits(config_timeout_s=30)
    async with serving(tmp_path, limits, max_connections=4) as (gw, url):
        held = [await connect(url + "/v1/register_avatar") for _ in range(4)]
        for _ in range(20):  # a flood: every extra connection refused at the handshake
            with pytest.raises(InvalidStatus) as refused:
                await connect(url + "/v1/register_avatar")
            assert refused.value.response.status_code == 503
            assert b"max_connections" in refused.value.response.body
        assert gw.connections == 4
        await held.pop().close()
        async with asyncio.timeout(5):
            while gw.connections > 3:
                await asyncio.sleep(0.01)
        again = await connect(url + "/v1/register_avatar")  # a slot freed: accepted
        for ws in [*held, again]:
            await ws.close()


async def test_failing_calls_are_logged_once_per_interval_without_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Out of file descriptors, every call fails: the log says so once, in one line."""
    async with serving(tmp_path, close_linger_s=0.1, max_connections=2) as (gw, url):

        async def no_fds(request: Any) -> Any:
            raise OSError(24, "Too many open files")

        gw.servicer.register_avatar = no_fds  # type: ignore[method-assign]
        caplog.set_level(logging.INFO)
        for _ in range(30):
            async with connect(url + "/v1/register_avatar") as ws:
                await ws.send(json.dumps({"portrait_image": ""}))
                assert errors(await read_all(ws)) == [(13, "")]  # INTERNAL, said in-band
            assert ws.close_code == 4013
        held = [await connect(url + "/v1/register_avatar") for _ in range(2)]
        for _ in range(30):
            with pytest.raises(InvalidStatus):
                await connect(url + "/v1/register_avatar")
        for ws in held:
            await ws.close()
    gateway_records = [
        r for r in caplog.records if r.name.startswith("lpm_bridge.server.websocket")
    ]
    failed = [r for r in gateway_records if "Too many open files" in r.getMessage()]
    refused = [r for r in gateway_records if "max_connections" in r.getMessage()]
    assert len(failed) == 1 and len(refused) == 1, [r.getMessage() for r in gateway_records]
    assert not any(r.exc_info or r.exc_text for r in gateway_records)
    assert "Traceback" not in caplog.text
    opened = [r for r in gateway_records if r.getMessage() == "connection open"]
    assert len(opened) <= 1  # the library's per-connection lines are throttled too


async def test_a_session_ended_while_its_client_reads_nothing_closes_with_the_status(
    tmp_path: Path,
) -> None:
    """The servicer's idle timeout ends a call whose client neither sends nor reads, while
    the gateway is blocked writing to it: no event gets past the unread frames, so the
    close carries the status (4004, naming idle_timeout), right behind them."""
    # (The servicer's watchdog first wakes at the config timeout: keep that short too.)
    limits = ServerLimits(idle_timeout_s=1.0, config_timeout_s=0.5)
    async with serving(tmp_path, limits, BigPictures()) as (_, url):
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads little
        raw.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        async with connect(url + PERFORM, sock=raw, max_size=None, max_queue=1) as ws:
            await ws.send(CONFIG.replace("FRAME_ENCODING_NONE", "FRAME_ENCODING_JPEG"))
            await ws.send(noise(2.0))  # 50 frames of 1 MB: the gateway blocks writing
            await asyncio.sleep(3.0)  # ... and the session is idle for 1 s meanwhile
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
            t0 = time.monotonic()
            received = await read_all(ws, timeout=10)
            assert time.monotonic() - t0 < 5
    assert "started" in received[0] and not errors(received)
    assert ws.close_code == 4004 and "idle_timeout" in (ws.close_reason or "")


# ------------------------------------------------------------ (4, 13d) bad messages
@pytest.mark.parametrize("bad", ["[]", "null", "42", '"config"', "{not json", '{"config": 5}'])
@pytest.mark.parametrize("after_audio", [False, True])
async def test_a_bad_message_is_invalid_argument_naming_message(
    tmp_path: Path, bad: str, after_audio: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Never OK, never a silent end of the accepted audio, never a traceback."""
    async with serving(tmp_path, close_linger_s=0.1) as (_, url), connect(url + PERFORM) as ws:
        if after_audio:
            await ws.send(CONFIG)
            await ws.send(noise(2.0))
        await ws.send(bad)
        received = await read_all(ws)
    assert errors(received) == [(3, "message")]
    assert ws.close_code == 4003 and "message" in (ws.close_reason or "")
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("bad", ["[]", "null", "[{}]"])
async def test_a_register_request_that_is_not_an_object_names_message(
    tmp_path: Path, bad: str
) -> None:
    async with serving(tmp_path, close_linger_s=0.1) as (_, url), connect(url + REGISTER) as ws:
        await ws.send(bad)
        received = await read_all(ws)
    assert errors(received) == [(3, "message")] and ws.close_code == 4003


# ------------------------------------------------------------ (9) read-ahead, barge-in
async def sender(ws: ClientConnection, audio: bytes, chunk_bytes: int) -> None:
    for i in range(0, len(audio), chunk_bytes):
        await ws.send(audio[i : i + chunk_bytes])


def small_send_buffer(ws: ClientConnection) -> None:
    """What the client's own kernel holds is out of any server's reach: keep it small, so
    what is measured is what the gateway reads ahead."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)


@pytest.mark.parametrize(
    ("total_s", "chunk_s", "most_s"),
    [
        (120.0, 0.5, 25.0),  # 82 s before the fix
        # Big messages: the library's queue held 16 of them (8 minutes here) before the
        # fix; now one, and the gateway's own read-ahead is in bytes, overtaken.
        (300.0, 30.0, 100.0),
    ],
)
async def test_an_interrupt_overtakes_the_audio_read_ahead(
    tmp_path: Path, total_s: float, chunk_s: float, most_s: float
) -> None:
    """Minutes of audio sent as fast as the gateway takes them, then an interrupt: it takes
    effect after a bounded amount of speech, not after everything the gateway had read
    (the issue: 384 s of speech frames rendered and sent after the interrupt)."""
    async with serving(tmp_path) as (_, url), connect(url + PERFORM, max_size=None) as ws:
        small_send_buffer(ws)
        await ws.send(CONFIG)
        speech_frames = [0]
        interrupted = asyncio.Event()

        async def reader() -> None:
            async for message in ws:
                if isinstance(message, bytes):
                    n = int.from_bytes(message[:4], "little")
                    speech_frames[0] += json.loads(message[4 : 4 + n])["frame"]["speaking"]
                elif "INTERRUPTED" in json.loads(message).get("event", {}).get("type", ""):
                    interrupted.set()
                    return

        reading = asyncio.create_task(reader())
        await sender(ws, noise(total_s), int(chunk_s * SR) * 2)
        await ws.send(json.dumps({"interrupt": {}}))
        at_interrupt = speech_frames[0]
        await asyncio.wait_for(interrupted.wait(), 30)
        after = (speech_frames[0] - at_interrupt) / 25
        reading.cancel()
    assert after <= most_s, f"{after:.1f} s of speech after the interrupt"


async def test_a_drain_with_audio_read_ahead_says_what_was_not_performed(
    tmp_path: Path,
) -> None:
    """Shutting down while the gateway holds audio it has read but the session had no room
    for: the session flushes what it accepted, and the call ends UNAVAILABLE saying so,
    not OK (the read-ahead never drops audio silently)."""
    async with (
        serving(tmp_path, close_linger_s=0.2) as (gw, url),
        connect(url + PERFORM, max_size=None) as ws,
    ):
        small_send_buffer(ws)
        await ws.send(CONFIG)
        sending = asyncio.create_task(sender(ws, noise(600.0), SR))
        await asyncio.sleep(0.5)  # the session is full, the gateway holds more: 600 s cannot
        # all fit in the session (30 s), the read-ahead (1 MiB) and the socket buffers (~4 MB)
        gw.servicer.drain()
        received = await read_all(ws, timeout=20)
        sending.cancel()
    assert errors(received) == [(14, "")], errors(received)
    assert ws.close_code == 4014 and "shutting down" in (ws.close_reason or "")


# ------------------------------------------------------------ issue 16: the close
async def test_register_replies_then_waits_for_the_client_to_close(tmp_path: Path) -> None:
    """Godot's WebSocketPeer drops messages that arrive with a close: the server must not
    close right behind its reply."""
    request = json.dumps({"portrait_image": "RkFDRQ=="})  # b"FACE"
    async with serving(tmp_path, close_linger_s=3.0) as (_, url):
        async with connect(url + "/v1/register_avatar") as ws:
            await ws.send(request)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert len(reply["avatar"]["id"]) == 16
            with pytest.raises(TimeoutError):  # still open: the server waits for us
                await asyncio.wait_for(ws.recv(), 0.5)
            t0 = time.monotonic()
            await ws.close()
            assert time.monotonic() - t0 < 1 and ws.close_code == 1000
        # A client that never closes: the server closes after the linger, with 1000.
        async with connect(url.replace("ws://", "ws://") + "/v1/register_avatar") as ws:
            await ws.send(request)
            t0 = time.monotonic()
            received = await read_all(ws)
            assert 2.5 < time.monotonic() - t0 < 5
        assert "avatar" in received[0] and ws.close_code == 1000


async def test_an_error_is_sent_then_the_server_waits_before_closing_with_the_status(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, close_linger_s=1.0) as (_, url):
        async with connect(url + "/v1/perform") as ws:
            await ws.send(json.dumps({"config": {"sample_rate_hz": 1000}}))
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))["event"]
            assert event["field"] == "config.sample_rate_hz" and event["status_code"] == 3
            t0 = time.monotonic()
            await read_all(ws)
            assert 0.7 < time.monotonic() - t0 < 3
        assert ws.close_code == 4003 and "config.sample_rate_hz" in (ws.close_reason or "")


# ------------------------------------------------------------ issue 18: fuzz findings
async def _worst_stall(work: Awaitable[T]) -> tuple[T, float]:
    """``work``'s result, and the event loop's longest stall meanwhile (a 5 ms ticker)."""
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst, last = max(worst, now - last), now

    ticking = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        ticking.cancel()
    return result, worst


async def test_long_text_messages_do_not_stall_the_event_loop(tmp_path: Path) -> None:
    """Three 8 MiB text messages at once (a huge avatar id): protobuf's JSON parser takes
    about a second on one, which stalled every session's frames when the gateway parsed on
    the event loop. The loop's longest stall stays far below one such parse, and each call
    ends INVALID_ARGUMENT naming the field."""
    big = json.dumps({"config": {"sample_rate_hz": SR, "avatar_id": "x" * (8 * 2**20 - 200)}})
    t0 = time.perf_counter()
    json_format.Parse(big, pb.PerformRequest())
    one_parse = time.perf_counter() - t0  # on this machine, now: the stall before the fix

    async def call(url: str) -> list[tuple[int, str]]:
        async with connect(url + PERFORM, max_size=None) as ws:
            await ws.send(big)
            return errors(await read_all(ws))

    async with serving(tmp_path, close_linger_s=0.1) as (_, url):
        results, worst = await _worst_stall(asyncio.gather(*(call(url) for _ in range(3))))
    assert results == [[(3, "config.avatar_id")]] * 3
    assert worst < one_parse / 3, f"the loop stalled {worst:.2f} s (one parse: {one_parse:.2f} s)"


async def test_long_text_messages_keep_their_order_and_content(tmp_path: Path) -> None:
    """Text messages over 64 KiB are parsed in a thread: they still reach the session in
    the order sent, between short ones parsed in place, and decode to the same bytes."""
    image = b"FACE" + np.random.default_rng(1).bytes(3 * 2**20)
    register = json.dumps({"portrait_image": base64.b64encode(image).decode()})
    audio = json.dumps({"audio": {"pcm": base64.b64encode(noise(3.0)).decode()}})  # 128 KiB
    async with serving(tmp_path) as (_, url):
        async with connect(url + REGISTER, max_size=None) as ws:
            await ws.send(register)
            avatar = json.loads(await asyncio.wait_for(ws.recv(), 10))["avatar"]
        assert avatar["content_sha256"] == hashlib.sha256(image).hexdigest()
        async with connect(url + PERFORM) as ws:
            await ws.send(CONFIG)
            await ws.send(audio)  # parsed in a thread ...
            await ws.send(noise(1.0))  # ... binary and end_of_utterance must wait for it
            await ws.send(json.dumps({"end_of_utterance": {}}))
            ends: list[int] = []
            async with asyncio.timeout(20):
                while not ends:
                    message = await ws.recv()
                    if isinstance(message, str) and "UTTERANCE_END" in message:
                        ends.append(int(json.loads(message)["event"]["pts_samples"]))
    assert ends[0] >= 4 * SR, f"the utterance ended at {ends[0] / SR:.2f} s, not after 4 s"


@pytest.mark.parametrize(
    ("request_json", "field"),
    [
        ({"portrait_image": "RkFDRQ==", "sizes": [256] * 2000}, "message"),  # 1999 commas
        ({"portrait_image": "RkFDRQ==", "name": "n" * 2000}, "name"),
    ],
)
async def test_json_bounds_are_invalid_argument_naming_the_field(
    tmp_path: Path, request_json: dict[str, Any], field: str
) -> None:
    """Past MAX_JSON_COMMAS or MAX_TEXT_FIELD_CHARS a message is refused before parsing."""
    async with serving(tmp_path, close_linger_s=0.1) as (_, url), connect(url + REGISTER) as ws:
        await ws.send(json.dumps(request_json))
        assert errors(await read_all(ws)) == [(3, field)]


async def test_shutdown_closes_each_connection_with_its_documented_code(tmp_path: Path) -> None:
    """The gateway's close: a drained session's connection 1000, a failed call's 4000 +
    status, a call still running 4014 (never the websockets library's 1001), at once
    rather than after the linger."""
    limits = ServerLimits(config_timeout_s=30)
    async with (
        serving(tmp_path, limits, close_linger_s=30) as (gw, url),
        connect(url + PERFORM) as drained,
        connect(url + PERFORM) as failed,
        connect(url + REGISTER) as waiting,
    ):
        await drained.send(CONFIG)
        assert "started" in json.loads(await asyncio.wait_for(drained.recv(), 5))
        await failed.send("[]")
        assert errors([json.loads(await asyncio.wait_for(failed.recv(), 5))]) == [(3, "message")]
        gw.servicer.drain()
        assert await gw.servicer.wait_drained(5)
        await asyncio.sleep(0.5)  # the drained call's handler reaches its linger
        t0 = time.monotonic()
        await asyncio.wait_for(gw.aclose(), 10)
        assert time.monotonic() - t0 < 5
        for ws in (drained, failed, waiting):
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass
    assert (drained.close_code, failed.close_code) == (1000, 4003)
    assert waiting.close_code == 4014 and waiting.close_reason == SHUTDOWN_REASON


class SlowBatches(FakeBackend):
    """Each batch takes 1.5 s (in the lane's thread): the runner looks at a session rarely."""

    def motion(self, jobs: Sequence[Any]) -> list[np.ndarray]:
        time.sleep(1.5)
        return super().motion(jobs)


async def test_a_client_close_frees_its_session_slot_at_once(tmp_path: Path) -> None:
    """Not when the runner next looks at the session, or a frame next fails to send."""
    async with serving(tmp_path, backend=SlowBatches()) as (gw, url):
        async with connect(url + PERFORM) as ws:
            await ws.send(CONFIG)
            async with asyncio.timeout(10):
                while isinstance(await ws.recv(), str):
                    pass  # to the first frame: the lane starts its next 1.5 s batch now
            assert gw.servicer.slots_in_use == 1
        t0 = time.monotonic()
        while gw.servicer.slots_in_use and time.monotonic() - t0 < 5:
            await asyncio.sleep(0.01)
        held = time.monotonic() - t0
    assert held < 0.5, f"the slot was held {held:.2f} s after the client closed"
