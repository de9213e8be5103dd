"""WebSocket fuzz cases for the gateway (``lpm-bridge serve --ws-port``).

Calls to ``/v1/perform`` and ``/v1/register_avatar`` with text where JSON objects are due,
binary where text is due, bad base64, messages at the 8 MiB limit, unknown paths, clients
that vanish or close with odd codes; and hand-made frames the websockets client refuses to
send (bad UTF-8, reserved bits and opcodes, unmasked or oversized frames, invalid close
codes, fragments). Judged by fuzz_cases.py's oracle through the gateway's JSON mapping.
"""

from __future__ import annotations

import base64
import enum
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import numpy as np
from fuzz_cases import (
    CLIENT_CLOSED,
    END,
    END_NO_CONFIG,
    MAX_REQUEST_BYTES,
    WS_LIBRARY_CLOSES,
    Expect,
    Item,
    Portraits,
    Verdict,
    bad_config,
    chunks,
    close_outcome,
    expect_register,
    expect_stream,
    random_audio,
    valid_config,
)
from google.protobuf import json_format

from lpm_bridge._proto import bridge_pb2 as pb

OPEN: Final = "OPEN"  # the server still waits for more (the client then drops it)
EOF_: Final = "EOF"  # the connection ended without a close frame from the server
#: Past 8 MiB the library closes with 1009; a client still sending then may only see the
#: connection reset (the server closed with the rest of the message unread).
TOO_BIG: Final = ("CLOSE_1009", EOF_)


_BAD_MESSAGE: Final = Expect.of("INVALID_ARGUMENT", fields=["message"])
_Request = TypeVar("_Request", pb.PerformRequest, pb.RegisterAvatarRequest)


def _too_big(message: str | bytes) -> bool:
    return len(message.encode() if isinstance(message, str) else message) > MAX_REQUEST_BYTES


def decode_ws(message: str | bytes) -> Item:
    """A ``/v1/perform`` message as the gateway reads it (text: JSON object, binary: PCM)."""
    if _too_big(message):
        return Expect.of(*TOO_BIG)
    if isinstance(message, bytes):
        return pb.PerformRequest(audio=pb.AudioChunk(pcm=message))
    return _parse_json(message, pb.PerformRequest())


def decode_register_ws(message: str | bytes) -> pb.RegisterAvatarRequest | Expect:
    """The one ``/v1/register_avatar`` message as the gateway reads it (JSON text only)."""
    if _too_big(message):
        return Expect.of(*TOO_BIG)
    if isinstance(message, bytes):
        return _BAD_MESSAGE
    return _parse_json(message, pb.RegisterAvatarRequest())


def _parse_json(text: str, request: _Request) -> _Request | Expect:
    """One JSON object in the protobuf mapping; anything else names ``message``."""
    if not text.lstrip(" \t\r\n").startswith("{"):
        return _BAD_MESSAGE
    try:
        json_format.Parse(text, request)
    except (json_format.ParseError, ValueError):
        return _BAD_MESSAGE
    return request


# ------------------------------------------------------------------ WebSocket cases
PERFORM_PATH: Final = "/v1/perform"
REGISTER_PATH: Final = "/v1/register_avatar"


class WsEnding(enum.Enum):
    """How the client ends a WebSocket call after sending its messages."""

    READ = "read"  # read to the error event, or to the session's start, then close (1000)
    SERVER_CLOSE = "server_close"  # read until the server closes (4000 + status, after 5 s)
    ABORT = "abort"  # drop the TCP connection at once
    CLIENT_CLOSE = "client_close"  # close with ``close_code`` at once


@dataclass(frozen=True)
class WsCase:
    """One WebSocket call: messages (or hand-made frames, ``raw``) and what it may end with."""

    kind: str
    path: str
    messages: tuple[str | bytes, ...]
    ending: WsEnding
    expect: Expect
    close_code: int = 1000  # CLIENT_CLOSE's code
    raw: tuple[bytes, ...] = ()  # frames sent as they are after the handshake (raw client)


