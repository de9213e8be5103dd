"""The gRPC servicer: a thin adapter from ``lpm.bridge.v1.Bridge`` to LiveSession and AvatarStore.

Every LPMError becomes its ``grpc_status`` with a message that names the field; a Perform
failure is also sent in-band first (an EVENT_TYPE_ERROR event) so a client that only reads
messages still learns why. Per-call cleanup runs in ``finally``: a client that disconnects
mid-stream frees its session (and its slot under ``--max-sessions``) at once.

Every Perform call holds a slot from its first byte, so each has a watchdog: no config within
``config_timeout_s`` of the call's start, or no request and no frame read for
``idle_timeout_s``, ends the call with DEADLINE_EXCEEDED. The server ends calls from outside
(timeouts, shutdown) by cancelling the task that runs them: at one of run_perform's own
awaits that becomes the LPMError (in-band event, then the status); a transport blocked
writing to a client that does not read is ended by its ``on_kill`` (gRPC: the status is sent
behind what the client has buffered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from lpm_bridge import __version__
from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc
from lpm_bridge.engine import Engine
from lpm_bridge.errors import (
    DeadlineExceededError,
    InvalidInputError,
    LPMError,
    PreconditionError,
    ResourceExhaustedError,
    UnavailableError,
)
from lpm_bridge.motion import ARKIT_NAMES, SUPPORTED_FPS
from lpm_bridge.server.avatars import DEFAULT_ID, DEFAULT_SIZE, AvatarRecord, AvatarStore
from lpm_bridge.server.convert import (
    ENCODING_TO_PROTO,
    config_from_proto,
    config_to_proto,
    event_to_proto,
    frame_to_proto,
)
from lpm_bridge.session import LiveSession, pcm16_from_bytes
from lpm_bridge.session_types import (
    MAX_INFERENCE_STEPS,
    MAX_LOOKAHEAD_MS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    SUPPORTED_SIZES,
    Encoding,
    Event,
    SessionConfig,
)

log = logging.getLogger(__name__)
SERVICE = pb.DESCRIPTOR.services_by_name["Bridge"].full_name  # "lpm.bridge.v1.Bridge"
VISEME_NAMES_FALLBACK = ("sil",)


@dataclass(frozen=True)
class ServerLimits:
    """Per-daemon limits (reported by GetServerInfo; every one in docs/protocol.md)."""

    # Perform calls at once, each holding a slot from its first byte. 20: on the 2-core
    # reference machine 16-20 live sessions at 256 had every frame on time, 28 did not
    # (measured for issue 18; 16-session runs in docs/performance.md). More cores: raise it.
    max_sessions: int = 20
    outbox_frames: int = 50  # 2 s at 25 fps queued for a slow reader, at most
    max_pending_audio_s: float = 30.0  # beyond it the request stream is not read (flow control)
    max_request_bytes: int = 8 * 1024 * 1024  # gRPC max_receive_message_length
    max_audio_chunk_bytes: int = 4 * 1024 * 1024  # one AudioChunk.pcm (43 s at 48 kHz)
    max_image_bytes: int = 4 * 1024 * 1024  # one portrait
    config_timeout_s: float = 10.0  # from a call's start to its config message
    idle_timeout_s: float = 300.0  # no request and no frame read for this long ends a session


def status_of(error: LPMError) -> tuple[grpc.StatusCode, str]:
    """The gRPC status and message of a typed error; the message always names the field."""
    code = getattr(grpc.StatusCode, error.grpc_status, grpc.StatusCode.INTERNAL)
    message = error.message
    if error.field and error.field not in message:
        message = f"{error.field}: {message}"
    return code, message


def error_response(error: LPMError) -> pb.PerformResponse:
    """The in-band EVENT_TYPE_ERROR sent before a Perform call ends with ``error``'s status."""
    code, message = status_of(error)
    return pb.PerformResponse(
        event=pb.Event(
            type=pb.EVENT_TYPE_ERROR,
            message=message,
            status_code=code.value[0],
            field=error.field or "",
        )
    )


def _undecodable(error: DecodeError, name: str = "PerformRequest") -> InvalidInputError:
    """A request message that is not a ``name`` (gRPC's deserializer raised)."""
    return InvalidInputError(
        f"request: a message is not a valid {name} (protobuf decode failed: {error})",
        field="request",
    )


