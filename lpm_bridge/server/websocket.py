"""The WebSocket gateway: the Perform stream for engines without gRPC (Godot 4, Unity WebGL).

A second thin adapter over the same session machinery as the gRPC servicer
(``BridgeServicer.run_perform``): same config, same timeline, same limits, same errors.
One WebSocket connection is one Perform call, at ``ws://HOST:PORT/v1/perform``, or one
RegisterAvatar call, at ``ws://HOST:PORT/v1/register_avatar``.

Client -> server
  * text message: one ``PerformRequest`` in the protobuf JSON mapping, e.g.
    ``{"config": {"sample_rate_hz": 16000}}``, ``{"end_of_utterance": {}}``, ``{"interrupt": {}}``;
  * binary message: raw PCM16 little-endian mono audio (the bytes of ``AudioChunk.pcm``),
    so audio needs no base64.
  Closing the connection ends the call (like a gRPC half-close: nothing more is read).

Server -> client
  * text message: ``SessionStarted`` and ``Event`` responses in the JSON mapping
    (``{"started": {...}}``, ``{"event": {...}}``), field names as in bridge.proto;
  * binary message: one frame, ``[u32 little-endian n][n bytes: {"frame": {...}} JSON
    without the image][image bytes]``, so a client decodes the picture straight from the
    message (Godot: ``Image.load_jpg_from_buffer``).
  An error ends the call with an ``EVENT_TYPE_ERROR`` event and then a close code of
  ``4000 + the gRPC status code`` (4003 INVALID_ARGUMENT, 4004 DEADLINE_EXCEEDED,
  4005 NOT_FOUND, 4008 RESOURCE_EXHAUSTED, 4009 FAILED_PRECONDITION, 4013 INTERNAL,
  4014 UNAVAILABLE), the message as reason.

RegisterAvatar (``/v1/register_avatar``): so an engine without gRPC can register its NPCs'
faces at level load too. The client sends one text message, a ``RegisterAvatarRequest`` in
the JSON mapping (``portrait_image`` base64, as the mapping writes bytes; optional ``name``
and ``sizes``); the server replies ``{"avatar": {...}}`` once the face is ready. Errors end
it as a Perform call's do.

Closing: after a call's final message (the avatar, an error, the last frame of a drained
session) the server waits for the client to close, up to ``close_linger_s``, and only then
closes itself. Godot's WebSocketPeer drops messages that arrive together with a close
(godotengine/godot#107442); a client should close once it has read the final message.
When the daemon stops, the gateway closes each connection still open with the code its call
ended with (1000, or 4000 + status), or 4014 UNAVAILABLE if its call is still running.

Limits (``GatewayOptions``): a first-message timeout, a cap on open connections (HTTP 503
at the handshake beyond it), a bounded read-ahead of audio (``_ReadAhead``: an interrupt
overtakes the audio read ahead), and throttled connection-error logs (log_throttle.py).
Long text messages are parsed off the event loop, within bounds on their JSON
(``PARSE_OFF_LOOP_CHARS``, ``MAX_TEXT_FIELD_CHARS``, ``MAX_JSON_COMMAS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.http11 import Request, Response
from websockets.protocol import State

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge.errors import DeadlineExceededError, InvalidInputError, LPMError, NotFoundError
from lpm_bridge.server.log_throttle import throttled_logger
from lpm_bridge.server.servicer import BridgeServicer, error_response, status_of
from lpm_bridge.session import LiveSession

log = logging.getLogger(__name__)
PATH: Final[str] = "/v1/perform"
REGISTER_PATH: Final[str] = "/v1/register_avatar"
CLOSE_CODE_BASE: Final[int] = 4000  # + gRPC status code: the private-use close code range
MAX_REASON_BYTES: Final[int] = 120  # a close reason must fit one control frame (125 bytes)
_HEADER: Final[struct.Struct] = struct.Struct("<I")
# Every field present (zeros too), so a client never has to guess a default; note that the
# JSON mapping writes 64-bit integers (index, pts_samples) as strings.
_JSON: Final[dict[str, bool]] = {"always_print_fields_with_no_presence": True}
# Frames the websockets library queues before it stops reading the socket. 0: it pauses
# as soon as one message waits; the bounded read-ahead is _ReadAhead's, where an interrupt
# can overtake it (the library's default, 16 messages of up to 8 MiB, held 384 s of audio).
_LIBRARY_QUEUE: Final[tuple[int, int]] = (0, 0)
# The kernel's receive buffer of a gateway socket: without it, autotuning lets the kernel
# hold megabytes (minutes of audio) the gateway has not read, out of an interrupt's reach.
# Linux doubles it: 128 KiB, 4 s of audio at 16 kHz.
_SOCKET_RECEIVE_BUFFER: Final[int] = 64 * 1024
# Text messages longer than this are parsed in a worker thread (_PARSE_THREADS of them),
# off the event loop, so every other session's frames stay on time: an 8 MiB one took
# 1.2 s, and three at once stalled a live session's frames for 1.9 s. Every message a
# client sends but a portrait is far shorter, and is parsed in place.
PARSE_OFF_LOOP_CHARS: Final[int] = 64 * 1024
_PARSE_THREADS: Final[int] = 2  # their own: a flood of big messages never delays the store's
# protobuf's JSON parser checks a string field with a regular expression that holds the GIL
# (0.5 s for 8 MiB: no thread helps), so a longer one is refused before it runs. The longest
# legitimate one is an avatar name (128 characters); bytes fields (base64) are not text.
MAX_TEXT_FIELD_CHARS: Final[int] = 1024
# JSON values in one message, bounded by counting its commas before parsing: json.loads holds
# the GIL for the whole message (0.3 s for 8 MiB of numbers) and protobuf's parser walks each
# value in Python (5 s). A real request has a dozen.
MAX_JSON_COMMAS: Final[int] = 1024
# The close of a connection whose call is still running when the gateway stops: 4014.
SHUTDOWN_REASON: Final[str] = "server is shutting down; retry on a running server"
_SHUTDOWN_CLOSE: Final[tuple[int, str]] = (
    CLOSE_CODE_BASE + grpc.StatusCode.UNAVAILABLE.value[0],
    SHUTDOWN_REASON,
)


@dataclass(frozen=True)
class GatewayOptions:
    """The gateway's limits and timeouts (docs/protocol.md, "WebSocket gateway")."""

    # Open connections, both paths together (lingering ones too); more are refused with
    # HTTP 503 at the handshake. The first message of a call must arrive within
    # ServerLimits.config_timeout_s (--config-timeout) on both paths.
    max_connections: int = 64
    # The opening handshake itself (the websockets library's open_timeout).
    handshake_timeout_s: float = 10.0
    # After a call's final message, how long the server waits for the client to close
    # before it closes itself (see the module docstring).
    close_linger_s: float = 5.0
    # Audio read from the socket ahead of the session (beyond its max_pending_audio_s),
    # at most; an interrupt overtakes it. 1 MiB: 33 s at 16 kHz, 11 s at 48 kHz.
    read_ahead_bytes: int = 1024 * 1024
    # Connection errors: each kind logged once per interval at most, without traceback.
    log_interval_s: float = 10.0