def _json(msg: pb.PerformRequest) -> str:
    text: str = json_format.MessageToJson(msg, preserving_proto_field_name=True, indent=None)
    return text


def ws_perform(
    kind: str,
    messages: Sequence[str | bytes],
    portraits: Portraits,
    ending: WsEnding = WsEnding.READ,
    close_code: int = 1000,
) -> WsCase:
    expect = expect_stream([decode_ws(m) for m in messages], portraits, overtaking=True)
    expect = expect.replace(END, Expect.of("OK"))
    expect = expect.replace(END_NO_CONFIG, Expect.of("DEADLINE_EXCEEDED", fields=["config"]))
    if ending in (WsEnding.ABORT, WsEnding.CLIENT_CLOSE):
        expect = Expect.of(CLIENT_CLOSED)
    return WsCase(
        kind,
        PERFORM_PATH,
        tuple(messages),
        ending,
        expect,
        close_code,
    )


WS_BAD_TEXT: Final = (
    "[]",
    "null",
    "42",
    '"config"',
    "true",
    "[{}]",
    "",
    " ",
    "{",
    "{not json",
    '{"config": }',
    '{"foo": 1}',
    '{"config": {"bogus": 1}}',
    '{"config": 5}',
    '{"config": []}',
    '{"config": {"sample_rate_hz": "abc"}}',
    '{"config": {"sample_rate_hz": -1}}',
    '{"config": {"sample_rate_hz": 1e10}}',
    '{"config": {"sample_rate_hz": 16000.5}}',
    '{"config": {"sample_rate_hz": 16000}, "interrupt": {}}',
    "{}",
    '{"interrupt": {}}',
    '{"end_of_utterance": {}}',
    '{"audio": {"pcm": "AAAA"}}',
    '{"audio": {"pcm": "AAA"}}',
    '{"audio": {"pcm": "!!!!"}}',
    '{"config": {"encoding": "FRAME_ENCODING_BOGUS"}}',
    '{"config": {"encoding": 99, "sample_rate_hz": 16000}}',
    '{"config": null}',
    '{"config": {"sample_rate_hz": 16000}} trailing',
    "\u0000",
    "\ud7ff\ue000",
    '{"config": {"sample_rate_hz": 16000, "portrait_image": "%%%"}}',
    '{"config": {"sample_rate_hz": 16000, "portrait_image": "abc"}}',
    '{"config": {"sample_rate_hz": 16000, "avatar_id": "default", "portrait_image": ""}}',
    ' \n\t{"config": {"sample_rate_hz": 16000, "encoding": "FRAME_ENCODING_NONE"}}',
    '{"config": {"sampleRateHz": 16000, "encoding": 4}}',
)


def _text_garbage(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(WS_BAD_TEXT)
    alphabet = '{}[]":,0123456789abcdefnulrtu \\/\u00e9\U0001f600'
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))


def w_bad_first(rng: random.Random, portraits: Portraits) -> WsCase:
    first: str | bytes = (
        rng.randbytes(rng.randint(0, 64)) if rng.random() < 0.2 else (_text_garbage(rng))
    )
    return ws_perform("ws_bad_first", [first], portraits)


def w_bad_config(rng: random.Random, portraits: Portraits) -> WsCase:
    return ws_perform(
        "ws_bad_config", [_json(pb.PerformRequest(config=bad_config(rng)))], portraits
    )


def w_portrait(rng: random.Random, portraits: Portraits) -> WsCase:
    cfg = valid_config(rng)
    cfg.portrait_image = portraits.pick(rng, cheap=rng.random() < 0.7).image
    return ws_perform("ws_portrait", [_json(pb.PerformRequest(config=cfg))], portraits)


def _ws_speech(rng: random.Random, rate: int, seconds: float) -> list[str | bytes]:
    out: list[str | bytes] = []
    for chunk in chunks(rng, random_audio(rng, seconds, rate), even=rng.random() < 0.8):
        out.append(chunk)
        if rng.random() < 0.3:
            out.append(rng.choice(['{"end_of_utterance": {}}', '{"interrupt": {}}']))
    return out