@dataclass(eq=False)
class _Call:
    """One Perform call holding a slot, as the watchdog and the drain see it."""

    task: asyncio.Task[Any]  # the transport's task iterating run_perform
    kill: Callable[[LPMError], None] | None  # ends it while the transport is blocked writing
    started: float = field(default_factory=time.monotonic)
    configured: bool = False  # the first message arrived
    session: LiveSession | None = None
    error: LPMError | None = None  # set when the server ends the call (timeout, shutdown)
    sending: bool = False  # run_perform is suspended at a yield: the transport is writing
    holding: bool = False  # the reader holds an audio chunk, waiting for room
    dropped: bool = False  # audio sent after the drain began was not performed


def _viseme_names() -> tuple[str, ...]:
    try:
        from lpm_bridge.visemes import VISEME_NAMES
    except ImportError:  # pragma: no cover - the voice module ships with the package
        return VISEME_NAMES_FALLBACK
    return VISEME_NAMES


class BridgeServicer(pb_grpc.BridgeServicer):
    """Adapter over one Engine and one AvatarStore. ``ready`` is set once the model is loaded."""

    def __init__(self, engine: Engine | None, store: AvatarStore, limits: ServerLimits) -> None:
        self.engine = engine
        self.store = store
        self.limits = limits
        self.sessions: dict[str, LiveSession] = {}
        self._calls: set[_Call] = set()  # Perform calls admitted: each holds a slot
        self._aborts: set[asyncio.Task[None]] = set()
        self.draining = False

    @property
    def slots_in_use(self) -> int:
        """Perform calls holding a slot, those still waiting for their config included."""
        return len(self._calls)

    # ----------------------------------------------------------------- Perform
    async def Perform(
        self, request_iterator: AsyncIterator[pb.PerformRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PerformResponse]:
        def on_open(session: LiveSession) -> None:
            # A client that disconnects frees its session at once, not at the next yield.
            context.add_done_callback(lambda _: session.close())

        def on_kill(error: LPMError) -> None:
            # The handler is blocked writing to a client that does not read: the status goes
            # out behind what the client has buffered; the handler itself is cancelled.
            task = asyncio.create_task(_abort_quietly(context, *status_of(error)))
            self._aborts.add(task)
            task.add_done_callback(self._aborts.discard)

        try:
            self.admit()
        except LPMError as e:
            await context.abort(*status_of(e))  # refused at once: a status, no stream
        responses = self.run_perform(request_iterator, on_open=on_open, on_kill=on_kill)
        try:
            async for response in responses:
                yield response
        except LPMError as e:
            code, message = status_of(e)
            yield error_response(e)
            await context.abort(code, message)
        finally:
            await responses.aclose()

    def admit(self) -> None:
        """Raise unless a new Perform call can start now (model loaded, not draining, a slot)."""
        if self.engine is None or self.draining:
            raise UnavailableError("server is loading or draining; retry")
        if len(self._calls) >= self.limits.max_sessions:
            raise ResourceExhaustedError(
                f"max_sessions: all {self.limits.max_sessions} sessions are busy",
                field="max_sessions",
            )

    async def run_perform(
        self,
        requests: AsyncIterator[pb.PerformRequest],
        *,
        on_open: Callable[[LiveSession], None] | None = None,
        on_kill: Callable[[LPMError], None] | None = None,
    ) -> AsyncGenerator[pb.PerformResponse, None]:
        """One Perform call, independent of the transport (gRPC here, server/websocket.py).

        Call ``admit()`` first to refuse a call before any response. Reads the config, runs
        the session and yields its responses; a user error, a timeout or the shutdown ends
        the generator with the LPMError for the transport to report. ``on_kill(error)`` is
        called when the server ends the call while the transport is writing a response (a
        client that does not read); the transport's task is cancelled after it. Cleanup (the
        slot, the watchdog, the reader task, the session) always runs.
        """
        self.admit()  # again: the caller's check and this one are on the same loop turn
        task = asyncio.current_task()
        assert task is not None, "run_perform runs in a task"
        call = _Call(task=task, kill=on_kill)
        self._calls.add(call)
        watchdog = asyncio.create_task(self._watch(call), name="lpm-perform-watchdog")
        reader: asyncio.Task[None] | None = None
        try:
            try:
                session = call.session = await self._open(requests, call)
                if on_open is not None:
                    on_open(session)
                reader = asyncio.create_task(self._read(requests, session, call))
                call.sending = True
                yield self._started(session)
                call.sending = False
                async for item in session:
                    call.sending = True
                    if isinstance(item, Event):
                        yield event_to_proto(item)
                    else:
                        yield frame_to_proto(item, session.config)
                    call.sending = False
            except asyncio.CancelledError:
                if call.error is None:
                    raise  # the transport's own cancellation (the client went away)
                task.uncancel()
                raise call.error from None
            if self.draining and (call.dropped or call.holding):
                raise UnavailableError(
                    "server is shutting down: the audio accepted before the drain was "
                    "performed (see the last UTTERANCE_END); audio sent after it was not"
                )
        finally:
            self._calls.discard(call)
            watchdog.cancel()
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
            if call.session is not None:
                self.sessions.pop(call.session.id, None)
                await call.session.aclose()

    def _end(self, call: _Call, error: LPMError) -> None:
        """End ``call`` from outside (a timeout, the shutdown) with ``error``."""
        if call.error is not None or call.task.done():
            return
        call.error = error
        if call.sending and call.kill is not None:
            call.kill(error)
        call.task.cancel()  # at run_perform's own await this becomes `error` (run_perform)

    async def _watch(self, call: _Call) -> None:
        """End ``call`` when the client is too slow to configure it or leaves it idle."""
        lim = self.limits
        while True:
            if not call.configured:
                left = lim.config_timeout_s - (time.monotonic() - call.started)
                error = DeadlineExceededError(
                    f"config: none received within {lim.config_timeout_s:g} s of the call's "
                    "start (the config timeout)",
                    field="config",
                )
            elif call.session is not None:
                left = lim.idle_timeout_s - call.session.idle_for()
                error = DeadlineExceededError(
                    f"idle_timeout: no request sent and no frame read for "
                    f"{lim.idle_timeout_s:g} s; the session was closed",
                    field="idle_timeout",
                )
            else:  # resolving the avatar: the server's time, not the client's
                left = 1.0
            if left <= 0:
                log.info("ending a Perform call: %s", error.message)
                self._end(call, error)
                return
            await asyncio.sleep(left)

    async def _open(self, requests: AsyncIterator[pb.PerformRequest], call: _Call) -> LiveSession:
        """Read the config (first and once), resolve the avatar, start the session."""
        try:
            first = await anext(requests)
        except StopAsyncIteration:
            raise PreconditionError(
                "config: the stream ended before a config was sent", field="config"
            ) from None
        except DecodeError as e:
            raise _undecodable(e) from None
        call.configured = True
        kind = first.WhichOneof("request")
        if kind != "config":
            raise PreconditionError(
                f"config: the first message must be config, got {kind or 'an empty request'}",
                field="config",
            )
        cfg, choice = config_from_proto(first.config)
        if choice.portrait_image is not None:
            self._check_image(choice.portrait_image, "config.portrait_image")
            appearance = await self.store.for_image(choice.portrait_image, cfg.size)
            avatar_id = ""
        else:
            avatar_id = choice.avatar_id or DEFAULT_ID
            appearance = await self.store.appearance(avatar_id, cfg.size)
        if self.engine is None or self.draining:
            raise UnavailableError("server is shutting down; retry on a running server")
        session = LiveSession(
            cfg,
            self.engine.backend.new_stream(cfg),
            appearance=appearance,
            runner=self.engine,
            outbox_frames=self.limits.outbox_frames,
            max_pending_audio_s=self.limits.max_pending_audio_s,
            avatar_id=avatar_id,
        )
        self.sessions[session.id] = session
        await session.start()
        return session

    @staticmethod
    def _check_sizes(sizes: Sequence[int]) -> list[int]:
        """RegisterAvatarRequest.sizes: supported output sizes, in order, once each."""
        for size in sizes:
            if size not in SUPPORTED_SIZES:
                raise InvalidInputError(
                    f"sizes: {size} is not an output size; use "
                    + " or ".join(str(s) for s in SUPPORTED_SIZES),
                    field="sizes",
                )
        return list(dict.fromkeys(sizes)) or [DEFAULT_SIZE]

    def _check_image(self, image: bytes, field: str) -> None:
        if len(image) > self.limits.max_image_bytes:
            raise ResourceExhaustedError(
                f"{field} is {len(image)} bytes; the limit is {self.limits.max_image_bytes}",
                field=field,
            )

    async def _read(
        self, requests: AsyncIterator[pb.PerformRequest], session: LiveSession, call: _Call
    ) -> None:
        """Feed the session from the request stream; a bad request fails the session."""
        try:
            async for req in requests:
                session.touch()
                kind = req.WhichOneof("request")
                if kind == "audio":
                    await self._read_audio(req.audio, session, call)
                elif kind == "end_of_utterance":
                    session.end_utterance()
                elif kind == "interrupt":
                    session.interrupt()  # a barge-in still stops a draining session's speech
                elif kind == "config":
                    raise PreconditionError(
                        "config: sent twice; a session takes one config, first", field="config"
                    )
                else:
                    raise InvalidInputError(
                        "request: empty PerformRequest (no oneof field set)", field="request"
                    )
            session.finish()  # the client half-closed: flush, deliver the rest, end the rpc
        except DecodeError as e:
            session.fail(_undecodable(e))
        except LPMError as e:
            session.fail(e)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the call was cancelled under us (grpc raises its own errors)
            log.debug("request stream of %s ended: %r", session.id, e)
            session.close()

    async def _read_audio(self, chunk: pb.AudioChunk, session: LiveSession, call: _Call) -> None:
        """One AudioChunk: check it, wait for room (backpressure), push it unless draining."""
        if len(chunk.pcm) > self.limits.max_audio_chunk_bytes:
            raise ResourceExhaustedError(
                f"audio.pcm is {len(chunk.pcm)} bytes; the limit per chunk is "
                f"{self.limits.max_audio_chunk_bytes}",
                field="audio.pcm",
            )
        pcm = pcm16_from_bytes(chunk.pcm, "audio.pcm")
        call.holding = True
        await session.writable()  # backpressure: stop reading while audio is pending
        call.holding = False
        if self.draining:
            call.dropped = True  # shutting down: the session flushes what it had accepted
            return
        session.push_audio(pcm)

    def _started(self, session: LiveSession) -> pb.PerformResponse:
        cfg: SessionConfig = session.config
        side = 0 if cfg.encoding is Encoding.NONE else cfg.size
        return pb.PerformResponse(
            started=pb.SessionStarted(
                session_id=session.id,
                config=config_to_proto(cfg, session.avatar_id),
                blendshape_names=list(ARKIT_NAMES),
                width=side,
                height=side,
                viseme_names=list(_viseme_names()),
            )
        )

    def drain(self) -> None:
        """Shutting down: refuse new sessions, let every live one flush and end; a call still
        waiting for its config ends at once with UNAVAILABLE."""
        self.draining = True
        for call in list(self._calls):
            if call.session is not None:
                call.session.finish()
            elif not call.configured:
                self._end(call, UnavailableError("server is shutting down; retry"))

    async def wait_drained(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for every Perform call to end; True if they all did."""
        deadline = time.monotonic() + timeout_s
        while self._calls and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self._calls

    def end_all(self, error: LPMError) -> None:
        """End every Perform call still running with ``error`` (the grace period is over)."""
        for call in list(self._calls):
            self._end(call, error)

    # ----------------------------------------------------------------- avatars
    async def RegisterAvatar(
        self, request: pb.RegisterAvatarRequest, context: grpc.aio.ServicerContext
    ) -> pb.Avatar:
        try:
            return await self.register_avatar(request)
        except LPMError as e:
            await context.abort(*status_of(e))
            raise  # unreachable: abort raises

    async def register_avatar(self, request: pb.RegisterAvatarRequest) -> pb.Avatar:
        """Store a portrait, prepared at ``request.sizes`` (the RegisterAvatar call, for the
        gRPC method and the WebSocket gateway alike); bad input raises an LPMError."""
        self._check_image(request.portrait_image, "portrait_image")
        sizes = self._check_sizes(request.sizes)
        record = await self.store.register(request.portrait_image, request.name, sizes)
        if self.engine is not None:
            # A registered face is sent to the compute processes now, so the sessions that
            # use it start without that hitch (16 NPC faces starting at once otherwise
            # cost their first second).
            for size in sizes:
                appearance = await self.store.appearance(record.id, size, "sizes")
                with contextlib.suppress(Exception):  # best effort; logged by the engine
                    await self.engine.preload(appearance)
        return _avatar(record)

    async def ListAvatars(
        self, request: pb.ListAvatarsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAvatarsResponse:
        return pb.ListAvatarsResponse(avatars=[_avatar(r) for r in self.store.records()])

    async def DeleteAvatar(
        self, request: pb.DeleteAvatarRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteAvatarResponse:
        try:
            self.store.delete(request.id)
        except LPMError as e:
            await context.abort(*status_of(e))
        return pb.DeleteAvatarResponse(id=request.id)

    async def GetServerInfo(
        self, request: pb.GetServerInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerInfo:
        lim = self.limits
        return pb.ServerInfo(
            version=__version__,
            model=self.engine.backend.name if self.engine else "loading",
            device=self.engine.backend.device if self.engine else "",
            limits=pb.Limits(
                max_sessions=lim.max_sessions,
                active_sessions=self.slots_in_use,
                max_request_bytes=lim.max_request_bytes,
                min_sample_rate_hz=MIN_SAMPLE_RATE,
                max_sample_rate_hz=MAX_SAMPLE_RATE,
                sizes=list(SUPPORTED_SIZES),
                fps=list(SUPPORTED_FPS),
                max_inference_steps=MAX_INFERENCE_STEPS,
                max_lookahead_ms=MAX_LOOKAHEAD_MS,
                outbox_frames=lim.outbox_frames,
                max_pending_audio_s=lim.max_pending_audio_s,
            ),
            capabilities=["blendshapes", "visemes", "interrupt", "avatar-store", "idle-motion"],
            encodings=list(ENCODING_TO_PROTO.values()),
        )


def _avatar(record: AvatarRecord) -> pb.Avatar:
    return pb.Avatar(
        id=record.id,
        name=record.name,
        content_sha256=record.content_sha256,
        sizes=list(record.sizes),
        builtin=record.builtin,
    )


async def _abort_quietly(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str
) -> None:
    """Send the call's final status from outside its handler (see BridgeServicer._end)."""
    with contextlib.suppress(Exception):  # AbortError once sent; the call may be gone
        await context.abort(code, message)


@dataclass(frozen=True)
class _Undecodable:
    """A unary request gRPC could not decode, handed to the method instead of the request."""

    error: DecodeError
    name: str  # the request message's type, e.g. "GetServerInfoRequest"


_Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Message]]
# The unary methods: request and response types. Their requests are decoded by
# _tolerant_deserializer (see add_to_server).
_UNARY_TYPES: dict[str, tuple[type[Message], type[Message]]] = {
    "RegisterAvatar": (pb.RegisterAvatarRequest, pb.Avatar),
    "ListAvatars": (pb.ListAvatarsRequest, pb.ListAvatarsResponse),
    "DeleteAvatar": (pb.DeleteAvatarRequest, pb.DeleteAvatarResponse),
    "GetServerInfo": (pb.GetServerInfoRequest, pb.ServerInfo),
}


