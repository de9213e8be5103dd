"""The WebSocket gateway end to end: a daemon subprocess with ``--ws-port 0``, a real socket.

This is the wire format the Godot client (clients/godot) speaks: JSON text requests,
binary PCM, text events, binary frames of ``[u32 n][n bytes JSON][image]``. After a call's
final message (an avatar, an error) the client closes, as a client should: the server
waits for that close (up to 5 s) rather than closing right behind the message
(test_websocket_hardening.py checks the wait and the close codes).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import struct
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from daemon_harness import SR, Daemon, speech
from face_helpers import mirrored_astronaut_png
from PIL import Image
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def ws_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, str]]:
    d = Daemon(tmp_path_factory.mktemp("avatars"), "--ws-port", "0")
    try:
        line = d.wait_for("websocket gateway on")
        d.wait_for("serving on")
        yield d, line.split("websocket gateway on ")[1].split()[0]
    finally:
        d.stop()


@pytest.fixture
def ws_url(ws_daemon: tuple[Daemon, str]) -> str:
    return ws_daemon[1]


def decode(message: str | bytes) -> tuple[dict[str, Any], bytes]:
    """A server message -> (JSON document, image bytes or b"")."""
    if isinstance(message, str):
        return json.loads(message), b""
    (n,) = struct.unpack_from("<I", message)
    return json.loads(message[4 : 4 + n]), message[4 + n :]


async def read_final(ws: ClientConnection) -> list[tuple[dict[str, Any], bytes]]:
    """Read up to the call's final message (an avatar or an error), then close."""
    out: list[tuple[dict[str, Any], bytes]] = []
    try:
        async with asyncio.timeout(30):
            async for message in ws:
                out.append(decode(message))
                doc = out[-1][0]
                if "avatar" in doc or doc.get("event", {}).get("type") == "EVENT_TYPE_ERROR":
                    break
    except ConnectionClosed:
        pass
    await ws.close()
    return out


def error_of(received: list[tuple[dict[str, Any], bytes]]) -> dict[str, Any]:
    """The one EVENT_TYPE_ERROR event of a failed call."""
    errors = [
        d["event"] for d, _ in received if d.get("event", {}).get("type") == "EVENT_TYPE_ERROR"
    ]
    assert len(errors) == 1, received
    return errors[0]


async def test_utterance_over_websocket(ws_url: str) -> None:
    clip = speech(1.2)
    async with connect(ws_url, max_size=8 * 1024 * 1024) as ws:
        await ws.send(json.dumps({"config": {"sample_rate_hz": SR, "seed": 3}}))
        started, _ = decode(await ws.recv())
        assert (
            started["started"]["width"] == 256 and len(started["started"]["blendshape_names"]) == 52
        )
        for i in range(0, len(clip), 640):  # 20 ms chunks, as binary messages
            await ws.send(clip[i : i + 640])
        await ws.send(json.dumps({"end_of_utterance": {}}))
        events: list[dict[str, Any]] = []
        frames: list[tuple[dict[str, Any], bytes]] = []
        while not any(e["type"] == "EVENT_TYPE_UTTERANCE_END" for e in events):
            doc, image = decode(await ws.recv())
            if "event" in doc:
                events.append(doc["event"])
            elif "frame" in doc:
                frames.append((doc["frame"], image))
    start = next(e for e in events if e["type"] == "EVENT_TYPE_UTTERANCE_START")
    end = next(e for e in events if e["type"] == "EVENT_TYPE_UTTERANCE_END")
    t0 = int(start["pts_samples"])
    assert int(end["pts_samples"]) == t0 + len(clip) // 2 - 1
    speaking = [f for f, _ in frames if f["speaking"]]
    assert len(speaking) >= int(1.2 * 25) - 1
    for f, image in frames:
        # exact timeline: pts = floor(index * sr / fps), 64-bit ints as JSON strings
        assert int(f["pts_samples"]) == int(f["index"]) * SR // 25
        assert f["encoding"] == "FRAME_ENCODING_JPEG"
        picture = Image.open(io.BytesIO(image))
        assert picture.size == (256, 256) and picture.mode == "RGB"
    indices = [int(f["index"]) for f, _ in frames]
    assert indices == sorted(indices)


