"""Python client of the lpm-bridge daemon: async ``BridgeClient``, a small sync wrapper, and
``stream_wav`` (what ``lpm-bridge stream`` runs).

Playback sync, as a game does it (docs/protocol.md, "Playing in sync"): start playing the
utterance's audio a fixed playout delay after its first chunk is sent (the delay covers the
model's lookahead and compute, like a jitter buffer) and call that instant the utterance's start
``T`` (UTTERANCE_START.pts_samples); at audio clock ``a`` samples into the utterance, show the
frame whose ``pts_samples`` is the largest that is <= ``T + a``. ``PlaybackClock`` does that.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc

CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 4 * 1024 * 1024)]
PLAYOUT_DELAY_MS = 150  # audio starts this long after its first chunk is sent (the latency budget)


class Performance:
    """One live Perform call: write audio and markers, iterate responses."""

    def __init__(self, call: Any, config: pb.SessionConfig) -> None:
        self._call = call
        self._config = config
        self.started: pb.SessionStarted | None = None

    async def start(self) -> pb.SessionStarted:
        """Send the config and wait for SessionStarted (raises grpc.aio.AioRpcError on refusal)."""
        await self._call.write(pb.PerformRequest(config=self._config))
        first: Any = await self._call.read()
        if first is grpc.aio.EOF or first.WhichOneof("response") != "started":
            # A refused session gets an in-band ERROR event, then the rpc fails: reading on
            # raises grpc.aio.AioRpcError with the status and the message naming the field.
            while first is not grpc.aio.EOF:
                first = await self._call.read()
            raise RuntimeError("the server ended the session before SessionStarted")
        started: pb.SessionStarted = first.started
        self.started = started
        return started

    async def send_audio(self, pcm: bytes | np.ndarray) -> None:
        data = pcm if isinstance(pcm, bytes) else np.asarray(pcm, dtype="<i2").tobytes()
        await self._call.write(pb.PerformRequest(audio=pb.AudioChunk(pcm=data)))

    async def end_utterance(self) -> None:
        await self._call.write(pb.PerformRequest(end_of_utterance=pb.EndOfUtterance()))

    async def interrupt(self) -> None:
        await self._call.write(pb.PerformRequest(interrupt=pb.Interrupt()))

    async def close_input(self) -> None:
        """Half-close: the server flushes the rest and ends the stream."""
        await self._call.done_writing()

    def cancel(self) -> None:
        self._call.cancel()

    async def __aiter__(self) -> AsyncIterator[pb.PerformResponse]:
        while True:
            msg = await self._call.read()
            if msg is grpc.aio.EOF:
                return
            yield msg


class BridgeClient:
    """Async client. ``async with BridgeClient("127.0.0.1:50051") as c: ...``"""

    def __init__(self, target: str) -> None:
        self.target = target
        self._channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        self.stub = pb_grpc.BridgeStub(self._channel)  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> BridgeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the daemon reports SERVING on grpc.health.v1."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        health = health_pb2_grpc.HealthStub(self._channel)
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.target} not SERVING after {timeout:.0f} s")
            await asyncio.sleep(0.2)

    def perform(self, config: pb.SessionConfig) -> Performance:
        return Performance(self.stub.Perform(), config)

    async def server_info(self) -> pb.ServerInfo:
        reply: pb.ServerInfo = await self.stub.GetServerInfo(pb.GetServerInfoRequest())
        return reply

    async def register_avatar(
        self, image: bytes, name: str = "", sizes: Sequence[int] = ()
    ) -> pb.Avatar:
        reply: pb.Avatar = await self.stub.RegisterAvatar(
            pb.RegisterAvatarRequest(portrait_image=image, name=name, sizes=list(sizes))
        )
        return reply

    async def list_avatars(self) -> list[pb.Avatar]:
        reply = await self.stub.ListAvatars(pb.ListAvatarsRequest())
        return list(reply.avatars)

    async def delete_avatar(self, avatar_id: str) -> None:
        await self.stub.DeleteAvatar(pb.DeleteAvatarRequest(id=avatar_id))


class SyncBridgeClient:
    """Blocking client for scripts and tools: avatars, server info and whole clips."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self.stub = pb_grpc.BridgeStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> SyncBridgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def server_info(self) -> pb.ServerInfo:
        reply: pb.ServerInfo = self.stub.GetServerInfo(pb.GetServerInfoRequest())
        return reply

    def register_avatar(self, image: bytes, name: str = "", sizes: Sequence[int] = ()) -> pb.Avatar:
        reply: pb.Avatar = self.stub.RegisterAvatar(
            pb.RegisterAvatarRequest(portrait_image=image, name=name, sizes=list(sizes))
        )
        return reply

    def list_avatars(self) -> list[pb.Avatar]:
        return list(self.stub.ListAvatars(pb.ListAvatarsRequest()).avatars)

    def delete_avatar(self, avatar_id: str) -> None:
        self.stub.DeleteAvatar(pb.DeleteAvatarRequest(id=avatar_id))

    def perform_clip(
        self, config: pb.SessionConfig, pcm: np.ndarray, chunk_samples: int = 16000
    ) -> Iterator[pb.PerformResponse]:
        """Send a whole clip at once (as a TTS engine would), then half-close; yield every reply."""

        def requests() -> Iterable[pb.PerformRequest]:
            yield pb.PerformRequest(config=config)
            data = np.asarray(pcm, dtype="<i2")
            for i in range(0, len(data), chunk_samples):
                yield pb.PerformRequest(
                    audio=pb.AudioChunk(pcm=data[i : i + chunk_samples].tobytes())
                )
            yield pb.PerformRequest(end_of_utterance=pb.EndOfUtterance())

        yield from self.stub.Perform(requests())


