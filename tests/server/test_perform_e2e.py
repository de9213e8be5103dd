"""End-to-end: Perform over a real socket against ``lpm-bridge serve`` in a subprocess."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
from daemon_harness import END, INTERRUPT, SR, Call, Daemon, audio, config, speech

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc
from lpm_bridge.motion import ARKIT_NAMES

FRAME_SAMPLES = SR // 25


def is_event(kind: int):  # type: ignore[no-untyped-def]
    return lambda m: m.WhichOneof("response") == "event" and m.event.type == kind


async def test_tts_clip_at_once_gets_every_frame_with_exact_pts(stub: pb_grpc.BridgeStub) -> None:
    c = Call(stub)
    clip = speech(2.0)
    await c.send(
        config(blendshapes=True), audio(clip[: len(clip) // 2]), audio(clip[len(clip) // 2 :]), END
    )
    await c.call.done_writing()
    await c.drain()
    s = c.started
    assert s is not None and s.width == s.height == 256
    assert list(s.blendshape_names) == list(ARKIT_NAMES) and s.viseme_names[0] == "sil"
    assert s.config.avatar_id == "default" and s.config.fps == 25 and s.config.seed == 7
    assert s.config.encoding == pb.FRAME_ENCODING_JPEG
    types = c.event_types()
    assert types == [pb.EVENT_TYPE_UTTERANCE_START, pb.EVENT_TYPE_UTTERANCE_END]
    start, end = c.events[0].pts_samples, c.events[1].pts_samples
    assert start % FRAME_SAMPLES == 0 and end == start + len(clip) // 2 - 1
    idx = [f.index for f in c.frames]
    assert idx == list(range(idx[0], idx[0] + len(idx)))  # consecutive, nothing dropped
    for f in c.frames:
        assert f.pts_samples == f.index * SR // 25 and abs(f.pts_seconds - f.index / 25) < 1e-9
        assert f.image[:2] == b"\xff\xd8" and f.width == 256  # JPEG
        assert len(f.blendshapes) == 52 and len(f.head_rotation) == 3
        assert all(0.0 <= w <= 1.0 for w in f.blendshapes)
    speaking = [f for f in c.frames if f.speaking]
    assert len(speaking) == 50 and speaking[0].pts_samples == start
    assert speaking[-1].pts_samples <= end < speaking[-1].pts_samples + FRAME_SAMPLES


async def test_realtime_audio_is_answered_with_low_latency(stub: pb_grpc.BridgeStub) -> None:
    c = Call(stub)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE))
    await c.read_until(lambda m: m.WhichOneof("response") == "started")
    clip, chunk = speech(1.6), 640  # 20 ms chunks
    reader = asyncio.create_task(
        c.read_until(lambda m: m.WhichOneof("response") == "frame" and m.frame.speaking)
    )
    t0 = time.monotonic()
    for i, off in enumerate(range(0, len(clip), chunk)):
        await asyncio.sleep(max(0.0, t0 + i * 0.02 - time.monotonic()))
        await c.send(audio(clip[off : off + chunk]))
    first = await reader
    latency = c.arrivals[-1] - t0
    await c.send(END)
    await c.read_until(is_event(pb.EVENT_TYPE_UTTERANCE_END))
    c.call.cancel()
    assert first.frame.speaking
    # lookahead (80 ms) + mel window + one frame; generous bound for a loaded 2-core CI box
    assert latency < 0.6, latency
    speaking = [f for f in c.frames if f.speaking]
    assert len(speaking) >= 35


async def test_idle_frames_keep_flowing_in_real_time(stub: pb_grpc.BridgeStub) -> None:
    c = Call(stub)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE, blendshapes=True))
    await c.read_until(lambda m: m.WhichOneof("response") == "frame")
    t0, n0 = time.monotonic(), len(c.frames)
    while time.monotonic() - t0 < 1.2:
        await c.read_until(lambda m: m.WhichOneof("response") == "frame", timeout=5)
    c.call.cancel()
    got = len(c.frames) - n0
    assert 22 <= got <= 36, got  # ~25 fps of idle frames at the live edge
    assert not any(f.speaking for f in c.frames)
    pts = [f.pts_samples for f in c.frames]
    assert pts == sorted(pts)
    # idle is alive, not frozen: some channel moves (blinks, head)
    motion = np.array([list(f.blendshapes) + list(f.head_rotation) for f in c.frames])
    assert motion.std(axis=0).max() > 1e-4


async def test_interrupt_stops_speech_and_returns_to_idle(stub: pb_grpc.BridgeStub) -> None:
    c = Call(stub)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE, blendshapes=True), audio(speech(8.0)))
    await c.read_until(lambda m: m.WhichOneof("response") == "frame" and m.frame.speaking)
    await c.send(INTERRUPT)
    ev = await c.read_until(is_event(pb.EVENT_TYPE_INTERRUPTED))
    stop = ev.event.pts_samples
    n_at_interrupt = len(c.frames)
    for _ in range(15):
        await c.read_until(lambda m: m.WhichOneof("response") == "frame", timeout=10)
    c.call.cancel()
    after = c.frames[n_at_interrupt:]
    assert after and not any(f.speaking for f in after)
    assert all(f.pts_samples < stop for f in c.frames if f.speaking)
    assert sum(f.speaking for f in c.frames) < 8.0 * 25  # the rest of the 8 s was dropped
    # no visual pop: motion changes smoothly across the interrupt
    motion = np.array([list(f.blendshapes) + list(f.head_rotation) for f in c.frames])
    step = np.abs(np.diff(motion, axis=0)).max(axis=1)
    i = n_at_interrupt - 1
    assert step[max(0, i - 2) : i + 3].max() <= max(0.6, 3 * float(np.percentile(step, 99)))


async def test_second_utterance_starts_at_the_live_edge(stub: pb_grpc.BridgeStub) -> None:
    c = Call(stub)
    await c.send(config(encoding=pb.FRAME_ENCODING_NONE), audio(speech(0.4)), END)
    first_end = await c.read_until(is_event(pb.EVENT_TYPE_UTTERANCE_END))
    await asyncio.sleep(0.5)
    t_send = time.monotonic()
    await c.send(audio(speech(0.4)), END)
    start = await c.read_until(is_event(pb.EVENT_TYPE_UTTERANCE_START))
    await c.read_until(is_event(pb.EVENT_TYPE_UTTERANCE_END))
    c.call.cancel()
    assert c.started is not None
    # the live edge is the later of the timeline end and the wall clock since the session began
    assert start.event.pts_samples > first_end.event.pts_samples
    assert start.event.pts_samples % FRAME_SAMPLES == 0
    wall = (t_send - c.started_at) * SR  # where the wall clock was when the audio was sent
    assert wall - 0.05 * SR <= start.event.pts_samples <= wall + 0.2 * SR


def test_cli_stream_writes_a_synced_mp4(daemon: Daemon, tmp_path: Path) -> None:
    wav, out = tmp_path / "line.wav", tmp_path / "line.mp4"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(speech(1.2))
    cmd = [sys.executable, "-m", "lpm_bridge", "stream", "--server", daemon.target,
           "--audio", str(wav), "--out", str(out), "--realtime", "--lookahead-ms", "0"]  # fmt: skip
    bad = subprocess.run([*cmd[:-1], "81"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and not out.exists()
    assert "INVALID_ARGUMENT" in bad.stderr and "config.lookahead_ms" in bad.stderr, bad.stderr
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(done.stdout)
    assert report["speech_frames"] == 30 and report["frames_received"] >= 30
    assert report["time_to_first_frame_ms"] is not None and report["late_frames"] >= 0
    from lpm_bridge.video import read_mp4_info

    info = read_mp4_info(out)
    assert info["frames"] == 30 and info["audio_codec"] == "aac" and info["sample_rate"] == SR


async def test_one_off_portrait_and_raw_encodings(stub: pb_grpc.BridgeStub) -> None:
    from lpm_bridge.appearance import default_avatar_image

    portrait = default_avatar_image()
    for encoding, channels in ((pb.FRAME_ENCODING_RGB8, 3), (pb.FRAME_ENCODING_RGBA8, 4)):
        c = Call(stub)
        await c.send(config(portrait_image=portrait, encoding=encoding), audio(speech(0.2)), END)
        await c.call.done_writing()
        await c.drain()
        assert c.started is not None and c.started.config.avatar_id == ""
        assert c.started.config.encoding == encoding
        for f in c.frames:
            assert f.encoding == encoding and len(f.image) == 256 * 256 * channels
        assert sum(f.speaking for f in c.frames) == 5