@pytest.mark.parametrize(
    ("messages", "status", "field"),
    [
        ([{"config": {"sample_rate_hz": 1000}}], 3, "config.sample_rate_hz"),
        (["{not json"], 3, "message"),
        (["[]"], 3, "message"),  # JSON, but not an object
        ([b"\x00\x00" * 160], 9, "config"),  # audio before config
        ([{"config": {"sample_rate_hz": SR, "avatar_id": "nobody"}}], 5, "config.avatar_id"),
        ([{"config": {"sample_rate_hz": SR}}, b"\x01\x02\x03"], 3, "audio.pcm"),
    ],
)
async def test_bad_input_ends_with_status(
    ws_url: str, messages: list[Any], status: int, field: str
) -> None:
    async with connect(ws_url) as ws:
        for m in messages:
            await ws.send(m if isinstance(m, bytes | str) else json.dumps(m))
        error = error_of(await read_final(ws))
    assert error["status_code"] == status and error["field"] == field
    assert field in error["message"]


async def test_unknown_path_is_not_found(ws_url: str) -> None:
    async with connect(ws_url.replace("/v1/perform", "/nope")) as ws:
        error = error_of(await read_final(ws))
    assert error["status_code"] == 5 and error["field"] == "path"


def register_url(ws_url: str) -> str:
    return ws_url.replace("/v1/perform", "/v1/register_avatar")


async def test_register_avatar_then_perform_with_it(ws_url: str) -> None:
    """What the Godot client does at level load: register the NPC's face over the gateway,
    then start its session with the returned id."""
    request = {
        "portrait_image": base64.b64encode(mirrored_astronaut_png()).decode(),
        "name": "mirror",
        "sizes": [256],
    }
    ids = []
    for _ in range(2):  # the same bytes again: the same avatar, at once
        async with connect(register_url(ws_url), max_size=8 * 1024 * 1024) as ws:
            await ws.send(json.dumps(request))
            received = await read_final(ws)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
        assert len(received) == 1
        avatar = received[0][0]["avatar"]
        assert avatar["name"] == "mirror" and avatar["builtin"] is False
        assert 256 in avatar["sizes"] and len(avatar["content_sha256"]) == 64
        ids.append(avatar["id"])
    assert ids[0] == ids[1] and ids[0] != "default"
    async with connect(ws_url, max_size=8 * 1024 * 1024) as ws:
        await ws.send(json.dumps({"config": {"sample_rate_hz": SR, "avatar_id": ids[0]}}))
        started, _ = decode(await ws.recv())
        assert started["started"]["config"]["avatar_id"] == ids[0]
        doc, image = decode(await ws.recv())  # idle frames flow between lines
        assert "frame" in doc and Image.open(io.BytesIO(image)).size == (256, 256)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (b"\x89PNG", "message"),  # a binary message: the request is JSON text
        ("{not json", "message"),
        ({"portrait_image": base64.b64encode(b"not an image").decode()}, "portrait_image"),
        ({"portrait_image": base64.b64encode(b"x").decode(), "sizes": [300]}, "sizes"),
    ],
)
async def test_register_avatar_bad_input_ends_with_status(
    ws_url: str, message: Any, field: str
) -> None:
    async with connect(register_url(ws_url)) as ws:
        await ws.send(message if isinstance(message, bytes | str) else json.dumps(message))
        error = error_of(await read_final(ws))
    assert error["status_code"] == 3 and error["field"] == field


async def test_a_flood_of_silent_connections_is_capped(ws_daemon: tuple[Daemon, str]) -> None:
    """The issue: 1,008 silent connections to /v1/register_avatar used up the daemon's file
    descriptors, and then gRPC failed too. Now the gateway holds 64 at most and refuses
    the rest with HTTP 503; its descriptors stay bounded and gRPC keeps answering."""
    daemon, url = ws_daemon
    fds = f"/proc/{daemon.proc.pid}/fd"
    before = len(os.listdir(fds))
    held: list[ClientConnection] = []
    refused = 0
    try:
        for _ in range(150):
            try:
                held.append(await connect(register_url(url), open_timeout=10))
            except InvalidStatus as e:
                assert e.response.status_code == 503 and b"max_connections" in e.response.body
                refused += 1
        assert len(held) <= 64 and refused >= 150 - 64  # (an earlier test may still hold one)
        assert len(os.listdir(fds)) <= before + 64 + 8
        async with grpc.aio.insecure_channel(daemon.target) as channel:
            stub = pb_grpc.BridgeStub(channel)  # type: ignore[no-untyped-call]
            info = await stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
            assert info.version
    finally:
        await asyncio.gather(*(ws.close() for ws in held))
