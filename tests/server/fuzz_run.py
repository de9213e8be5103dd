"""Sends fuzz cases (fuzz_cases.py, fuzz_ws_cases.py) to a live daemon and judges each one.

gRPC calls go through a raw channel that writes each request's bytes as they are (no
serializer), so a message can be garbage. WebSocket calls use the websockets client, or a
few lines of hand-rolled client (``_raw_call``) for frames the library refuses to send.
Every case runs under a timeout: one that outlives it is a hang. The outcome of a case is
its gRPC status name (WebSocket: the status of its error event or close code, or
``CLOSE_<code>``), and ``problem`` says what broke the contract, if anything.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import struct
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import grpc
from fuzz_cases import (
    CLIENT_CLOSED,
    STATUS_NAMES,
    Ending,
    GrpcCase,
    Portraits,
    close_outcome,
    g_oversized,
    g_portrait_burst,
    g_silent,
    g_unary_undecodable,
    grpc_cases,
)
from fuzz_ws_cases import (
    EOF_,
    OPEN,
    WsCase,
    WsEnding,
    w_huge,
    w_linger,
    w_register_burst,
    ws_cases,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from lpm_bridge._proto import bridge_pb2 as pb

SERVICE = "/lpm.bridge.v1.Bridge/"
#: ``lpm-bridge serve`` flags of a fuzz run (daemon_harness adds the port, --grace 2 and
#: --threads 1). The config timeout ends silent calls; not 1 s, as the gateway parses JSON
#: on the event loop and an 8 MiB text message stalls every call ~1.2 s on a loaded 2-core
#: machine. Sessions: twice what the fuzzer holds at once (about 30), as a WebSocket
#: session keeps its slot until its next frame fails to send after the client's close
#: (tens of ms; more under load); a refusal is then a leaked slot.
#: No compute processes: the daemon starts in half the time, the same code computes.
DAEMON_FLAGS: Final = (
    *("--ws-port", "0", "--config-timeout", "5", "--idle-timeout", "10"),
    *("--max-sessions", "64", "--compute-processes", "0", "--render-workers", "1"),
)
REFUSED = "REFUSED"  # no connection: the daemon is not listening


@dataclass(frozen=True)
class Plan:
    """How many cases of each group a run sends, and how many at once."""

    grpc_cases: int  # the random gRPC mix (GRPC_MIX)
    ws_cases: int  # the random WebSocket mix (WS_MIX, RAW_MIX)
    portrait_bursts: int = 2  # rounds of ``burst`` portrait calls started together
    burst: int = 6
    silent: int = 3  # gRPC calls that send nothing (the config timeout ends them)
    linger: int = 12  # WebSocket calls read to the server's own close (5 s linger)
    oversized: int = 4  # gRPC messages at and past the size limits
    huge_ws: int = 3  # WebSocket messages at and past 8 MiB
    undecodable_unary: int = 0  # unary requests that are not protobufs (see the CI test)
    concurrency: int = 8  # gRPC calls at once
    ws_concurrency: int = 8  # WebSocket calls at once (lingering ones apart)
    case_timeout_s: float = 30.0  # a case still running after this is a hang


@dataclass(frozen=True)
class Outcome:
    """What one case ended with, and what (if anything) broke the contract."""

    transport: str  # "grpc" or "ws"
    kind: str
    status: str
    seconds: float
    messages: int  # messages (or frames) the client sent
    problem: str = ""  # "" when the case held
    detail: str = ""  # the status message or close reason, cut
    repro: str = ""  # the case's requests, in short (only when it broke the contract)


def describe(case: GrpcCase | WsCase) -> str:
    """A case in short, to reproduce it: each message's size and first bytes."""

    def short(m: str | bytes) -> str:
        head = m[:40].hex() if isinstance(m, bytes) else repr(m[:60])
        return f"{len(m)}:{head}"

    if isinstance(case, GrpcCase):
        parts = [short(r) for r in case.requests]
        return f"{case.method} {case.ending.value} wait={case.wait_s:.2f} [{', '.join(parts)}]"
    parts = [short(m) for m in case.messages or case.raw]
    return f"{case.path[:60]} {case.ending.value} [{', '.join(parts)}]"