def encode_response(response: pb.PerformResponse) -> str | bytes:
    """A response as one WebSocket message: frames binary (header + image), the rest text."""
    if response.WhichOneof("response") != "frame":
        text: str = json_format.MessageToJson(
            response, preserving_proto_field_name=True, indent=None, **_JSON
        )
        return text
    image: bytes = response.frame.image
    header = pb.PerformResponse()
    header.CopyFrom(response)
    header.frame.ClearField("image")
    meta: str = json_format.MessageToJson(
        header, preserving_proto_field_name=True, indent=None, **_JSON
    )
    raw = meta.encode()
    return _HEADER.pack(len(raw)) + raw + image


def decode_request(message: str | bytes) -> pb.PerformRequest:
    """One client message -> a PerformRequest; bad JSON is an InvalidInputError."""
    if isinstance(message, bytes):
        return pb.PerformRequest(audio=pb.AudioChunk(pcm=message))
    return _parse(message, pb.PerformRequest())


def decode_register(message: str | bytes) -> pb.RegisterAvatarRequest:
    """The one message of a RegisterAvatar call -> the request; else an InvalidInputError."""
    if isinstance(message, bytes):
        raise InvalidInputError(
            "message: send a RegisterAvatarRequest as JSON text (portrait_image in base64), "
            "not binary",
            field="message",
        )
    return _parse(message, pb.RegisterAvatarRequest())


