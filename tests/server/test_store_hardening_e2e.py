"""End-to-end over a real socket: what a hostile client did to the avatar path (issue 18).

Concurrent face-less portraits crashed the daemon (dlib shared by threads); a 3 MiB name
broke ListAvatars; a 1 MB id turned NOT_FOUND into RESOURCE_EXHAUSTED; a one-off portrait
was reachable by its hash; a PNG bomb cost seconds; the store's disk use had no bound.
The daemon here runs with ``--avatars-quota-mb 12`` (two avatars at 256 px).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Iterator

import grpc
import pytest
from daemon_harness import Call, Daemon, config, started
from face_helpers import mirrored_astronaut_png
from image_helpers import noise_png, png_bomb
from PIL import Image

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc
from lpm_bridge.appearance import default_avatar_image

Code = grpc.StatusCode
pytestmark = pytest.mark.timeout(180)  # the daemon's start-up (model load) included


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with started(Daemon(tmp_path_factory.mktemp("avatars"), "--avatars-quota-mb", "12")) as d:
        yield d


def _reencoded(png: bytes, fmt: str, side: int | None = None) -> bytes:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    if side:
        img = img.resize((side, side))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


async def _status(coro: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await coro  # type: ignore[misc]
    return e.value


async def _perform_status(stub: pb_grpc.BridgeStub, req: pb.PerformRequest) -> grpc.aio.AioRpcError:
    c = Call(stub)
    await c.send(req)
    return await _status(c.drain(timeout=30))


async def _open(stub: pb_grpc.BridgeStub, req: pb.PerformRequest) -> Call:
    c = Call(stub)
    await c.send(req)
    await c.read_until(lambda m: m.WhichOneof("response") == "started", timeout=30)
    return c


async def test_concurrent_faceless_portraits_leave_the_daemon_up(
    daemon: Daemon, stub: pb_grpc.BridgeStub
) -> None:
    performs = [_perform_status(stub, config(portrait_image=noise_png(i))) for i in range(6)]
    registers = [
        _status(stub.RegisterAvatar(pb.RegisterAvatarRequest(portrait_image=noise_png(10 + i))))
        for i in range(2)
    ]
    errors = await asyncio.wait_for(asyncio.gather(*performs, *registers), 60)
    for e in errors:
        assert e.code() == Code.INVALID_ARGUMENT, (e.code(), e.details())
        assert "portrait_image" in (e.details() or "") and "face" in (e.details() or "")
    assert daemon.proc.poll() is None, "".join(daemon.log[-30:])
    listed = await stub.ListAvatars(pb.ListAvatarsRequest())
    assert [a.id for a in listed.avatars] == ["default"]  # no noise was stored as a face


async def test_huge_names_and_ids_are_invalid_argument(stub: pb_grpc.BridgeStub) -> None:
    e = await _status(
        stub.RegisterAvatar(
            pb.RegisterAvatarRequest(portrait_image=default_avatar_image(), name="n" * 3 * 2**20)
        )
    )
    assert e.code() == Code.INVALID_ARGUMENT and "name is 3145728 characters" in e.details()
    huge = "f" * 2**20
    e = await _perform_status(stub, config(avatar_id=huge))
    assert e.code() == Code.INVALID_ARGUMENT and "config.avatar_id" in e.details()
    assert len(e.details()) < 300
    e = await _status(stub.DeleteAvatar(pb.DeleteAvatarRequest(id=huge)))
    assert e.code() == Code.INVALID_ARGUMENT and e.details().startswith("id")
    e = await _perform_status(stub, config(avatar_id="0" * 64))  # well-formed, unknown
    assert e.code() == Code.NOT_FOUND
    names = [a.name for a in (await stub.ListAvatars(pb.ListAvatarsRequest())).avatars]
    assert names == ["built-in default"]


async def test_one_off_portrait_is_not_reachable_by_its_hash(stub: pb_grpc.BridgeStub) -> None:
    portrait = _reencoded(default_avatar_image(), "PNG", side=400)
    c = await _open(stub, config(portrait_image=portrait))
    c.call.cancel()
    sha = hashlib.sha256(portrait).hexdigest()
    for guess in (sha, sha[:16]):
        e = await _perform_status(stub, config(avatar_id=guess))
        assert e.code() == Code.NOT_FOUND, (guess, e.code(), e.details())


async def test_png_bomb_is_refused_at_once(stub: pb_grpc.BridgeStub) -> None:
    t0 = time.monotonic()
    e = await _status(
        stub.RegisterAvatar(pb.RegisterAvatarRequest(portrait_image=png_bomb(6300, 6300)))
    )
    assert time.monotonic() - t0 < 1.0  # was 1.3-1.9 s of CPU, then "no face"
    assert e.code() == Code.INVALID_ARGUMENT
    assert "portrait_image" in e.details() and "6300x6300" in e.details()


async def test_store_quota_evicts_unused_avatars_then_refuses(stub: pb_grpc.BridgeStub) -> None:
    faces = [
        default_avatar_image(),
        mirrored_astronaut_png(),
        _reencoded(default_avatar_image(), "JPEG"),
        _reencoded(mirrored_astronaut_png(), "JPEG"),
    ]

    async def register(image: bytes) -> str:
        made = await stub.RegisterAvatar(pb.RegisterAvatarRequest(portrait_image=image))
        return made.id

    async def stored() -> set[str]:
        listed = (await stub.ListAvatars(pb.ListAvatarsRequest())).avatars
        return {a.id for a in listed if not a.builtin}

    a, b = await register(faces[0]), await register(faces[1])
    assert await stored() == {a, b}
    session_a = await _open(stub, config(avatar_id=a))  # a is in use and newer than b
    c = await register(faces[2])
    assert await stored() == {a, c}  # b, least recently used, made room
    session_c = await _open(stub, config(avatar_id=c))
    e = await _status(register(faces[3]))
    assert e.code() == Code.RESOURCE_EXHAUSTED, (e.code(), e.details())
    assert "portrait_image" in e.details() and "avatar store is full" in e.details()
    assert "/" not in e.details()  # no server path
    assert await stored() == {a, c}  # avatars in use are never evicted
    for s in (session_a, session_c):
        s.call.cancel()