# ------------------------------------------------------------------ gRPC
@dataclass
class _GrpcResult:
    status: str
    details: str
    responses: list[pb.PerformResponse]
    write_failed: bool = False  # the call ended while the client was still writing


async def _read_all(call: Any, out: list[pb.PerformResponse]) -> None:
    """Every response until the call ends (any way it ends)."""
    try:
        while (msg := await call.read()) is not grpc.aio.EOF:
            out.append(msg)
    except grpc.aio.AioRpcError:
        pass  # the call's status says why
    except asyncio.CancelledError:
        if not call.cancelled():
            raise  # our own timeout, not the case's cancel


async def _perform(channel: grpc.aio.Channel, case: GrpcCase) -> _GrpcResult:
    method = channel.stream_stream(
        SERVICE + "Perform", response_deserializer=pb.PerformResponse.FromString
    )
    deadline = case.wait_s if case.ending is Ending.DEADLINE else None
    call = method(timeout=deadline)
    responses: list[pb.PerformResponse] = []
    reading = asyncio.ensure_future(_read_all(call, responses))
    write_failed = False
    try:
        try:
            for raw in case.requests:
                if case.pause_s:
                    await asyncio.sleep(case.pause_s)
                await call.write(raw)
            if case.ending is Ending.HALF_CLOSE:
                await call.done_writing()
        except Exception:  # RpcError, InvalidStateError, cygrpc's ExecuteBatchError...
            write_failed = True  # the call ended first (its status says why)
        if case.ending is Ending.CANCEL:
            await asyncio.sleep(case.wait_s)
            call.cancel()
        await reading
        code = await call.code()
        details = await call.details() or ""
        return _lost_status(_GrpcResult(code.name, details, responses, write_failed))
    finally:
        call.cancel()
        reading.cancel()


#: What grpc's Python client reads when the server ends a stream while the client is still
#: writing: a local INTERNAL instead of the server's status (grpc's own race, not the
#: daemon's: the details are the client library's). The in-band EVENT_TYPE_ERROR, when it
#: was read, still says what the status was; otherwise the status is lost (LOST_STATUS).
CLIENT_LOST_STATUS = "Internal error from Core"
RECOVERED = "(status from the in-band event: the client read INTERNAL) "
LOST_STATUS = "LOST_STATUS"


def _lost_status(result: _GrpcResult) -> _GrpcResult:
    """The in-band error's status when the client library lost the real one."""
    if result.status != "INTERNAL" or result.details != CLIENT_LOST_STATUS:
        return result
    if not result.write_failed:
        return result  # not the writing race: a real INTERNAL
    last = result.responses[-1] if result.responses else None
    if (
        last is not None
        and last.WhichOneof("response") == "event"
        and last.event.type == pb.EVENT_TYPE_ERROR
        and last.event.status_code in STATUS_NAMES
    ):
        status = STATUS_NAMES[last.event.status_code]
        return _GrpcResult(status, RECOVERED + last.event.message, result.responses, True)
    return _GrpcResult(LOST_STATUS, result.details, result.responses, True)


async def _unary(channel: grpc.aio.Channel, case: GrpcCase) -> _GrpcResult:
    method = channel.unary_unary(SERVICE + case.method)
    try:
        await method(case.requests[0], timeout=30)
    except grpc.aio.AioRpcError as e:
        return _GrpcResult(e.code().name, e.details() or "", [])
    return _GrpcResult("OK", "", [])


def judge_grpc(case: GrpcCase, result: _GrpcResult) -> str:
    """What broke the contract in ``result`` ("" if nothing)."""
    status, responses = result.status, result.responses
    if status == LOST_STATUS and (case.expect.evented or _client_ends(case)):
        return ""  # the server or the client itself ended the call; the client lost how
    if status not in case.expect.statuses:
        return f"status {status} not in {sorted(case.expect.statuses)}"
    if _session_responses(responses) and responses[0].WhichOneof("response") != "started":
        return f"first response is {responses[0].WhichOneof('response')}, not started"
    if status == "OK" and case.method == "Perform" and not responses:
        return "OK without SessionStarted"
    if _session_responses(responses) and (problem := _timeline_problem(responses)):
        return problem
    if status in case.expect.evented and not _client_side(case, status):
        return _error_event_problem(case, result)
    return ""


