"""The gRPC servicer: a thin adapter from ``lpm.bridge.v1.Bridge`` to LiveSession and AvatarStore.

Every LPMError becomes its ``grpc_status`` with a message that names the field; a Perform
failure is also sent in-band first (an EVENT_TYPE_ERROR event) so a client that only reads
messages still learns why. Per-call cleanup runs in ``finally``: a client that disconnects
mid-stream frees its session (and its slot under ``--max-sessions``) at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from lpm_bridge import __version__
from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc
from lpm_bridge.engine import Engine
from lpm_bridge.errors import (
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
VISEME_NAMES_FALLBACK = ("sil",)


@dataclass(frozen=True)
class ServerLimits:
    """Per-daemon limits (reported by GetServerInfo)."""

    max_sessions: int = 32
    outbox_frames: int = 50  # 2 s at 25 fps queued for a slow reader, at most
    max_pending_audio_s: float = 30.0  # beyond it the request stream is not read (flow control)
    max_request_bytes: int = 8 * 1024 * 1024  # gRPC max_receive_message_length
    max_audio_chunk_bytes: int = 4 * 1024 * 1024  # one AudioChunk.pcm (43 s at 48 kHz)
    max_image_bytes: int = 4 * 1024 * 1024  # one portrait


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
        self._slots = 0  # Perform calls admitted (a slot is taken before the config arrives)
        self.draining = False

    # ----------------------------------------------------------------- Perform
    async def Perform(
        self, request_iterator: AsyncIterator[pb.PerformRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.PerformResponse]:
        def on_open(session: LiveSession) -> None:
            # A client that disconnects frees its session at once, not at the next yield.
            context.add_done_callback(lambda _: session.close())

        try:
            self.admit()
        except LPMError as e:
            await context.abort(*status_of(e))  # refused at once: a status, no stream
        responses = self.run_perform(request_iterator, on_open=on_open)
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
        if self._slots >= self.limits.max_sessions:
            raise ResourceExhaustedError(
                f"max_sessions: all {self.limits.max_sessions} sessions are busy",
                field="max_sessions",
            )

    async def run_perform(
        self,
        requests: AsyncIterator[pb.PerformRequest],
        *,
        on_open: Callable[[LiveSession], None] | None = None,
    ) -> AsyncGenerator[pb.PerformResponse, None]:
        """One Perform call, independent of the transport (gRPC here, server/websocket.py).

        Call ``admit()`` first to refuse a call before any response. Reads the config, runs
        the session and yields its responses; a user error ends the generator with the
        LPMError for the transport to report. Cleanup (the slot, the reader task, the
        session) always runs.
        """
        self.admit()  # again: the caller's check and this one are on the same loop turn
        self._slots += 1
        session: LiveSession | None = None
        reader: asyncio.Task[None] | None = None
        try:
            session = await self._open(requests)
            if on_open is not None:
                on_open(session)
            reader = asyncio.create_task(self._read(requests, session))
            yield self._started(session)
            async for item in session:
                if isinstance(item, Event):
                    yield event_to_proto(item)
                else:
                    yield frame_to_proto(item, session.config)
        finally:
            self._slots -= 1
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
            if session is not None:
                self.sessions.pop(session.id, None)
                await session.aclose()

    async def _open(self, requests: AsyncIterator[pb.PerformRequest]) -> LiveSession:
        """Read the config (first and once), resolve the avatar, start the session."""
        try:
            first = await anext(requests)
        except StopAsyncIteration:
            raise PreconditionError(
                "config: the stream ended before a config was sent", field="config"
            ) from None
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
        assert self.engine is not None
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

    async def _read(self, requests: AsyncIterator[pb.PerformRequest], session: LiveSession) -> None:
        """Feed the session from the request stream; a bad request fails the session."""
        try:
            async for req in requests:
                if self.draining:
                    break  # shutting down: what was sent so far is flushed, the rest ignored
                kind = req.WhichOneof("request")
                if kind == "audio":
                    if len(req.audio.pcm) > self.limits.max_audio_chunk_bytes:
                        raise ResourceExhaustedError(
                            f"audio.pcm is {len(req.audio.pcm)} bytes; the limit per chunk is "
                            f"{self.limits.max_audio_chunk_bytes}",
                            field="audio.pcm",
                        )
                    pcm = pcm16_from_bytes(req.audio.pcm, "audio.pcm")
                    await session.writable()  # backpressure: stop reading while audio is pending
                    session.push_audio(pcm)
                elif kind == "end_of_utterance":
                    session.end_utterance()
                elif kind == "interrupt":
                    session.interrupt()
                elif kind == "config":
                    raise PreconditionError(
                        "config: sent twice; a session takes one config, first", field="config"
                    )
                else:
                    raise InvalidInputError(
                        "request: empty PerformRequest (no oneof field set)", field="request"
                    )
            session.finish()  # the client half-closed: flush, deliver the rest, end the rpc
        except LPMError as e:
            session.fail(e)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the call was cancelled under us (grpc raises its own errors)
            log.debug("request stream of %s ended: %r", session.id, e)
            session.close()

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
        """Shutting down: refuse new sessions, let every live one flush and end."""
        self.draining = True
        for session in list(self.sessions.values()):
            session.finish()

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
                active_sessions=len(self.sessions),
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


def add_to_server(servicer: BridgeServicer, server: Any) -> None:
    pb_grpc.add_BridgeServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
