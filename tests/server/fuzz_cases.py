"""Fuzz cases for the daemon's gRPC door, and the oracle that judges every case's outcome.

A seeded RNG draws random and malformed ``Perform`` streams (raw bytes, so a message can be
garbage or a truncated protobuf) and a few odd unary calls; fuzz_ws_cases.py draws the
WebSocket ones. No I/O here: fuzz_run.py sends them to a real daemon.

The oracle states what docs/protocol.md allows for each case: the statuses a call may end
with and the fields its in-band error may name. It decodes each request as the server does
(the same protobuf library, the gateway's JSON mapping), so garbage that happens to decode
into a valid message is judged as that message; when several fields are wrong, any of them
may be named. The limits below are the documented ones, not imported from the server: the
fuzzer checks the contract.
"""

from __future__ import annotations

import enum
import hashlib
import io
import itertools
import random
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import grpc
import numpy as np
from google.protobuf.message import DecodeError
from PIL import Image

from lpm_bridge._proto import bridge_pb2 as pb

MIB: Final = 1024 * 1024
MAX_REQUEST_BYTES: Final = 8 * MIB  # one gRPC message / one WebSocket message
MAX_CHUNK_BYTES: Final = 4 * MIB  # one AudioChunk.pcm
MAX_IMAGE_BYTES: Final = 4 * MIB  # one portrait
MAX_ID_CHARS: Final = 64
MAX_NAME_CHARS: Final = 128
MAX_SEED: Final = 2**62
SAMPLE_RATES: Final = (8000, 48000)
FPS: Final = (25, 30, 60)
SIZES: Final = (256, 512)

# Outcomes besides gRPC status names (grpc.StatusCode.X.name).
END: Final = "END"  # the requests were all accepted: the ending decides (half-close: OK)
END_NO_CONFIG: Final = "END_NO_CONFIG"  # ... and none of them was a config
CLIENT_CLOSED: Final = "CLIENT_CLOSED"  # a WebSocket the client closed or dropped itself
#: Statuses no case may ever end with (undocumented).
NEVER: Final = frozenset({"UNKNOWN", "INTERNAL", "DATA_LOSS", "UNIMPLEMENTED"})
#: WebSocket close codes the gateway documents (besides 4000 + a status).
WS_LIBRARY_CLOSES: Final = frozenset({1000, 1002, 1007, 1009})

#: gRPC status names by numeric code (a WebSocket close code is 4000 + one of them).
STATUS_NAMES: Final[dict[int, str]] = {int(c.value[0]): str(c.name) for c in grpc.StatusCode}


def close_outcome(code: int) -> str:
    """A close code as an outcome: ``4003`` -> INVALID_ARGUMENT, ``1009`` -> CLOSE_1009."""
    if code - 4000 in STATUS_NAMES:
        return STATUS_NAMES[code - 4000]
    return f"CLOSE_{code}"


@dataclass(frozen=True)
class Expect:
    """What a case may end with: outcome names; the fields an error may name; and which
    statuses the server reports in-band (an EVENT_TYPE_ERROR naming one of those fields)
    rather than gRPC or the client itself (a message over the limit, a cancel)."""

    statuses: frozenset[str]
    fields: frozenset[str] = frozenset()
    evented: frozenset[str] = frozenset()

    @staticmethod
    def of(*statuses: str, fields: Sequence[str] = ()) -> Expect:
        """``statuses``; with ``fields``, errors the server reports naming one of them."""
        evented = (
            frozenset(statuses) - {"OK", END, END_NO_CONFIG, CLIENT_CLOSED} if fields else None
        )
        return Expect(frozenset(statuses), frozenset(fields), evented or frozenset())

    def __or__(self, other: Expect) -> Expect:
        return Expect(
            self.statuses | other.statuses,
            self.fields | other.fields,
            self.evented | other.evented,
        )

    def without(self, status: str) -> Expect:
        return Expect(self.statuses - {status}, self.fields, self.evented - {status})

    def replace(self, status: str, by: Expect) -> Expect:
        """``status`` (if it is one of ours) replaced by the outcomes of ``by``."""
        return self.without(status) | by if status in self.statuses else self


