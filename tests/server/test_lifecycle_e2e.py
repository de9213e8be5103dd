"""End-to-end: health states, reflection, --max-sessions, disconnects, graceful drain, and the
avatar store persisting across a daemon restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from daemon_harness import Call, Daemon, audio, config, speech
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc
from lpm_bridge.appearance import default_avatar_image

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health_status(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(reply.status)


async def active_sessions(stub: pb_grpc.BridgeStub) -> int:
    info = await stub.GetServerInfo(pb.GetServerInfoRequest())
    return int(info.limits.active_sessions)


async def wait_active(stub: pb_grpc.BridgeStub, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while await active_sessions(stub) != n:
        assert time.monotonic() < deadline, f"active sessions never became {n}"
        await asyncio.sleep(0.05)


async def test_health_limits_disconnect_and_drain(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "avatars", "--max-sessions", "2")
    try:
        async with grpc.aio.insecure_channel(d.target) as ch:
            # NOT_SERVING while the model loads, SERVING once ready
            assert await health_status(ch) == NOT_SERVING
            d.wait_for("serving on")
            assert await health_status(ch) == SERVING
            assert await health_status(ch, "lpm.bridge.v1.Bridge") == SERVING
            stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
            await _check_reflection(d.target)
            await _check_max_sessions_and_disconnect(stub)
            await _check_drain(d, ch)
        assert d.proc.wait(30) == 0
    finally:
        d.stop()


async def _check_reflection(target: str) -> None:
    with grpc.insecure_channel(target) as sync_channel:
        db = ProtoReflectionDescriptorDatabase(sync_channel)
        services = set(db.get_services())
    assert {"lpm.bridge.v1.Bridge", "grpc.health.v1.Health"} <= services


async def _check_max_sessions_and_disconnect(stub: pb_grpc.BridgeStub) -> None:
    a, b = Call(stub), Call(stub)
    for c in (a, b):
        await c.send(config(encoding=pb.FRAME_ENCODING_NONE))
        await c.read_until(lambda m: m.WhichOneof("response") == "frame")
    info = await stub.GetServerInfo(pb.GetServerInfoRequest())
    assert info.limits.max_sessions == 2 and info.limits.active_sessions == 2
    refused = Call(stub)
    t0 = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await refused.read()  # refused at once: before the client sends anything
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_sessions" in (e.value.details() or "")
    assert time.monotonic() - t0 < 2.0
    a.call.cancel()  # a client that disconnects mid-stream frees its session at once
    await wait_active(stub, 1)
    c = Call(stub)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE))
    await c.read_until(lambda m: m.WhichOneof("response") == "frame")
    c.call.cancel()
    b.call.cancel()
    await wait_active(stub, 0)


async def _check_drain(d: Daemon, ch: grpc.aio.Channel) -> None:
    watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service=""))
    first = await watch.read()
    assert first.status == SERVING
    stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
    live = Call(stub)
    await live.send(config(encoding=pb.FRAME_ENCODING_NONE), audio(speech(0.6)))
    await live.read_until(lambda m: m.WhichOneof("response") == "frame")
    d.proc.send_signal(__import__("signal").SIGTERM)
    status = await asyncio.wait_for(watch.read(), 10)
    assert status is not grpc.aio.EOF and status.status == NOT_SERVING  # draining
    await live.drain(timeout=20)  # the live session flushes its speech and ends cleanly
    assert any(e.type == pb.EVENT_TYPE_UTTERANCE_END for e in live.events)
    assert await live.call.code() == grpc.StatusCode.OK


async def test_avatars_persist_across_restart(tmp_path: Path) -> None:
    avatars = tmp_path / "avatars"
    portrait = default_avatar_image()
    d = Daemon(avatars)
    try:
        d.wait_for("serving on")
        async with grpc.aio.insecure_channel(d.target) as ch:
            stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
            made = await stub.RegisterAvatar(
                pb.RegisterAvatarRequest(portrait_image=portrait, name="astro")
            )
            again = await stub.RegisterAvatar(pb.RegisterAvatarRequest(portrait_image=portrait))
            assert made.id == again.id and len(made.id) == 16 and 256 in made.sizes
            listed = (await stub.ListAvatars(pb.ListAvatarsRequest())).avatars
            assert [a.id for a in listed] == ["default", made.id] and listed[0].builtin
    finally:
        assert d.stop() == 0
    d = Daemon(avatars)
    try:
        d.wait_for("serving on")
        async with grpc.aio.insecure_channel(d.target) as ch:
            stub = pb_grpc.BridgeStub(ch)  # type: ignore[no-untyped-call]
            listed = (await stub.ListAvatars(pb.ListAvatarsRequest())).avatars
            assert [(a.id, a.name) for a in listed][1] == (made.id, "astro")
            c = Call(stub)
            await c.send(config(avatar_id=made.id), audio(speech(0.3)))
            msg = await c.read_until(
                lambda m: m.WhichOneof("response") == "frame" and m.frame.speaking
            )
            assert msg.frame.image[:2] == b"\xff\xd8"
            assert c.started is not None and c.started.config.avatar_id == made.id
            c.call.cancel()
            await stub.DeleteAvatar(pb.DeleteAvatarRequest(id=made.id))
            listed = (await stub.ListAvatars(pb.ListAvatarsRequest())).avatars
            assert [a.id for a in listed] == ["default"]
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.DeleteAvatar(pb.DeleteAvatarRequest(id=made.id))
            assert e.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        d.stop()