_Request = TypeVar("_Request", pb.PerformRequest, pb.RegisterAvatarRequest)


def _parse(text: str, request: _Request) -> _Request:
    """``text`` (protobuf JSON) into ``request``; bad JSON is an InvalidInputError naming it.

    ``json_format.Parse`` in steps, so that the limits (``MAX_JSON_COMMAS``,
    ``MAX_TEXT_FIELD_CHARS``) are checked before the costly ones.
    """
    name = type(request).__name__
    # The mapping would read `[]` or `null` as an empty request; a message is one object.
    if not text.lstrip(" \t\r\n").startswith("{"):
        raise InvalidInputError(
            f"message: a {name} is one JSON object ({{...}}), got {text[:20]!r}",
            field="message",
        )
    commas = text.count(",")
    if commas > MAX_JSON_COMMAS:
        raise InvalidInputError(
            f"message: {commas} commas; a {name} has at most {MAX_JSON_COMMAS} JSON values",
            field="message",
        )
    try:
        tree = json.loads(text, object_pairs_hook=_object)
    except (ValueError, RecursionError) as e:
        raise InvalidInputError(
            f"message: not a {name} in protobuf JSON: {e}", field="message"
        ) from e
    _check_text_fields(tree, request.DESCRIPTOR, "")
    try:
        json_format.ParseDict(tree, request)
    except json_format.ParseError as e:
        raise InvalidInputError(
            f"message: not a {name} in protobuf JSON: {e}", field="message"
        ) from e
    return request


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a key twice is an error (as in ``json_format.Parse``)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        raise ValueError("a key appears twice in one object")
    return obj


def _check_text_fields(tree: dict[str, Any], descriptor: Descriptor, prefix: str) -> None:
    """Refuse a string field over ``MAX_TEXT_FIELD_CHARS``, naming it (see there)."""
    for key, value in tree.items():
        fd = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
        if fd is None:
            continue  # an unknown field: json_format names it
        path = prefix + fd.name
        for item in value if isinstance(value, list) else [value]:
            if fd.message_type is not None and isinstance(item, dict):
                _check_text_fields(item, fd.message_type, path + ".")
            elif fd.type == FieldDescriptor.TYPE_STRING and _too_long(item):
                raise InvalidInputError(
                    f"{path} is {len(item)} characters; a text field has at most "
                    f"{MAX_TEXT_FIELD_CHARS}",
                    field=path,
                )


def _too_long(item: object) -> bool:
    return isinstance(item, str) and len(item) > MAX_TEXT_FIELD_CHARS


@dataclass
class _Connection:
    """What the gateway keeps of one open connection."""

    # The code and reason to close it with at shutdown: those its call ended with, once
    # its final message is sent (``_linger``), else 4014 UNAVAILABLE.
    close: tuple[int, str] = _SHUTDOWN_CLOSE
    # Run once the connection is closed (the session's close: its slot is freed at once).
    on_close: list[Callable[[], None]] = field(default_factory=list)