def w_session(rng: random.Random, portraits: Portraits) -> WsCase:
    cfg = valid_config(rng)
    messages = [_json(pb.PerformRequest(config=cfg)), *_ws_speech(rng, cfg.sample_rate_hz, 0.5)]
    if rng.random() < 0.3:
        messages.append(_text_garbage(rng))
    return ws_perform("ws_session", messages, portraits)


def w_disconnect(rng: random.Random, portraits: Portraits) -> WsCase:
    """The client goes away mid-call: TCP dropped, or closed with a code of its own."""
    cfg = valid_config(rng)
    messages = [_json(pb.PerformRequest(config=cfg)), *_ws_speech(rng, cfg.sample_rate_hz, 1.0)]
    messages = messages[: rng.randint(0, len(messages))]
    if rng.random() < 0.5:
        return ws_perform("ws_disconnect", messages, portraits, WsEnding.ABORT)
    code = rng.choice([1000, 1001, 3000, 3999, 4000, 4003, 4999])
    return ws_perform("ws_disconnect", messages, portraits, WsEnding.CLIENT_CLOSE, close_code=code)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def w_register(rng: random.Random, portraits: Portraits) -> WsCase:
    return _register_case("ws_register", rng, portraits, cheap=rng.random() < 0.7)


def w_register_burst(rng: random.Random, portraits: Portraits) -> WsCase:
    """A well-formed registration of a portrait that reaches face detection."""
    case = _register_case("ws_register_burst", rng, portraits, cheap=False, well_formed=True)
    return case


def _register_case(
    kind: str, rng: random.Random, portraits: Portraits, cheap: bool, well_formed: bool = False
) -> WsCase:
    image = portraits.pick(rng, cheap=cheap).image
    sizes = rng.choice([[], [256], [512], [0], [1], [256, 300]])
    if portraits.verdict(image) is not Verdict.NOT_FACE:
        sizes = [*sizes, 1]  # never store an avatar: the store stays empty
    doc = {
        "portrait_image": _b64(image),
        "name": rng.choice(["", "npc", "n" * 129]),
        "sizes": sizes,
    }
    message: str | bytes = json.dumps(doc)
    if not well_formed:
        message = rng.choice(
            [
                message,
                json.dumps({**doc, "portrait_image": "%%%" + _b64(image)}),
                json.dumps({**doc, "extra": 1}),
                _b64(image),
                image,
                _text_garbage(rng),
                "{}",
                json.dumps({"name": "x" * 200_000, "portrait_image": ""}),
            ]
        )
    expect = expect_register(decode_register_ws(message), portraits)
    return WsCase(kind, REGISTER_PATH, (message,), WsEnding.READ, expect)


def w_path(rng: random.Random, portraits: Portraits) -> WsCase:
    path = rng.choice(
        [
            "/",
            "/v1",
            "/v1/perform/",
            "/v1/Perform",
            "/v1/register_avatar/x",
            "/v2/perform",
            "/%00",
            "/v1/perform%3F",
            "/" + rng.randbytes(12).hex(),
            "/" + "a" * 2000,
        ]
    )
    return WsCase("ws_path", path, (), WsEnding.READ, Expect.of("NOT_FOUND", fields=["path"]))


def w_huge(rng: random.Random, portraits: Portraits) -> WsCase:
    """Messages at and just past the gateway's 8 MiB."""
    config = _json(pb.PerformRequest(config=valid_config(rng)))
    which = rng.randrange(3)
    if which == 0:  # binary just under the limit: an AudioChunk over 4 MiB
        big: str | bytes = bytes(MAX_REQUEST_BYTES - 2 * rng.randint(0, 8))
    elif which == 1:  # just over it
        big = bytes(MAX_REQUEST_BYTES + 2 * rng.randint(1, 8))
    else:  # text just under it: a config with a huge avatar id
        pad = MAX_REQUEST_BYTES - 64 - rng.randint(0, 100)
        big = '{"config": {"sample_rate_hz": 16000, "avatar_id": "' + "x" * pad + '"}}'
        return ws_perform("ws_huge", [big], portraits)
    return ws_perform("ws_huge", [config, big], portraits)