def _session_responses(responses: Sequence[pb.PerformResponse]) -> bool:
    """Anything besides a lone error event (a call refused before its session started)."""
    if len(responses) != 1:
        return bool(responses)
    return responses[0].WhichOneof("response") != "event" or (
        responses[0].event.type != pb.EVENT_TYPE_ERROR
    )


def _client_ends(case: GrpcCase) -> bool:
    return case.ending in (Ending.CANCEL, Ending.DEADLINE)


def _client_side(case: GrpcCase, status: str) -> bool:
    """A status the client gave itself (its cancel, its deadline): no event to check."""
    return (case.ending is Ending.CANCEL and status == "CANCELLED") or (
        case.ending is Ending.DEADLINE and status == "DEADLINE_EXCEEDED"
    )


def _timeline_problem(responses: Sequence[pb.PerformResponse]) -> str:
    """Frames in increasing index order, each at floor(index * rate / fps)."""
    cfg = responses[0].started.config
    last = -1
    for r in responses:
        if r.WhichOneof("response") != "frame":
            continue
        f = r.frame
        if f.index <= last:
            return f"frame {f.index} after frame {last}"
        if f.pts_samples != f.index * cfg.sample_rate_hz // cfg.fps:
            return f"frame {f.index} at pts {f.pts_samples}, not on the grid"
        last = f.index
    return ""


def _error_event_problem(case: GrpcCase, result: _GrpcResult) -> str:
    """A server-side error: the in-band EVENT_TYPE_ERROR first, naming an expected field."""
    events = [r.event for r in result.responses if r.WhichOneof("response") == "event"]
    if case.method != "Perform":
        events = []  # unary calls: only the status message
    elif not events or events[-1].type != pb.EVENT_TYPE_ERROR:
        return f"{result.status} without an in-band EVENT_TYPE_ERROR"
    else:
        event = events[-1]
        if STATUS_NAMES.get(event.status_code) != result.status:
            return f"error event says {event.status_code}, the status is {result.status}"
        if case.expect.fields and event.field not in case.expect.fields:
            return f"error names {event.field!r}, not one of {sorted(case.expect.fields)}"
    if case.expect.fields and not any(f in result.details for f in case.expect.fields):
        return f"status message {result.details[:120]!r} names none of the fields"
    return ""


async def run_grpc(channel: grpc.aio.Channel, case: GrpcCase, timeout: float) -> Outcome:
    t0 = time.monotonic()
    run = _perform if case.method == "Perform" else _unary
    try:
        result = await asyncio.wait_for(run(channel, case), timeout)
    except TimeoutError:
        problem = f"no end within {timeout:g} s ({case.ending.value})"
        sent = len(case.requests)
        return Outcome("grpc", case.kind, "HANG", timeout, sent, problem, repro=describe(case))
    except Exception as e:  # the fuzzer's own failure: reported with the case
        trace = "".join(traceback.format_exception(e))[-1500:]
        return Outcome("grpc", case.kind, "CLIENT_ERROR", 0, 1, repr(e), trace, describe(case))
    problem = judge_grpc(case, result)
    repro = describe(case) if problem else ""
    return Outcome(
        "grpc",
        case.kind,
        result.status,
        time.monotonic() - t0,
        len(case.requests),
        problem,
        result.details[:200],
        repro,
    )


# ------------------------------------------------------------------ WebSocket
@dataclass
class _WsResult:
    status: str
    detail: str = ""
    error: dict[str, Any] | None = None  # the EVENT_TYPE_ERROR event, if one came
    close_code: int | None = None  # the server's close code, when it closed first


def _event_error(message: str | bytes) -> dict[str, Any] | None:
    """The EVENT_TYPE_ERROR event in a server message, if it is one (frames never are)."""
    if isinstance(message, bytes):
        n = struct.unpack_from("<I", message)[0]
        json.loads(message[4 : 4 + n])  # a frame's header must be JSON
        return None
    event: dict[str, Any] = json.loads(message).get("event", {})
    return event if event.get("type") == "EVENT_TYPE_ERROR" else None