# ------------------------------------------------------------------ portraits
class Verdict(enum.Enum):
    """What the daemon must make of a portrait."""

    FACE = "face"  # accepted
    NOT_FACE = "not_face"  # INVALID_ARGUMENT naming the portrait field
    EITHER = "either"  # a damaged face: refused or accepted, both are fair


@dataclass(frozen=True)
class Portrait:
    name: str
    image: bytes
    verdict: Verdict
    cheap: bool  # refused before face detection (no header, too big, empty...)


@dataclass(frozen=True)
class Portraits:
    """The portraits cases draw from; any other bytes are not an image (NOT_FACE)."""

    items: tuple[Portrait, ...]
    by_hash: dict[str, Verdict] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for p in self.items:
            self.by_hash[hashlib.sha256(p.image).hexdigest()] = p.verdict

    def verdict(self, image: bytes) -> Verdict:
        return self.by_hash.get(hashlib.sha256(image).hexdigest(), Verdict.NOT_FACE)

    def pick(self, rng: random.Random, *, cheap: bool | None = None) -> Portrait:
        pool = [p for p in self.items if cheap is None or p.cheap == cheap]
        return rng.choice(pool)


def _encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR only: a file that promises ``width x height`` and ends."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + crc


def build_portraits(face_png: bytes, seed: int) -> Portraits:
    """Faces, damaged faces, noise and non-images (``face_png``: a portrait with one face)."""
    rng = np.random.default_rng(seed)
    face = Image.open(io.BytesIO(face_png)).convert("RGB")
    face_jpeg = _encoded(face, "JPEG")
    items = [
        Portrait("face_png", face_png, Verdict.FACE, False),
        Portrait("face_jpeg", face_jpeg, Verdict.FACE, False),
        Portrait("face_webp", _encoded(face, "WEBP"), Verdict.FACE, False),
        Portrait("face_png_cut", face_png[: len(face_png) // 2], Verdict.EITHER, False),
        Portrait("face_jpeg_cut", face_jpeg[: len(face_jpeg) * 2 // 3], Verdict.EITHER, False),
        Portrait("face_bmp", _encoded(face, "BMP"), Verdict.EITHER, False),
        Portrait("face_tiny", _encoded(face.resize((48, 48)), "PNG"), Verdict.EITHER, False),
        Portrait(
            "gray",
            _encoded(Image.new("RGB", (128, 128), (128,) * 3), "PNG"),
            Verdict.NOT_FACE,
            False,
        ),
        Portrait("empty", b"", Verdict.NOT_FACE, True),
        Portrait("zeros", bytes(1000), Verdict.NOT_FACE, True),
        Portrait("png_magic", b"\x89PNG\r\n\x1a\n", Verdict.NOT_FACE, True),
        Portrait("png_header_only", _png_header(300, 300), Verdict.NOT_FACE, True),
        Portrait("png_bomb_header", _png_header(30000, 30000), Verdict.NOT_FACE, True),
        Portrait("jpeg_magic", b"\xff\xd8\xff\xe0" + bytes(20), Verdict.NOT_FACE, True),
        Portrait("random", rng.bytes(4096), Verdict.NOT_FACE, True),
        Portrait("pixel", _encoded(Image.new("RGB", (1, 1)), "PNG"), Verdict.NOT_FACE, True),
    ]
    for i, side in enumerate((96, 128, 160)):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        items.append(
            Portrait(
                f"noise_{side}", _encoded(Image.fromarray(pixels), "PNG"), Verdict.NOT_FACE, False
            )
        )
        if i == 0:
            items.append(
                Portrait(
                    "noise_jpeg", _encoded(Image.fromarray(pixels), "JPEG"), Verdict.NOT_FACE, False
                )
            )
    return Portraits(tuple(items))


# ------------------------------------------------------------------ the oracle
Item = pb.PerformRequest | Expect  # a decoded request, or the error decoding it must give


def decode_grpc(raw: bytes) -> Item:
    """A raw gRPC message as the server reads it."""
    if len(raw) > MAX_REQUEST_BYTES:
        return Expect.of("RESOURCE_EXHAUSTED")  # gRPC's own limit: no field, no event
    try:
        request: pb.PerformRequest = pb.PerformRequest.FromString(raw)
    except DecodeError:
        return Expect.of("INVALID_ARGUMENT", fields=["request"])
    return request


def config_errors(cfg: pb.SessionConfig) -> frozenset[str]:
    """The ``config.<field>`` names out of their documented range (zero: the default)."""
    bad = set()
    if not SAMPLE_RATES[0] <= cfg.sample_rate_hz <= SAMPLE_RATES[1]:
        bad.add("sample_rate_hz")
    if cfg.encoding not in range(5):
        bad.add("encoding")
    if cfg.fps and cfg.fps not in FPS:
        bad.add("fps")
    if cfg.size and cfg.size not in SIZES:
        bad.add("size")
    if cfg.jpeg_quality > 100:
        bad.add("jpeg_quality")
    if cfg.inference_steps > 16:
        bad.add("inference_steps")
    if cfg.HasField("seed") and cfg.seed > MAX_SEED:
        bad.add("seed")
    if cfg.HasField("lookahead_ms") and cfg.lookahead_ms > 80:
        bad.add("lookahead_ms")
    return frozenset(f"config.{name}" for name in bad)


def expect_avatar(cfg: pb.SessionConfig, portraits: Portraits) -> Expect:
    """The avatar part of a config that passed its ranges (END: the session starts)."""
    which = cfg.WhichOneof("avatar")
    if which == "portrait_image":
        named = ["config.portrait_image"]
        if len(cfg.portrait_image) > MAX_IMAGE_BYTES:
            return Expect.of("RESOURCE_EXHAUSTED", fields=named)
        verdict = portraits.verdict(cfg.portrait_image)
        if verdict is Verdict.FACE:
            return Expect.of(END)
        if verdict is Verdict.EITHER:
            return Expect.of(END, "INVALID_ARGUMENT", fields=named)
        return Expect.of("INVALID_ARGUMENT", fields=named)
    if which == "avatar_id" and cfg.avatar_id not in ("", "default"):
        if len(cfg.avatar_id) > MAX_ID_CHARS:
            return Expect.of("INVALID_ARGUMENT", fields=["config.avatar_id"])
        return Expect.of("NOT_FOUND", fields=["config.avatar_id"])  # no avatar is registered
    return Expect.of(END)


def expect_after_config(items: Sequence[Item], overtaking: bool = False) -> Expect:
    """The messages of a started session: the first bad one ends it.

    ``overtaking``: the WebSocket gateway's interrupt drops the audio it has read ahead
    and not handed on (docs/protocol.md), so a bad chunk before an interrupt may never be
    checked; the call then goes on as if it had not been sent.
    """
    for i, item in enumerate(items):
        if isinstance(item, Expect):
            return item
        kind = item.WhichOneof("request")
        if kind is None:
            return Expect.of("INVALID_ARGUMENT", fields=["request"])
        if kind == "config":
            return Expect.of("FAILED_PRECONDITION", fields=["config"])
        if kind != "audio":
            continue
        if len(item.audio.pcm) > MAX_CHUNK_BYTES:
            error = Expect.of("RESOURCE_EXHAUSTED", fields=["audio.pcm"])
        elif len(item.audio.pcm) % 2:
            error = Expect.of("INVALID_ARGUMENT", fields=["audio.pcm"])
        else:
            continue
        rest = items[i + 1 :]
        if overtaking and any(_is_interrupt(x) for x in rest):
            return error | expect_after_config(rest, overtaking)
        return error
    return Expect.of(END)


def _is_interrupt(item: Item) -> bool:
    return not isinstance(item, Expect) and item.WhichOneof("request") == "interrupt"


def expect_stream(items: Sequence[Item], portraits: Portraits, overtaking: bool = False) -> Expect:
    """What a Perform stream of ``items`` may end with, before its ending is applied
    (``overtaking``: see expect_after_config)."""
    if not items:
        return Expect.of(END_NO_CONFIG)
    first = items[0]
    if isinstance(first, Expect):
        return first
    if first.WhichOneof("request") != "config":
        return Expect.of("FAILED_PRECONDITION", fields=["config"])
    if bad := config_errors(first.config):
        return Expect(frozenset({"INVALID_ARGUMENT"}), bad, frozenset({"INVALID_ARGUMENT"}))
    head = expect_avatar(first.config, portraits)
    if END not in head.statuses:
        return head
    return head.without(END) | expect_after_config(items[1:], overtaking)


def expect_register(item: pb.RegisterAvatarRequest | Expect, portraits: Portraits) -> Expect:
    """A RegisterAvatar request (gRPC or the gateway's): every fuzzed one is refused."""
    if isinstance(item, Expect):
        return item
    if len(item.portrait_image) > MAX_IMAGE_BYTES:
        return Expect.of("RESOURCE_EXHAUSTED", fields=["portrait_image"])
    bad = []
    if any(s not in SIZES for s in item.sizes):
        bad.append("sizes")
    if len(item.name) > MAX_NAME_CHARS:
        bad.append("name")
    verdict = portraits.verdict(item.portrait_image)
    if verdict is not Verdict.FACE:
        bad.append("portrait_image")
    statuses = ["INVALID_ARGUMENT"] if bad else ["OK"]
    if verdict is Verdict.EITHER and bad == ["portrait_image"]:
        statuses.append("OK")
    return Expect.of(*statuses, fields=bad)


# ------------------------------------------------------------------ gRPC cases
class Ending(enum.Enum):
    """How the client ends a gRPC call after writing its requests."""

    HALF_CLOSE = "half_close"  # done_writing, then read to the end: OK if all was fine
    CANCEL = "cancel"  # cancel after a short while: CANCELLED (unless the server ended it)
    DEADLINE = "deadline"  # a client deadline, never half-closed: DEADLINE_EXCEEDED
    SILENT = "silent"  # nothing sent, never half-closed: the server's config timeout


@dataclass(frozen=True)
class GrpcCase:
    """One gRPC call: raw request messages, how it ends, and what it may end with."""

    kind: str
    method: str  # "Perform" or a unary method name
    requests: tuple[bytes, ...]
    ending: Ending
    expect: Expect
    wait_s: float = 0.0  # CANCEL: before cancelling; DEADLINE: the deadline
    pause_s: float = 0.0  # between writes

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.requests)


def finish(expect: Expect, ending: Ending) -> Expect:
    """Apply the ending to what the requests allow."""
    end = {
        Ending.HALF_CLOSE: "OK",
        Ending.CANCEL: "CANCELLED",
        Ending.DEADLINE: "DEADLINE_EXCEEDED",
        Ending.SILENT: "DEADLINE_EXCEEDED",
    }[ending]
    no_config = "DEADLINE_EXCEEDED" if ending is Ending.SILENT else "FAILED_PRECONDITION"
    expect = expect.replace(END, Expect.of(end))
    expect = expect.replace(END_NO_CONFIG, Expect.of(no_config, fields=["config"]))
    if ending in (Ending.CANCEL, Ending.DEADLINE):  # the client's own end can come first
        expect = expect | Expect.of(end)
    return expect


def perform_case(
    kind: str,
    requests: Sequence[bytes],
    portraits: Portraits,
    ending: Ending = Ending.HALF_CLOSE,
    **kw: float,
) -> GrpcCase:
    expect = expect_stream([decode_grpc(r) for r in requests], portraits)
    return GrpcCase(kind, "Perform", tuple(requests), ending, finish(expect, ending), **kw)


def _ser(msg: pb.PerformRequest) -> bytes:
    data: bytes = msg.SerializeToString()
    return data


def _config(cfg: pb.SessionConfig) -> bytes:
    return _ser(pb.PerformRequest(config=cfg))


def _audio(pcm: bytes) -> bytes:
    return _ser(pb.PerformRequest(audio=pb.AudioChunk(pcm=pcm)))


END_MSG: Final = _ser(pb.PerformRequest(end_of_utterance=pb.EndOfUtterance()))
INTERRUPT_MSG: Final = _ser(pb.PerformRequest(interrupt=pb.Interrupt()))
EMPTY_MSG: Final = b""  # an empty PerformRequest


def valid_config(rng: random.Random, *, motion_only: bool = True) -> pb.SessionConfig:
    """A config in range; ``motion_only`` keeps rendering off (FRAME_ENCODING_NONE)."""
    cfg = pb.SessionConfig(
        sample_rate_hz=rng.choice(
            [8000, 11025, 16000, 16000, 22050, 24000, 44100, 48000, rng.randint(8000, 48000)]
        )
    )
    if rng.random() < 0.5:
        cfg.fps = rng.choice(FPS)
    cfg.encoding = pb.FRAME_ENCODING_NONE
    if not motion_only and rng.random() < 0.5:
        cfg.encoding = rng.choice(  # rendered: kept at 256 (cheap)
            [
                pb.FRAME_ENCODING_UNSPECIFIED,
                pb.FRAME_ENCODING_JPEG,
                pb.FRAME_ENCODING_RGB8,
                pb.FRAME_ENCODING_RGBA8,
            ]
        )
    elif rng.random() < 0.2:
        cfg.size = rng.choice(SIZES)
    if rng.random() < 0.3:
        cfg.jpeg_quality = rng.randint(0, 100)
    cfg.blendshapes = rng.random() < 0.5
    if rng.random() < 0.5:
        cfg.seed = rng.choice([0, 1, MAX_SEED, rng.randrange(MAX_SEED)])
    if rng.random() < 0.4:
        cfg.inference_steps = rng.choice([0, 1, 2, 4, 8, 16])
    if rng.random() < 0.4:
        cfg.lookahead_ms = rng.choice([0, 20, 40, 80, rng.randint(0, 80)])
    if rng.random() < 0.1:
        cfg.avatar_id = rng.choice(["", "default"])
    return cfg


def random_audio(rng: random.Random, seconds: float, rate: int) -> bytes:
    """PCM16 of about ``seconds``: noise, a buzz or silence (an even number of bytes)."""
    n = int(seconds * rate * rng.random())
    style = rng.random()
    if style < 0.4:
        return rng.randbytes(2 * n)
    if style < 0.8:
        t = np.arange(n)
        wave = np.sign(np.sin(2 * np.pi * rng.uniform(80, 400) * t / rate)) * 12000
        return wave.astype("<i2").tobytes()
    return bytes(2 * n)


def chunks(rng: random.Random, pcm: bytes, *, even: bool = True) -> list[bytes]:
    """``pcm`` cut at random points (even ones unless ``even`` is False)."""
    cuts = sorted(rng.randrange(0, len(pcm) + 1) for _ in range(rng.randint(0, 5)))
    if even:
        cuts = [c - c % 2 for c in cuts]
    bounds = [0, *cuts, len(pcm)]
    return [pcm[a:b] for a, b in itertools.pairwise(bounds)]


def speech_requests(rng: random.Random, rate: int, seconds: float) -> list[bytes]:
    """Audio chunks with end-of-utterance marks and interrupts in between, at random."""
    out = []
    for chunk in chunks(rng, random_audio(rng, seconds, rate)):
        out.append(_audio(chunk))
        if rng.random() < 0.3:
            out.append(rng.choice([END_MSG, END_MSG, INTERRUPT_MSG]))
    return out


BAD_VALUES: Final[dict[str, Callable[[random.Random], int]]] = {
    "sample_rate_hz": lambda r: r.choice([0, 1, 7999, 48001, 96000, 2**32 - 1]),
    "fps": lambda r: r.choice([1, 24, 29, 50, 61, 120, 2**32 - 1]),
    "size": lambda r: r.choice([1, 128, 255, 257, 1024, 2**32 - 1]),
    "encoding": lambda r: r.choice([5, 6, 100, 2**31 - 1, -1]),
    "jpeg_quality": lambda r: r.choice([101, 255, 2**32 - 1]),
    "inference_steps": lambda r: r.choice([17, 100, 2**32 - 1]),
    "seed": lambda r: r.choice([MAX_SEED + 1, 2**63, 2**64 - 1]),
    "lookahead_ms": lambda r: r.choice([81, 1000, 2**32 - 1]),
}


def bad_config(rng: random.Random) -> pb.SessionConfig:
    """A config with one to three fields out of range (the rest random but valid)."""
    cfg = valid_config(rng)
    for name in rng.sample(sorted(BAD_VALUES), rng.choice([1, 1, 1, 2, 3])):
        setattr(cfg, name, BAD_VALUES[name](rng))
    return cfg


def mutate(rng: random.Random, raw: bytes) -> bytes:
    """``raw`` with a few random byte flips, insertions, deletions or a cut."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op, at = rng.random(), rng.randrange(len(data) + 1)
        if op < 0.4 and at < len(data):
            data[at] ^= 1 << rng.randrange(8)
        elif op < 0.6:
            data[at:at] = rng.randbytes(rng.randint(1, 4))
        elif op < 0.8:
            del data[at : at + rng.randint(1, 4)]
        else:
            del data[at:]
    return bytes(data)


def garbage(rng: random.Random) -> bytes:
    """Random bytes, mostly short: varints, lengths and tags that go nowhere."""
    n = rng.choice([rng.randint(0, 8), rng.randint(9, 64), rng.randint(65, 4096)])
    prefix = rng.choice([b"", b"\x0a", b"\x12", b"\x0a\xff\xff\xff\xff\x0f", b"\x1a\x00"])
    return prefix + rng.randbytes(n)


GrpcGen = Callable[[random.Random, Portraits], GrpcCase]


def g_valid_session(rng: random.Random, portraits: Portraits) -> GrpcCase:
    cfg = valid_config(rng, motion_only=rng.random() < 0.8)
    seconds = 1.0 if cfg.encoding == pb.FRAME_ENCODING_NONE else 0.3
    reqs = [_config(cfg), *speech_requests(rng, cfg.sample_rate_hz, seconds)]
    if rng.random() < 0.7:
        reqs.append(END_MSG)
    return perform_case("valid_session", reqs, portraits, pause_s=rng.choice([0.0, 0.0, 0.01]))


def g_odd_order(rng: random.Random, portraits: Portraits) -> GrpcCase:
    """Ends, interrupts, empty and tiny chunks in any order, before and after speech."""
    cfg = valid_config(rng)
    tiny = _audio(bytes(2 * rng.randint(1, 80)))
    pool = [END_MSG, INTERRUPT_MSG, _audio(b""), tiny]
    reqs = [_config(cfg), *(rng.choice(pool) for _ in range(rng.randint(1, 12)))]
    return perform_case("odd_order", reqs, portraits)


def g_odd_audio(rng: random.Random, portraits: Portraits) -> GrpcCase:
    cfg = valid_config(rng)
    pcm = random_audio(rng, 0.3, cfg.sample_rate_hz)
    reqs = [_config(cfg), *(_audio(c) for c in chunks(rng, pcm, even=False))]
    reqs.append(_audio(rng.randbytes(2 * rng.randint(0, 100) + 1)))  # odd for certain
    return perform_case("odd_audio", reqs + [END_MSG] * rng.randint(0, 1), portraits)


def g_wrong_first(rng: random.Random, portraits: Portraits) -> GrpcCase:
    first = rng.choice([_audio(bytes(320)), END_MSG, INTERRUPT_MSG, EMPTY_MSG, _audio(b"")])
    reqs = [first] + [_config(valid_config(rng))] * rng.randint(0, 1)
    return perform_case("wrong_first", reqs, portraits)


def g_bad_config(rng: random.Random, portraits: Portraits) -> GrpcCase:
    reqs = [_config(bad_config(rng)), *speech_requests(rng, 16000, 0.1)]
    return perform_case("bad_config", reqs, portraits)


def g_garbage_first(rng: random.Random, portraits: Portraits) -> GrpcCase:
    reqs = [garbage(rng)] + [_config(valid_config(rng))] * rng.randint(0, 1)
    return perform_case("garbage_first", reqs, portraits)


def g_garbage_later(rng: random.Random, portraits: Portraits) -> GrpcCase:
    cfg = valid_config(rng)
    reqs = [_config(cfg), *speech_requests(rng, cfg.sample_rate_hz, 0.3), garbage(rng)]
    return perform_case("garbage_later", reqs + [END_MSG] * rng.randint(0, 1), portraits)


def g_truncated(rng: random.Random, portraits: Portraits) -> GrpcCase:
    """A serialized message cut short: first (a config) or later (audio, a second config)."""
    cfg = valid_config(rng)
    if rng.random() < 0.3:
        cfg.portrait_image = portraits.pick(rng, cheap=True).image + rng.randbytes(64)
    whole = rng.choice([_config(cfg), _audio(bytes(2 * rng.randint(1, 2000)))])
    cut = whole[: rng.randrange(1, len(whole))]
    reqs = [cut] if rng.random() < 0.5 else [_config(valid_config(rng)), cut]
    return perform_case("truncated", reqs, portraits)


def g_mutated(rng: random.Random, portraits: Portraits) -> GrpcCase:
    """A valid stream whose messages are randomly damaged (classic mutation fuzzing)."""
    cfg = valid_config(rng)
    reqs = [_config(cfg), *speech_requests(rng, cfg.sample_rate_hz, 0.2), END_MSG]
    damaged = [mutate(rng, r) if rng.random() < 0.5 else r for r in reqs]
    return perform_case("mutated", damaged, portraits)


def g_config_twice(rng: random.Random, portraits: Portraits) -> GrpcCase:
    cfg = valid_config(rng)
    middle = speech_requests(rng, cfg.sample_rate_hz, 0.2) if rng.random() < 0.5 else []
    reqs = [_config(cfg), *middle, _config(rng.choice([cfg, valid_config(rng)]))]
    return perform_case("config_twice", reqs, portraits)


def g_avatar_id(rng: random.Random, portraits: Portraits) -> GrpcCase:
    cfg = valid_config(rng)
    cfg.avatar_id = rng.choice(
        [
            rng.randbytes(8).hex(),
            "a" * 64,
            "x" * 65,
            "x" * rng.randint(66, 10_000),
            "x" * 1_000_000 if rng.random() < 0.1 else "y" * 100_000,
            "../../etc/passwd",
            "default/../default",
            "DEFAULT",
            "d\u00e9fault",
            "\u0000",
            " default",
            ".",
            "..",
            "\U0001f600" * 40,
            "%2e%2e",
            "default\n",
        ]
    )
    return perform_case("avatar_id", [_config(cfg), END_MSG], portraits)


def g_portrait(rng: random.Random, portraits: Portraits) -> GrpcCase:
    return _portrait_case("portrait", rng, portraits, cheap=rng.random() < 0.6)


def g_portrait_burst(rng: random.Random, portraits: Portraits) -> GrpcCase:
    """A portrait that reaches face detection (noise, faces, damaged faces): bursts of them
    run at once (dlib shared by threads once crashed the daemon)."""
    return _portrait_case("portrait_burst", rng, portraits, cheap=False)


def _portrait_case(kind: str, rng: random.Random, portraits: Portraits, cheap: bool) -> GrpcCase:
    cfg = valid_config(rng)
    cfg.size = rng.choice([0, 256, 256, 512])
    cfg.portrait_image = portraits.pick(rng, cheap=cheap).image
    reqs = [_config(cfg), *speech_requests(rng, cfg.sample_rate_hz, 0.2)]
    return perform_case(kind, reqs, portraits)


def g_cancel(rng: random.Random, portraits: Portraits) -> GrpcCase:
    cfg = valid_config(rng)
    reqs = [_config(cfg), *speech_requests(rng, cfg.sample_rate_hz, 1.0)]
    wait = rng.choice([0.0, 0.01, rng.uniform(0, 0.3)])
    return perform_case(
        "cancel", reqs[: rng.randint(0, len(reqs))], portraits, Ending.CANCEL, wait_s=wait
    )


def g_deadline(rng: random.Random, portraits: Portraits) -> GrpcCase:
    cfg = valid_config(rng)
    reqs = [_config(cfg), *speech_requests(rng, cfg.sample_rate_hz, 0.5)]
    return perform_case("deadline", reqs, portraits, Ending.DEADLINE, wait_s=rng.uniform(0.02, 0.5))


def g_empty_stream(rng: random.Random, portraits: Portraits) -> GrpcCase:
    return perform_case("empty_stream", [], portraits)


def g_silent(rng: random.Random, portraits: Portraits) -> GrpcCase:
    return perform_case("silent", [], portraits, Ending.SILENT)


def g_oversized(rng: random.Random, portraits: Portraits) -> GrpcCase:
    """Chunks, portraits and messages at and past their limits."""
    cfg = valid_config(rng)
    which = rng.randrange(4)
    if which == 0:  # one AudioChunk over 4 MiB
        reqs = [_config(cfg), _audio(bytes(MAX_CHUNK_BYTES + 2))]
    elif which == 1:  # a message over 8 MiB
        reqs = [_config(cfg), _audio(bytes(MAX_REQUEST_BYTES + 2))]
    elif which == 2:  # a portrait over 4 MiB
        cfg.portrait_image = bytes(MAX_IMAGE_BYTES + 1)
        reqs = [_config(cfg)]
    else:  # exactly 4 MiB of audio: accepted (then cancelled: minutes of speech to render)
        reqs = [_config(cfg), _audio(bytes(MAX_CHUNK_BYTES))]
        return perform_case("oversized", reqs, portraits, Ending.CANCEL, wait_s=0.3)
    return perform_case("oversized", reqs, portraits)


def g_unary(rng: random.Random, portraits: Portraits) -> GrpcCase:
    """RegisterAvatar / DeleteAvatar / ListAvatars / GetServerInfo with odd requests."""
    which = rng.randrange(3)
    if which == 0:
        req = pb.RegisterAvatarRequest(
            portrait_image=portraits.pick(rng, cheap=rng.random() < 0.8).image,
            name=rng.choice(["", "guard", "n" * 129, "n" * rng.randint(129, 100_000)]),
            sizes=rng.choice([[], [256], [256, 512], [0], [300], [2**32 - 1]]),
        )
        if portraits.verdict(req.portrait_image) is not Verdict.NOT_FACE:
            req.sizes.append(1)  # never store an avatar: the store stays empty
        return GrpcCase(
            "unary",
            "RegisterAvatar",
            (req.SerializeToString(),),
            Ending.HALF_CLOSE,
            expect_register(req, portraits),
        )
    if which == 1:
        avatar = rng.choice(["default", rng.randbytes(8).hex(), "x" * 65, "", "../x"])
        expect = Expect.of(
            "FAILED_PRECONDITION" if avatar == "default" else "NOT_FOUND",
            "INVALID_ARGUMENT",
            fields=["id"],
        )
        raw = pb.DeleteAvatarRequest(id=avatar).SerializeToString()
        return GrpcCase("unary", "DeleteAvatar", (raw,), Ending.HALF_CLOSE, expect)
    return GrpcCase(
        "unary",
        rng.choice(["ListAvatars", "GetServerInfo"]),
        (rng.choice([b"", b"\x08\x01", b"\x12\x00"]),),  # unknown fields
        Ending.HALF_CLOSE,
        Expect.of("OK"),
    )


UNARY_METHODS: Final = ("RegisterAvatar", "DeleteAvatar", "GetServerInfo", "ListAvatars")
UNDECODABLE: Final = (b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x05ab", b"\xff", b"\x08")


def g_unary_undecodable(rng: random.Random, portraits: Portraits) -> GrpcCase:
    """A unary request that is not a protobuf at all (truncated length, varint, tag):
    INVALID_ARGUMENT, as Perform answers an undecodable message."""
    method, raw = rng.choice(UNARY_METHODS), rng.choice(UNDECODABLE)
    expect = Expect.of("INVALID_ARGUMENT")
    return GrpcCase("unary_undecodable", method, (raw,), Ending.HALF_CLOSE, expect)


#: The Perform and unary generators, with their weights in a random mix.
GRPC_MIX: Final[dict[str, tuple[GrpcGen, float]]] = {
    "valid_session": (g_valid_session, 8),
    "odd_order": (g_odd_order, 8),
    "odd_audio": (g_odd_audio, 6),
    "wrong_first": (g_wrong_first, 9),
    "bad_config": (g_bad_config, 14),
    "garbage_first": (g_garbage_first, 14),
    "garbage_later": (g_garbage_later, 6),
    "truncated": (g_truncated, 8),
    "mutated": (g_mutated, 8),
    "config_twice": (g_config_twice, 4),
    "avatar_id": (g_avatar_id, 5),
    "portrait": (g_portrait, 1),
    "cancel": (g_cancel, 5),
    "deadline": (g_deadline, 3),
    "empty_stream": (g_empty_stream, 1),
    "unary": (g_unary, 3),
    "unary_undecodable": (g_unary_undecodable, 2),
}


def grpc_cases(rng: random.Random, portraits: Portraits, n: int) -> list[GrpcCase]:
    """``n`` cases drawn from GRPC_MIX."""
    names = [k for k, (_, w) in GRPC_MIX.items() if w > 0]
    weights = [GRPC_MIX[k][1] for k in names]
    return [GRPC_MIX[k][0](rng, portraits) for k in rng.choices(names, weights, k=n)]