class PlaybackClock:
    """Which frame to show at a given audio position (the sync rule in the module docstring)."""

    def __init__(self) -> None:
        self._pts: list[int] = []
        self._frames: list[pb.Frame] = []

    def add(self, frame: pb.Frame) -> None:
        i = bisect.bisect(self._pts, frame.pts_samples)
        self._pts.insert(i, frame.pts_samples)
        self._frames.insert(i, frame)

    def frame_at(self, position_samples: int) -> pb.Frame | None:
        """The newest frame whose pts <= position (None before the first frame)."""
        i = bisect.bisect_right(self._pts, position_samples)
        return self._frames[i - 1] if i else None


@dataclass
class StreamReport:
    """What ``lpm-bridge stream`` prints."""

    time_to_first_frame_ms: float | None = None  # first audio chunk sent -> first speech frame
    frames_received: int = 0
    speech_frames: int = 0
    late_frames: int = 0  # speech frames that arrived after their pts on the playback clock
    playout_delay_ms: float = PLAYOUT_DELAY_MS  # playback clock = first send + this
    utterance_start_pts: int | None = None
    utterance_end_pts: int | None = None
    events: list[str] = field(default_factory=list)
    out: str = ""


def decode_image(frame: pb.Frame) -> np.ndarray:
    """A Frame's picture as (H, W, 3) uint8."""
    if frame.encoding == pb.FRAME_ENCODING_JPEG:
        from lpm_bridge.frames import decode_jpeg

        return decode_jpeg(frame.image)
    channels = 4 if frame.encoding == pb.FRAME_ENCODING_RGBA8 else 3
    return np.frombuffer(frame.image, np.uint8).reshape(frame.height, frame.width, channels)[
        ..., :3
    ]


def session_config(
    sample_rate: int,
    *,
    avatar_id: str | None = None,
    image: bytes | None = None,
    size: int = 256,
    fps: int = 25,
    seed: int | None = None,
    steps: int = 0,
    encoding: int = pb.FRAME_ENCODING_JPEG,
    blendshapes: bool = False,
    lookahead_ms: int | None = None,
) -> pb.SessionConfig:
    """A SessionConfig with the given avatar (id or portrait bytes; neither: "default").

    ``seed`` and ``lookahead_ms`` None: the server's choice (a random seed; 40 ms).
    """
    config = pb.SessionConfig(
        sample_rate_hz=sample_rate,
        fps=fps,
        size=size,
        encoding=encoding,  # type: ignore[arg-type]
        inference_steps=steps,
        blendshapes=blendshapes,
    )
    if image is not None:
        config.portrait_image = image
    elif avatar_id:
        config.avatar_id = avatar_id
    if seed is not None:
        config.seed = seed
    if lookahead_ms is not None:
        config.lookahead_ms = lookahead_ms
    return config