async def _ws_read(ws: ClientConnection, case: WsCase) -> _WsResult:
    """Read to the call's final message: its error, or (a call that may go on) its start
    and a short while after it; SERVER_CLOSE reads on until the server closes."""
    may_go_on = "OK" in case.expect.statuses and case.ending is WsEnding.READ
    error: dict[str, Any] | None = None
    started = False
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            error = error or _event_error(message)
            if error is not None and case.ending is WsEnding.READ:
                break
            started = started or (isinstance(message, str) and '"started"' in message[:12])
            if may_go_on and started:
                with contextlib.suppress(TimeoutError):  # a late error would come now
                    async with asyncio.timeout(0.2):
                        async for late in ws:
                            if error := _event_error(late):
                                break
                break
    rcvd = ws.protocol.close_rcvd
    if error is not None:
        status = STATUS_NAMES.get(int(error.get("status_code", -1)), "UNKNOWN")
        code = rcvd.code if rcvd is not None else None
        return _WsResult(status, str(error.get("message", ""))[:200], error, code)
    if rcvd is not None and ws.protocol.close_rcvd_then_sent:  # the server closed first
        return _WsResult(close_outcome(rcvd.code), rcvd.reason[:200], None, rcvd.code)
    if ws.protocol.state is State.CLOSED and rcvd is None and ws.protocol.close_sent is None:
        return _WsResult(EOF_)  # the connection ended, no close frame either way
    return _WsResult("OK" if started else "NO_ANSWER")


async def _ws_call(base: str, case: WsCase) -> _WsResult:
    try:
        ws = await connect(
            base + case.path,
            max_size=None,
            open_timeout=10,
            close_timeout=2,
            ping_interval=None,
            compression=None,
        )
    except InvalidStatus as e:
        return _WsResult(f"HTTP_{e.response.status_code}")
    except InvalidHandshake as e:
        return _WsResult("HANDSHAKE_FAILED", repr(e)[:200])
    except OSError as e:  # refused: the daemon is gone (only fair after a drain)
        return _WsResult(REFUSED, repr(e)[:200])
    try:
        with contextlib.suppress(ConnectionClosed):
            for message in case.messages:
                await ws.send(message)
        if case.ending is WsEnding.ABORT:
            ws.transport.abort()  # no close frame: the TCP connection just ends
            return _WsResult(CLIENT_CLOSED)
        if case.ending is WsEnding.CLIENT_CLOSE:
            await ws.close(case.close_code)
            return _WsResult(CLIENT_CLOSED)
        return await _ws_read(ws, case)
    finally:
        if case.ending is not WsEnding.ABORT:
            # websockets raises AttributeError closing a connection whose transport the
            # server has already reset (a message over the limit still being sent)
            with contextlib.suppress(AttributeError):
                await ws.close()


def judge_ws(case: WsCase, result: _WsResult) -> str:
    """What broke the contract in ``result`` ("" if nothing)."""
    if result.status not in case.expect.statuses:
        return f"outcome {result.status} not in {sorted(case.expect.statuses)}"
    if result.status in case.expect.evented:
        if result.error is None:
            return f"{result.status} without an EVENT_TYPE_ERROR"
        if case.expect.fields and result.error.get("field") not in case.expect.fields:
            return f"error names {result.error.get('field')!r}, not {sorted(case.expect.fields)}"
    if case.ending is WsEnding.SERVER_CLOSE and result.error is not None:
        want = 4000 + int(result.error["status_code"])
        if result.close_code != want:
            return f"closed with {result.close_code} after a {result.status} error, not {want}"
    return ""


