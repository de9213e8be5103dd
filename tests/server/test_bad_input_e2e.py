"""End-to-end: every kind of bad input gets a clear status naming the field, while another
session on the same daemon keeps receiving frames and the daemon carries on."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

import grpc
import pytest
from daemon_harness import SR, Call, audio, config, speech
from PIL import Image

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc
from lpm_bridge.appearance import default_avatar_image

Code = grpc.StatusCode


def png(color: tuple[int, int, int] = (120, 120, 120), size: int = 300) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()


CASES: dict[str, tuple[list[pb.PerformRequest], Code, str]] = {
    "audio_before_config": ([audio(speech(0.1))], Code.FAILED_PRECONDITION, "config"),
    "second_config": ([config(), config()], Code.FAILED_PRECONDITION, "config"),
    "empty_request": ([config(), pb.PerformRequest()], Code.INVALID_ARGUMENT, "request"),
    "unknown_avatar": ([config(avatar_id="0123456789abcdef")], Code.NOT_FOUND, "config.avatar_id"),
    "not_an_image": (
        [config(portrait_image=b"definitely not a picture")],
        Code.INVALID_ARGUMENT,
        "config.portrait_image",
    ),
    "no_face": ([config(portrait_image=png())], Code.INVALID_ARGUMENT, "config.portrait_image"),
    "odd_pcm": ([config(), audio(b"\x01\x02\x03")], Code.INVALID_ARGUMENT, "audio.pcm"),
    "rate_low": ([config(sample_rate_hz=7999)], Code.INVALID_ARGUMENT, "config.sample_rate_hz"),
    "rate_high": ([config(sample_rate_hz=48001)], Code.INVALID_ARGUMENT, "config.sample_rate_hz"),
    "rate_missing": ([config(sample_rate_hz=0)], Code.INVALID_ARGUMENT, "config.sample_rate_hz"),
    "size": ([config(size=300)], Code.INVALID_ARGUMENT, "config.size"),
    "fps": ([config(fps=24)], Code.INVALID_ARGUMENT, "config.fps"),
    "steps": ([config(inference_steps=99)], Code.INVALID_ARGUMENT, "config.inference_steps"),
    "jpeg_quality": ([config(jpeg_quality=101)], Code.INVALID_ARGUMENT, "config.jpeg_quality"),
    "lookahead": ([config(lookahead_ms=81)], Code.INVALID_ARGUMENT, "config.lookahead_ms"),
    "oversized_chunk": (
        [config(), audio(b"\x00" * (4 * 1024 * 1024 + 2))],
        Code.RESOURCE_EXHAUSTED,
        "audio.pcm",
    ),
    "oversized_message": (
        [config(), audio(b"\x00" * (9 * 1024 * 1024))],
        Code.RESOURCE_EXHAUSTED,
        "",
    ),
}


async def expect_status(
    stub: pb_grpc.BridgeStub, reqs: list[pb.PerformRequest]
) -> grpc.aio.AioRpcError:
    c = Call(stub)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.send(*reqs)
        await c.drain(timeout=30)
    return err.value


@pytest.fixture
async def witness(stub: pb_grpc.BridgeStub) -> Callable[[], int]:
    """A healthy session that keeps reading idle frames in the background."""
    c = Call(stub)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE))

    async def read_forever() -> None:
        while await c.read() is not None:
            pass

    task = asyncio.create_task(read_forever())
    yield lambda: len(c.frames)
    task.cancel()
    c.call.cancel()


async def test_bad_inputs_fail_alone(stub: pb_grpc.BridgeStub, witness: Callable[[], int]) -> None:
    await asyncio.sleep(0.5)
    for name, (reqs, code, field) in CASES.items():
        before = witness()
        e = await expect_status(stub, reqs)
        assert e.code() == code, (name, e.code(), e.details())
        assert field in (e.details() or ""), (name, e.details())
        await asyncio.sleep(0.15)
        assert witness() > before, f"the other session stalled after {name}"
    # and the daemon still serves a fresh, good session
    c = Call(stub)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE), audio(speech(0.3)))
    await c.read_until(lambda m: m.WhichOneof("response") == "frame" and m.frame.speaking)
    c.call.cancel()


async def test_error_is_also_sent_in_band(stub: pb_grpc.BridgeStub) -> None:
    c = Call(stub)
    await c.send(config(), audio(b"\x01"))
    with pytest.raises(grpc.aio.AioRpcError):
        await c.drain()
    errors = [e for e in c.events if e.type == pb.EVENT_TYPE_ERROR]
    assert errors and errors[0].field == "audio.pcm"
    assert errors[0].status_code == Code.INVALID_ARGUMENT.value[0]


async def test_bad_avatar_requests(stub: pb_grpc.BridgeStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.RegisterAvatar(pb.RegisterAvatarRequest(portrait_image=b"nope"))
    assert e.value.code() == Code.INVALID_ARGUMENT and "portrait_image" in (e.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.RegisterAvatar(
            pb.RegisterAvatarRequest(portrait_image=default_avatar_image(), sizes=[256, 300])
        )
    assert e.value.code() == Code.INVALID_ARGUMENT
    assert "sizes: 300 is not an output size; use 256 or 512" in (e.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.DeleteAvatar(pb.DeleteAvatarRequest(id="ffffffffffffffff"))
    assert e.value.code() == Code.NOT_FOUND and "id" in (e.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.DeleteAvatar(pb.DeleteAvatarRequest(id="default"))
    assert e.value.code() == Code.FAILED_PRECONDITION


async def test_sample_rates_at_the_limits_work(stub: pb_grpc.BridgeStub) -> None:
    for rate in (8000, 48000):
        c = Call(stub)
        await c.send(
            config(sample_rate_hz=rate, encoding=pb.FRAME_ENCODING_NONE),
            audio(speech(0.3, rate)),
            pb.PerformRequest(end_of_utterance=pb.EndOfUtterance()),
        )
        await c.call.done_writing()
        await c.drain()
        assert sum(f.speaking for f in c.frames) == 8  # 0.3 s at 25 fps, rounded up
        assert all(f.pts_samples == f.index * rate // 25 for f in c.frames)
    assert SR == 16000


async def test_lookahead_defaults_to_40_and_zero_is_kept(stub: pb_grpc.BridgeStub) -> None:
    """``lookahead_ms`` is optional: unset is the default (40 ms), an explicit 0 stays 0."""
    echoed = {}
    for kw in ({}, {"lookahead_ms": 0}, {"lookahead_ms": 80}):
        c = Call(stub)
        await c.send(config(encoding=pb.FRAME_ENCODING_NONE, **kw))
        await c.read_until(lambda m: m.WhichOneof("response") == "started")
        c.call.cancel()
        assert c.started is not None
        echoed[kw.get("lookahead_ms")] = c.started.config.lookahead_ms
    assert echoed == {None: 40, 0: 0, 80: 80}
    info = await stub.GetServerInfo(pb.GetServerInfoRequest())
    assert info.limits.max_lookahead_ms == 80