async def _send_clip(
    perf: Performance, pcm: np.ndarray, chunk: int, rate: int, realtime: bool
) -> float:
    """Send ``pcm`` in chunks (at real-time pace if asked), end the utterance, half-close.

    Returns the monotonic time the first chunk was sent: the playback clock's zero.
    """
    t0 = time.monotonic()
    for offset in range(0, len(pcm), chunk):
        if realtime:
            await asyncio.sleep(max(0.0, t0 + offset / rate - time.monotonic()))
        await perf.send_audio(pcm[offset : offset + chunk])
    await perf.end_utterance()
    await perf.close_input()
    return t0


async def stream_wav(
    target: str,
    audio: str | Path,
    out: str | Path | None,
    *,
    realtime: bool = False,
    chunk_ms: int = 20,
    playout_delay_ms: float = PLAYOUT_DELAY_MS,
    **config: Any,
) -> StreamReport:
    """Stream a WAV as a game would and write the returned frames with the audio to an MP4."""
    from lpm_bridge.audio import read_wav

    pcm, rate = read_wav(audio, "--audio")
    chunk = max(1, rate * chunk_ms // 1000)
    report = StreamReport(out=str(out or ""), playout_delay_ms=playout_delay_ms)
    clock = PlaybackClock()
    async with BridgeClient(target) as client:
        perf = client.perform(session_config(rate, **config))
        await perf.start()
        t_send = time.monotonic()  # first chunk leaves right after this
        sender = asyncio.create_task(_send_clip(perf, pcm, chunk, rate, realtime))
        try:
            async for msg in perf:
                _account(msg, time.monotonic() - t_send, rate, report, clock)
        finally:
            await sender
    if out is not None and report.utterance_start_pts is not None:
        _write_video(out, clock, report.utterance_start_pts, pcm, rate, config.get("fps", 25))
    return report


def _account(
    msg: pb.PerformResponse, elapsed: float, rate: int, report: StreamReport, clock: PlaybackClock
) -> None:
    kind = msg.WhichOneof("response")
    if kind == "event":
        ev = msg.event
        report.events.append(f"{pb.EventType.Name(ev.type)}@{ev.pts_samples}")
        if ev.type == pb.EVENT_TYPE_UTTERANCE_START:
            report.utterance_start_pts = ev.pts_samples
        elif ev.type == pb.EVENT_TYPE_UTTERANCE_END:
            report.utterance_end_pts = ev.pts_samples
        return
    if kind != "frame":
        return
    frame = msg.frame
    report.frames_received += 1
    clock.add(frame)
    if frame.speaking and report.utterance_start_pts is not None:
        report.speech_frames += 1
        if report.time_to_first_frame_ms is None:
            report.time_to_first_frame_ms = round(elapsed * 1000, 1)
        # When the playback clock reaches this frame's pts, in seconds after the first send.
        due = (
            report.playout_delay_ms / 1000 + (frame.pts_samples - report.utterance_start_pts) / rate
        )
        if elapsed > due:
            report.late_frames += 1


def _write_video(
    out: str | Path, clock: PlaybackClock, start: int, pcm: np.ndarray, rate: int, fps: int
) -> None:
    """Frame k of the video is the frame shown at audio position start + k / fps."""
    from lpm_bridge.video import write_mp4

    n = -(-len(pcm) * fps // rate)

    def pictures() -> Iterator[np.ndarray]:
        last: tuple[int, np.ndarray] | None = None
        for k in range(n):
            frame = clock.frame_at(start + k * rate // fps)
            if frame is None:
                continue
            if last is None or last[0] != frame.index:
                last = (frame.index, decode_image(frame))
            yield last[1]

    write_mp4(out, pictures(), fps=fps, audio=pcm, sample_rate=rate)