class WebSocketGateway:
    """Serves ``BridgeServicer.run_perform`` and ``register_avatar`` over WebSocket.
    ``start()`` / ``aclose()``."""

    def __init__(
        self,
        servicer: BridgeServicer,
        host: str,
        port: int,
        max_message_bytes: int,
        options: GatewayOptions | None = None,
    ):
        self.servicer = servicer
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.options = options or GatewayOptions()
        self._server: Server | None = None
        # Counted from the handshake on.
        self._connections: dict[ServerConnection, _Connection] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._parser = ThreadPoolExecutor(_PARSE_THREADS, thread_name_prefix="lpm-ws-parse")
        self._log = throttled_logger(f"{__name__}.connections", self.options.log_interval_s)

    @property
    def connections(self) -> int:
        """Open connections (what ``max_connections`` caps)."""
        return len(self._connections)

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            max_size=self.max_message_bytes,
            max_queue=_LIBRARY_QUEUE,
            # No permessage-deflate: it bought nothing here (JPEG frames and PCM barely
            # shrink; its CPU went on every frame sent), and a few KiB of deflated zeros
            # inflate to megabytes, past any bound on what the gateway has read.
            compression=None,
            open_timeout=self.options.handshake_timeout_s,
            process_request=self._admit_connection,
            logger=self._log,
        )
        sockets = list(self._server.sockets)
        for sock in sockets:  # accepted sockets inherit it (and the window it advertises)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_RECEIVE_BUFFER)
        port: int = sockets[0].getsockname()[1] if sockets else self.port
        return port

    async def aclose(self) -> None:
        """Stop listening; close each open connection with its documented code (the one its
        call ended with, else 4014 UNAVAILABLE; never the library's 1001); wait for every
        handler to return."""
        server, self._server = self._server, None
        if server is not None:
            server.close(close_connections=False)  # stop accepting; the closes are ours
            closes = [
                ws.close(*conn.close)
                for ws, conn in list(self._connections.items())
                if ws.state is State.OPEN
            ]
            await asyncio.gather(*closes, return_exceptions=True)
            await server.wait_closed()
        for task in list(self._watchers):
            task.cancel()
        self._parser.shutdown(wait=False, cancel_futures=True)

    # ----------------------------------------------------------------- admission
    def _admit_connection(self, ws: ServerConnection, request: Request) -> Response | None:
        """The connection cap, at the handshake: HTTP 503 beyond ``max_connections``."""
        limit = self.options.max_connections
        if len(self._connections) >= limit:
            self._log.warning("refused a connection: all %d are open (max_connections)", limit)
            response = ws.respond(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"max_connections: all {limit} gateway connections are open; retry later\n",
            )
            response.headers["Retry-After"] = "1"
            return response
        self._connections[ws] = _Connection()
        watcher = asyncio.create_task(self._release_when_closed(ws))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return None

    async def _release_when_closed(self, ws: ServerConnection) -> None:
        try:
            await ws.wait_closed()
        finally:
            conn = self._connections.pop(ws, None)
            for callback in conn.on_close if conn is not None else ():
                callback()

    async def _decode(
        self, message: str | bytes, decode: Callable[[str | bytes], _Request]
    ) -> _Request:
        """``decode(message)``, in a parse thread if it is a long text (PARSE_OFF_LOOP_CHARS).
        Each connection awaits one message's decode before reading the next: order is kept."""
        if isinstance(message, str) and len(message) > PARSE_OFF_LOOP_CHARS:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._parser, decode, message)
        return decode(message)

    # ----------------------------------------------------------------- calls
    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        path = path.split("?")[0]
        try:
            if path == REGISTER_PATH:
                await self._register(ws)
            elif path == PATH:
                await self._perform(ws)
            else:
                raise NotFoundError(
                    f"path: {path!r} is not served; use {PATH} or {REGISTER_PATH}", field="path"
                )
            await self._linger(ws, 1000, "")
        except _Killed as e:
            code, message = status_of(e.error)
            with contextlib.suppress(ConnectionClosed):
                await ws.close(CLOSE_CODE_BASE + code.value[0], _reason(message))
        except LPMError as e:
            await self._fail(ws, e)
        except ConnectionClosed:
            pass  # the client went away; run_perform's cleanup has freed the session
        except Exception as e:
            # Throttled; a traceback only for a bug, not for a socket or file error (running
            # out of file descriptors once logged 630 MB of tracebacks).
            self._log.error("call failed", exc_info=True)
            await self._fail(ws, LPMError(f"internal error ({type(e).__name__}); see the log"))

    async def _register(self, ws: ServerConnection) -> None:
        """One RegisterAvatar call: one request message in, ``{"avatar": ...}`` out."""
        timeout = self.servicer.limits.config_timeout_s  # a Perform's config timeout, too
        try:
            async with asyncio.timeout(timeout):
                message = await ws.recv()
        except TimeoutError:
            raise DeadlineExceededError(
                f"message: no RegisterAvatarRequest within {timeout:g} s of connecting "
                "(the config timeout)",
                field="message",
            ) from None
        avatar = await self.servicer.register_avatar(await self._decode(message, decode_register))
        reply = json_format.MessageToDict(avatar, preserving_proto_field_name=True, **_JSON)
        await ws.send(json.dumps({"avatar": reply}))

    async def _perform(self, ws: ServerConnection) -> None:
        """One Perform call: messages read ahead in a task of their own (``_ReadAhead``),
        responses sent here. The config timeout, the idle timeout and the drain are the
        servicer's (run_perform); see ``_Killed`` for a call it ends while this writes."""
        self.servicer.admit()
        inbox = _ReadAhead(
            ws,
            self.options.read_ahead_bytes,
            self.servicer.limits.max_pending_audio_s,
            draining=lambda: self.servicer.draining,
            log=self._log,
            decode=lambda message: self._decode(message, decode_request),
        )

        def on_open(session: LiveSession) -> None:
            inbox.attach(session)
            # A client that closes frees its session (and its slot) at once, not when the
            # next frame fails to send (gRPC: context.add_done_callback).
            if (conn := self._connections.get(ws)) is not None:
                conn.on_close.append(session.close)

        killed: list[LPMError] = []
        reader = asyncio.create_task(inbox.read())
        try:
            responses = self.servicer.run_perform(
                inbox.requests(), on_open=on_open, on_kill=killed.append
            )
            try:
                async for response in responses:
                    await ws.send(encode_response(response))
            finally:
                await responses.aclose()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not killed or task is None:
                raise  # the gateway is closing
            task.uncancel()
            raise _Killed(killed[0]) from None
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _fail(self, ws: ServerConnection, error: LPMError) -> None:
        """The in-band error event, then close with ``4000 + status`` (after the linger)."""
        code, message = status_of(error)
        try:
            await ws.send(encode_response(error_response(error)))
        except ConnectionClosed:
            return
        await self._linger(ws, CLOSE_CODE_BASE + code.value[0], _reason(message))

    async def _linger(self, ws: ServerConnection, code: int, reason: str) -> None:
        """After the final message: wait (bounded) for the client's close, then close.

        Closing at once would put the close frame right behind the final message, and
        Godot's WebSocketPeer drops messages that arrive with a close. Anything the client
        still sends meanwhile is read and ignored. A shutdown meanwhile closes with ``code``.
        """
        if (conn := self._connections.get(ws)) is not None:
            conn.close = (code, reason)
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(self.options.close_linger_s):
                async for _ in ws:
                    pass
        with contextlib.suppress(ConnectionClosed):
            await ws.close(code, reason)