# ------------------------------------------------------------------ hand-made frames
def _handshake(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame (unmasked, never fragmented here): (opcode, payload)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await reader.readexactly(n)


async def _raw_outcome(reader: asyncio.StreamReader, wait_s: float) -> _WsResult:
    """Read server frames until an error event, the session's start, a close, EOF, or
    ``wait_s`` of silence."""
    try:
        while True:
            async with asyncio.timeout(wait_s):
                opcode, payload = await _read_frame(reader)
            if opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                return _WsResult(close_outcome(code), payload[2:].decode(errors="replace"))
            if opcode != 0x1:
                continue
            if error := _event_error(payload.decode()):
                status = STATUS_NAMES.get(int(error.get("status_code", -1)), "UNKNOWN")
                return _WsResult(status, str(error.get("message", ""))[:200], error)
            if b'"started"' in payload[:12]:
                return _WsResult("OK")  # the session is live (frames would follow)
    except TimeoutError:
        return _WsResult(OPEN)
    except (asyncio.IncompleteReadError, ConnectionError):
        return _WsResult(EOF_)


async def _raw_call(host: str, port: int, case: WsCase) -> _WsResult:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        return _WsResult(REFUSED, repr(e)[:200])
    try:
        if case.path:
            writer.write(_handshake(host, port, case.path))
            head = await reader.readuntil(b"\r\n\r\n")
            if head.split()[1] != b"101":
                return _WsResult(f"HTTP_{head.split()[1].decode()}")
        with contextlib.suppress(ConnectionError):
            for data in case.raw:
                writer.write(data)
                await writer.drain()
        if not case.path:  # garbage instead of a handshake: an HTTP error or nothing
            with contextlib.suppress(TimeoutError, ConnectionError):
                async with asyncio.timeout(1.0):
                    head = await reader.read(64)
                    return _WsResult(f"HTTP_{head.split()[1].decode()}" if head else EOF_)
            return _WsResult(OPEN)
        # An answer is due unless the case may leave the server waiting for more bytes.
        return await _raw_outcome(reader, wait_s=1.0 if OPEN in case.expect.statuses else 10.0)
    finally:
        writer.transport.abort()


async def run_ws(base: str, case: WsCase, timeout: float) -> Outcome:
    t0 = time.monotonic()
    sent = len(case.raw) or len(case.messages)
    host, port = base.removeprefix("ws://").rsplit(":", 1)
    try:
        async with asyncio.timeout(timeout):
            if case.raw:
                result = await _raw_call(host, int(port), case)
            else:
                result = await _ws_call(base, case)
    except TimeoutError:
        problem = f"no end within {timeout:g} s"
        return Outcome("ws", case.kind, "HANG", timeout, sent, problem, repro=describe(case))
    except Exception as e:  # the fuzzer's own failure: reported with the case
        trace = "".join(traceback.format_exception(e))[-1500:]
        return Outcome("ws", case.kind, "CLIENT_ERROR", 0, sent, repr(e), trace, describe(case))
    return Outcome(
        "ws",
        case.kind,
        result.status,
        time.monotonic() - t0,
        sent,
        problem := judge_ws(case, result),
        result.detail,
        describe(case) if problem else "",
    )


# ------------------------------------------------------------------ a run
async def _bounded(jobs: Sequence[Callable[[], Awaitable[Outcome]]], limit: int) -> list[Outcome]:
    """Run ``jobs``, at most ``limit`` at once."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Outcome]]) -> Outcome:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def draw(
    plan: Plan, portraits: Portraits, seed: int
) -> tuple[list[list[GrpcCase]], list[list[WsCase]]]:
    """Every case of a run, in groups that run side by side: (gRPC groups, WebSocket groups).
    Each portrait burst is a group of its own, so its calls start together."""
    rng = random.Random(seed)
    mix = grpc_cases(rng, portraits, plan.grpc_cases)
    mix += [g_silent(rng, portraits) for _ in range(plan.silent)]
    mix += [g_oversized(rng, portraits) for _ in range(plan.oversized)]
    mix += [g_unary_undecodable(rng, portraits) for _ in range(plan.undecodable_unary)]
    rng.shuffle(mix)
    bursts = [
        [g_portrait_burst(rng, portraits) for _ in range(plan.burst)]
        for _ in range(plan.portrait_bursts)
    ]
    ws = ws_cases(rng, portraits, plan.ws_cases)
    ws += [w_huge(rng, portraits) for _ in range(plan.huge_ws)]
    rng.shuffle(ws)
    lingering = [w_linger(rng, portraits) for _ in range(plan.linger)]
    registers = [w_register_burst(rng, portraits) for _ in range(plan.burst)]  # with a burst
    return [mix, *bursts], [ws, lingering, registers]


async def fuzz(
    target: str, ws_base: str, plan: Plan, portraits: Portraits, seed: int
) -> list[Outcome]:
    """Run a whole plan against the daemon at ``target`` (gRPC) and ``ws_base`` (ws://host:port):
    the gRPC mix, the WebSocket mix, the lingering WebSocket calls and the portrait bursts
    all side by side."""
    (mix, *bursts), (ws_mix, lingering, registers) = draw(plan, portraits, seed)
    limit = plan.case_timeout_s
    async with grpc.aio.insecure_channel(target) as channel:

        def on_grpc(case: GrpcCase) -> Callable[[], Awaitable[Outcome]]:
            return lambda: run_grpc(channel, case, limit)

        def on_ws(case: WsCase) -> Callable[[], Awaitable[Outcome]]:
            return lambda: run_ws(ws_base, case, limit)

        async def portrait_bursts() -> list[Outcome]:
            out: list[Outcome] = []
            for i, group in enumerate(bursts):
                # the first burst with as many WebSocket registrations: two doors at once
                jobs = [on_grpc(c) for c in group] + [on_ws(c) for c in registers if i == 0]
                out += await _bounded(jobs, len(jobs))
                await asyncio.sleep(0.5)
            return out

        groups = await asyncio.gather(
            _bounded([on_grpc(c) for c in mix], plan.concurrency),
            _bounded([on_ws(c) for c in ws_mix], plan.ws_concurrency),
            _bounded([on_ws(c) for c in lingering], max(1, len(lingering))),
            portrait_bursts(),
        )
    return [o for group in groups for o in group]


def summary(outcomes: Sequence[Outcome], seconds: float) -> dict[str, Any]:
    """A JSON-ready report: counts by transport, kind and status, and every problem."""
    by_kind: dict[str, Counter[str]] = {}
    for o in outcomes:
        by_kind.setdefault(f"{o.transport}:{o.kind}", Counter())[o.status] += 1
    problems = [o for o in outcomes if o.problem]
    recovered = sum(o.detail.startswith(RECOVERED) for o in outcomes)
    return {
        "client_read_internal": recovered,  # statuses read from the in-band event instead
        "client_lost_status": sum(o.status == LOST_STATUS for o in outcomes),
        "seconds": round(seconds, 1),
        "cases": dict(Counter(o.transport for o in outcomes)),
        "messages": {
            t: sum(o.messages for o in outcomes if o.transport == t) for t in ("grpc", "ws")
        },
        "slowest_case_s": round(max((o.seconds for o in outcomes), default=0.0), 2),
        "by_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
        "problem_count": len(problems),
        "problems": [
            {
                "kind": f"{o.transport}:{o.kind}",
                "status": o.status,
                "problem": o.problem,
                "detail": o.detail,
                "repro": o.repro,
            }
            for o in problems[:50]
        ],
    }


async def slots_after(target: str, timeout: float) -> int | None:
    """GetServerInfo's ``active_sessions`` once it is 0, or its last value after ``timeout``
    (a slot still held then has leaked); None if the daemon does not answer."""
    async with grpc.aio.insecure_channel(target) as channel:
        method = channel.unary_unary(
            SERVICE + "GetServerInfo", response_deserializer=pb.ServerInfo.FromString
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = await method(pb.GetServerInfoRequest().SerializeToString(), timeout=5)
            except grpc.aio.AioRpcError:
                return None
            if info.limits.active_sessions == 0 or time.monotonic() > deadline:
                return int(info.limits.active_sessions)
            await asyncio.sleep(0.1)


#: What the daemon's log must never show.
CRASH_SIGNS: Final = ("Traceback", "Fatal Python error", "double free", "Segmentation fault")


def crash_signs(log: str) -> list[str]:
    """The lines of ``log`` that show a crash or an unhandled exception."""
    return [line for line in log.splitlines() if any(s in line for s in CRASH_SIGNS)]