def w_linger(rng: random.Random, portraits: Portraits) -> WsCase:
    """A failing call read to the server's own close: 4000 + status, after the linger."""
    silent = rng.random() < 0.2
    if rng.random() < 0.3:
        msgs: tuple[str | bytes, ...] = () if silent else (_text_garbage(rng),)
        expect = (
            expect_register(decode_register_ws(msgs[0]), portraits)
            if msgs
            else Expect.of("DEADLINE_EXCEEDED", fields=["message"])
        )
        return WsCase("ws_linger", REGISTER_PATH, msgs, WsEnding.SERVER_CLOSE, expect)
    bad = rng.choice([w_bad_first, w_bad_config])(rng, portraits).messages
    case = ws_perform("ws_linger", [] if silent else bad, portraits, WsEnding.SERVER_CLOSE)
    if "OK" in case.expect.statuses:  # a valid first message: the session would go on
        return ws_perform("ws_linger", [], portraits, WsEnding.SERVER_CLOSE)
    return case


WsGen = Callable[[random.Random, Portraits], WsCase]
WS_MIX: Final[dict[str, tuple[WsGen, float]]] = {
    "ws_bad_first": (w_bad_first, 12),
    "ws_bad_config": (w_bad_config, 8),
    "ws_portrait": (w_portrait, 2),
    "ws_session": (w_session, 8),
    "ws_disconnect": (w_disconnect, 6),
    "ws_register": (w_register, 6),
    "ws_path": (w_path, 3),
}


# ------------------------------------------------------------------ hand-made frames
TEXT, BINARY, CLOSE, PING = 0x1, 0x2, 0x8, 0x9
#: Outcomes of the raw client besides statuses and close codes.
#: Anything the gateway may fairly do with random bytes.
ANY_WS: Final = (
    frozenset({OPEN, EOF_, "HTTP_400"})
    | {f"CLOSE_{c}" for c in WS_LIBRARY_CLOSES}
    | {
        "OK",
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "NOT_FOUND",
        "RESOURCE_EXHAUSTED",
        "DEADLINE_EXCEEDED",
    }
)