def _reason(message: str) -> str:
    """A close reason: the status message, cut to fit one control frame."""
    return message.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


class _Killed(Exception):
    """The servicer ended the call (a timeout, the shutdown) while the gateway was writing
    to a client that does not read: no event can get past what it has not read, so the
    connection is closed at once with the status (run_perform's ``on_kill``)."""

    def __init__(self, error: LPMError) -> None:
        super().__init__(error.message)
        self.error = error


_Item = pb.PerformRequest | LPMError | ConnectionClosed | None  # None: the client closed


class _ReadAhead:
    """A Perform connection's messages, read ahead of its session by a task of their own.

    ``read()`` (the task) decodes messages into a queue; ``requests()`` (run_perform's
    request stream) hands them on, each audio chunk only once the session has room for it
    (``LiveSession.writable``), so a session holds its ``max_pending_audio_s`` at most.
    The reader stops reading while ``read_ahead_bytes`` of audio wait in the queue: the
    library queue and TCP then push back on the client, as gRPC's flow control does.

    An interrupt overtakes: it drops the audio and end-of-utterance marks waiting here
    (and the chunk waiting for room) and reaches the session at once, instead of behind
    everything read before it.
    """

    def __init__(
        self,
        ws: ServerConnection,
        read_ahead_bytes: int,
        max_pending_audio_s: float,
        draining: Callable[[], bool],
        log: logging.Logger,
        decode: Callable[[str | bytes], Awaitable[pb.PerformRequest]],
    ) -> None:
        self._ws = ws
        self._decode = decode  # decode_request, long texts in a parse thread
        self._read_ahead = read_ahead_bytes
        self._max_pending_s = max_pending_audio_s
        self._draining = draining
        self._log = log
        self._items: deque[_Item] = deque()
        self._audio_bytes = 0  # of the audio in _items
        self._arrived = asyncio.Event()  # an item was queued (the feeder may go on)
        self._taken = asyncio.Event()  # an item was handed on (the reader may go on)
        self._interrupted = asyncio.Event()
        self._interrupts = 0  # interrupts read so far: a chunk waiting for room checks it
        self._session: LiveSession | None = None

    def attach(self, session: LiveSession) -> None:
        """run_perform's ``on_open``: the session the audio waits for."""
        self._session = session

    # ----------------------------------------------------------------- reader task
    async def read(self) -> None:
        """Read, decode and queue every message until the client closes or one is bad."""
        try:
            while True:
                while self._audio_bytes >= self._read_ahead:
                    self._taken.clear()
                    await self._taken.wait()
                self._put(await self._decode(await self._ws.recv()))
        except ConnectionClosedOK:
            self._end(None)  # the client closed: the end of its requests
        except (LPMError, ConnectionClosed) as e:
            self._end(e)
        except Exception:  # a bug: the call must still end, and not as OK
            self._log.error("reading a request failed", exc_info=True)
            self._end(LPMError("internal error reading a request; see the log"))

    def _put(self, request: pb.PerformRequest) -> None:
        kind = request.WhichOneof("request")
        if kind == "interrupt" and self._session is not None:
            kept = [i for i in self._items if not _is_speech(i)]
            self._items = deque(kept)
            self._audio_bytes = 0
            self._interrupts += 1
            self._interrupted.set()
        elif kind == "audio":
            self._audio_bytes += len(request.audio.pcm)
        self._items.append(request)
        self._arrived.set()

    def _end(self, item: _Item) -> None:
        self._items.append(item)
        self._arrived.set()

    # ----------------------------------------------------------------- request stream
    async def requests(self) -> AsyncIterator[pb.PerformRequest]:
        """The request stream for ``run_perform``: the queue, audio paced by the session."""
        while True:
            while not self._items:
                self._arrived.clear()
                await self._arrived.wait()
            item = self._items[0]
            if _is_audio(item) and self._session is not None:
                interrupts = self._interrupts
                await self._room_or_interrupt(self._session)
                if interrupts != self._interrupts:
                    continue  # an interrupt overtook this chunk (the reader dropped it)
            self._items.popleft()
            if isinstance(item, pb.PerformRequest) and _is_audio(item):
                self._audio_bytes -= len(item.audio.pcm)
            self._taken.set()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def _room_or_interrupt(self, session: LiveSession) -> None:
        """Wait until the session has room for audio, or an interrupt arrives."""
        limit = session.timeline.samples(self._max_pending_s)
        if session.pending_samples < limit or not session.active:
            return  # the common case, without a task: writable() would not wait
        if self._draining():
            return  # the servicer holds it and says what was not performed (UNAVAILABLE)
        self._interrupted.clear()
        room = asyncio.ensure_future(session.writable())
        interrupt = asyncio.ensure_future(self._interrupted.wait())
        try:
            await asyncio.wait((room, interrupt), return_when=asyncio.FIRST_COMPLETED)
        finally:
            room.cancel()
            interrupt.cancel()


def _is_audio(item: _Item) -> bool:
    return isinstance(item, pb.PerformRequest) and item.WhichOneof("request") == "audio"


def _is_speech(item: _Item) -> bool:
    """Audio and end-of-utterance marks: what an interrupt drops."""
    return isinstance(item, pb.PerformRequest) and item.WhichOneof("request") in (
        "audio",
        "end_of_utterance",
    )
