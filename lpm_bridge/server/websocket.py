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
  ``4000 + the gRPC status code`` (4003 INVALID_ARGUMENT, 4005 NOT_FOUND,
  4008 RESOURCE_EXHAUSTED, 4009 FAILED_PRECONDITION, 4014 UNAVAILABLE), the message as reason.

RegisterAvatar (``/v1/register_avatar``): so an engine without gRPC can register its NPCs'
faces at level load too. The client sends one text message, a ``RegisterAvatarRequest`` in
the JSON mapping (``portrait_image`` base64, as the mapping writes bytes; optional ``name``
and ``sizes``); the server replies ``{"avatar": {...}}`` once the face is ready, and closes
normally (1000). Errors end it as a Perform call's do.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import AsyncIterator
from typing import Final, TypeVar

from google.protobuf import json_format
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge.errors import InvalidInputError, LPMError, NotFoundError
from lpm_bridge.server.servicer import BridgeServicer, error_response, status_of

log = logging.getLogger(__name__)
PATH: Final[str] = "/v1/perform"
REGISTER_PATH: Final[str] = "/v1/register_avatar"
CLOSE_CODE_BASE: Final[int] = 4000  # + gRPC status code: the private-use close code range
MAX_REASON_BYTES: Final[int] = 120  # a close reason must fit one control frame (125 bytes)
_HEADER: Final[struct.Struct] = struct.Struct("<I")
# Every field present (zeros too), so a client never has to guess a default; note that the
# JSON mapping writes 64-bit integers (index, pts_samples) as strings.
_JSON: Final[dict[str, bool]] = {"always_print_fields_with_no_presence": True}


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
    """``text`` (protobuf JSON) into ``request``; bad JSON is an InvalidInputError naming it."""
    try:
        json_format.Parse(text, request)
    except (json_format.ParseError, json.JSONDecodeError) as e:
        raise InvalidInputError(
            f"message: not a {type(request).__name__} in protobuf JSON: {e}", field="message"
        ) from e
    return request


class WebSocketGateway:
    """Serves ``BridgeServicer.run_perform`` and ``register_avatar`` over WebSocket.
    ``start()`` / ``aclose()``."""

    def __init__(self, servicer: BridgeServicer, host: str, port: int, max_message_bytes: int):
        self.servicer = servicer
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self._server: Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await serve(
            self._handle, self.host, self.port, max_size=self.max_message_bytes
        )
        sockets = list(self._server.sockets)
        port: int = sockets[0].getsockname()[1] if sockets else self.port
        return port

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        path = path.split("?")[0]
        try:
            if path == REGISTER_PATH:
                await self._register(ws)
                return
            if path != PATH:
                raise NotFoundError(
                    f"path: {path!r} is not served; use {PATH} or {REGISTER_PATH}", field="path"
                )
            self.servicer.admit()
            responses = self.servicer.run_perform(self._requests(ws))
            try:
                async for response in responses:
                    await ws.send(encode_response(response))
            finally:
                await responses.aclose()
        except LPMError as e:
            await self._fail(ws, e)
        except ConnectionClosed:
            pass  # the client went away; run_perform's cleanup has freed the session

    async def _register(self, ws: ServerConnection) -> None:
        """One RegisterAvatar call: one request message in, ``{"avatar": ...}`` out, close."""
        avatar = await self.servicer.register_avatar(decode_register(await ws.recv()))
        reply = json_format.MessageToDict(avatar, preserving_proto_field_name=True, **_JSON)
        await ws.send(json.dumps({"avatar": reply}))
        await ws.close(1000, "registered")

    async def _requests(self, ws: ServerConnection) -> AsyncIterator[pb.PerformRequest]:
        async for message in ws:
            yield decode_request(message)

    async def _fail(self, ws: ServerConnection, error: LPMError) -> None:
        code, message = status_of(error)
        try:
            await ws.send(encode_response(error_response(error)))
            reason = message.encode()[:MAX_REASON_BYTES].decode(errors="ignore")
            await ws.close(CLOSE_CODE_BASE + code.value[0], reason)
        except ConnectionClosed:
            pass