def _tolerant_deserializer(request_type: type[Message]) -> Callable[[bytes], object]:
    """``request_type.FromString`` that returns an ``_Undecodable`` instead of raising."""

    def deserialize(data: bytes) -> object:
        try:
            return request_type.FromString(data)
        except DecodeError as e:
            return _Undecodable(e, request_type.__name__)

    return deserialize


def _checked(method: _Unary) -> _Unary:
    """``method``, answering INVALID_ARGUMENT naming ``request`` to an ``_Undecodable``."""

    async def unary(request: object, context: grpc.aio.ServicerContext) -> Message:
        if isinstance(request, _Undecodable):
            await context.abort(*status_of(_undecodable(request.error, request.name)))
        return await method(request, context)

    return unary


def add_to_server(servicer: BridgeServicer, server: Any) -> None:
    """Register the Bridge service, as the generated ``add_BridgeServicer_to_server`` does,
    but with tolerant deserializers for the unary methods.

    gRPC decodes a unary request before the method runs, and a request that is not a
    protobuf then ends UNKNOWN ("Unexpected <class DecodeError>") with a traceback in the
    log. Here the method gets the failure and answers INVALID_ARGUMENT naming ``request``.
    Perform needs no such help: a stream's deserializer raises into the request iterator,
    where run_perform catches it.
    """
    handlers = {
        "Perform": grpc.stream_stream_rpc_method_handler(
            servicer.Perform,
            request_deserializer=pb.PerformRequest.FromString,
            response_serializer=pb.PerformResponse.SerializeToString,
        )
    }
    for name, (request_type, response_type) in _UNARY_TYPES.items():
        handlers[name] = grpc.unary_unary_rpc_method_handler(
            _checked(getattr(servicer, name)),
            request_deserializer=_tolerant_deserializer(request_type),
            response_serializer=response_type.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