def frame(
    opcode: int,
    payload: bytes,
    rng: random.Random,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length: int | None = None,
) -> bytes:
    """One WebSocket frame as a client sends it (RFC 6455 section 5.2), any field forgeable."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = rng.randbytes(4)
    mask = np.resize(np.frombuffer(key, np.uint8), len(payload))
    return head + key + (np.frombuffer(payload, np.uint8) ^ mask).tobytes()


def _close_frame(rng: random.Random, code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, code.to_bytes(2, "big") + reason, rng)


def _raw(kind: str, rng: random.Random, frames: Sequence[bytes], *outcomes: str) -> WsCase:
    path = rng.choice([PERFORM_PATH, REGISTER_PATH])
    return WsCase(kind, path, (), WsEnding.READ, Expect.of(*outcomes), raw=tuple(frames))


def r_protocol_error(rng: random.Random, portraits: Portraits) -> WsCase:
    """Frames RFC 6455 forbids: the library closes with 1002 (or 1007 for bad UTF-8)."""
    text = b'{"config": {"sample_rate_hz": 16000}}'
    bad: list[tuple[list[bytes], str]] = [
        ([frame(TEXT, b'{"config": "\xff\xfe"}', rng)], "CLOSE_1007"),
        ([frame(TEXT, text, rng, rsv=rng.randint(1, 7))], "CLOSE_1002"),
        ([frame(rng.choice([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), b"x", rng)], "CLOSE_1002"),
        ([frame(TEXT, text, rng, masked=False)], "CLOSE_1002"),
        ([frame(0x0, text, rng)], "CLOSE_1002"),  # a continuation with nothing to continue
        ([frame(TEXT, text[:5], rng, fin=False), frame(TEXT, text[5:], rng)], "CLOSE_1002"),
        ([frame(PING, bytes(126), rng)], "CLOSE_1002"),  # control frames carry <= 125 bytes
        ([frame(PING, b"hi", rng, fin=False)], "CLOSE_1002"),  # ... and are never fragmented
        ([frame(CLOSE, b"\x03", rng)], "CLOSE_1002"),  # a close payload of one byte
        ([_close_frame(rng, 1000, b"\xff\xfe")], "CLOSE_1007"),  # a reason not UTF-8
        ([frame(BINARY, b"", rng, length=MAX_REQUEST_BYTES + 1)], "CLOSE_1009"),
    ]
    frames, outcome = rng.choice(bad)
    return _raw("raw_protocol_error", rng, frames, outcome)


def r_close_code(rng: random.Random, portraits: Portraits) -> WsCase:
    """A close frame with a random code: invalid ones are a protocol error, valid ones echoed."""
    code = rng.choice(
        [
            0,
            999,
            1004,
            1005,
            1006,
            1015,
            1016,
            2999,
            5000,
            65535,
            1000,
            1001,
            1003,
            1008,
            1011,
            3000,
            4000,
            4003,
            4999,
        ]
    )
    valid = code in (1000, 1001, 1003, 1008, 1011) or 3000 <= code <= 4999
    expect = close_outcome(code) if valid else "CLOSE_1002"  # echoed, or a protocol error
    return _raw("raw_close_code", rng, [_close_frame(rng, code)], expect)


def r_fragmented(rng: random.Random, portraits: Portraits) -> WsCase:
    """A message in 2-4 fragments (pings in between): reassembled, then judged as a whole."""
    message = rng.choice(
        [
            _json(pb.PerformRequest(config=valid_config(rng))),
            _text_garbage(rng),
            _json(pb.PerformRequest(config=bad_config(rng))),
        ]
    ).encode()
    cuts = sorted(rng.randrange(0, len(message) + 1) for _ in range(rng.randint(1, 3)))
    parts = [message[a:b] for a, b in itertools.pairwise([0, *cuts, len(message)])]
    frames = []
    for i, part in enumerate(parts):
        frames.append(frame(TEXT if i == 0 else 0x0, part, rng, fin=i == len(parts) - 1))
        if rng.random() < 0.3 and i < len(parts) - 1:
            frames.append(frame(PING, b"p", rng))
    expect = expect_stream([decode_ws(message.decode())], portraits)
    expect = expect.replace(END, Expect.of("OK"))  # a valid config: the session starts
    return WsCase("raw_fragmented", PERFORM_PATH, (), WsEnding.READ, expect, raw=tuple(frames))


def r_random(rng: random.Random, portraits: Portraits) -> WsCase:
    """Random bytes after the handshake, or instead of it."""
    data = rng.randbytes(rng.randint(1, 200))
    if rng.random() < 0.2:
        return WsCase("raw_handshake", "", (), WsEnding.READ, Expect(ANY_WS), raw=(data,))
    if rng.random() < 0.3:  # a frame header that promises more than it sends
        data = frame(BINARY, b"", rng, length=rng.randint(10, 100_000)) + data[:5]
    return _raw("raw_random", rng, [data], *ANY_WS)


RAW_MIX: Final[dict[str, tuple[WsGen, float]]] = {
    "raw_protocol_error": (r_protocol_error, 6),
    "raw_close_code": (r_close_code, 3),
    "raw_fragmented": (r_fragmented, 4),
    "raw_random": (r_random, 3),
    "raw_handshake": (r_random, 0),  # drawn by r_random
}


def ws_cases(rng: random.Random, portraits: Portraits, n: int) -> list[WsCase]:
    """``n`` WebSocket cases drawn from WS_MIX and RAW_MIX."""
    mix = {**WS_MIX, **RAW_MIX}
    names = [k for k, (_, w) in mix.items() if w > 0]
    weights = [mix[k][1] for k in names]
    return [mix[k][0](rng, portraits) for k in rng.choices(names, weights, k=n)]
