"""The sample engine clients (clients/): they parse, lint, and use only names the protocol has.

Neither Unity nor Godot runs here, so these are the checks that can fail here: a syntax
error in the GDScript (gdtoolkit), and a protocol name the clients spell that bridge.proto
does not define (a rename would break them silently). The Unity package gets a real
compile against API stand-ins in test_unity_package.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lpm_bridge._proto import bridge_pb2 as pb

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
GDSCRIPT = sorted(CLIENTS.glob("godot/**/*.gd"))
# Hand-written C# only: Runtime/Generated/Bridge.cs is protoc's (test_unity_package.py).
CSHARP = sorted(p for p in CLIENTS.glob("unity/**/*.cs") if p.name != "Bridge.cs")


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    return str(path) if path.exists() else name


def _proto_names() -> tuple[set[str], set[str]]:
    """(every field name, every enum value name) of lpm.bridge.v1."""
    fields: set[str] = set()
    for message in pb.DESCRIPTOR.message_types_by_name.values():
        fields.update(f.name for f in message.fields)
    values: set[str] = set()
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        values.update(v.name for v in enum.values)
    return fields, values


def test_there_are_clients() -> None:
    assert len(GDSCRIPT) >= 2 and len(CSHARP) >= 2


@pytest.mark.parametrize("path", GDSCRIPT, ids=lambda p: p.name)
def test_gdscript_parses_and_lints(path: Path) -> None:
    for tool in ("gdparse", "gdlint"):
        run = subprocess.run([_tool(tool), str(path)], capture_output=True, text=True)
        assert run.returncode == 0, f"{tool} {path.name}:\n{run.stdout}{run.stderr}"


def test_gdscript_uses_protocol_names() -> None:
    fields, values = _proto_names()
    for path in GDSCRIPT:
        text = path.read_text()
        for enum_value in re.findall(r'"((?:EVENT_TYPE|FRAME_ENCODING)_[A-Z_]+)"', text):
            assert enum_value in values, f"{path.name}: {enum_value} is not in bridge.proto"
        # Keys read from or written into protocol dictionaries: frame["pts_samples"], ...
        # (and "avatar": the key of the gateway's RegisterAvatar reply)
        for key in re.findall(r'(?:frame|event|doc|info|config)\["([a-z_]+)"\]', text):
            assert key in fields | {"image", "avatar"}, f"{path.name}: {key}"
        for key in re.findall(r'\{"([a-z_]+)":', text):
            assert key in fields, f"{path.name}: request key {key!r} is not a proto field"


def test_csharp_uses_protocol_names() -> None:
    """C# properties are the proto fields in PascalCase (pts_samples -> PtsSamples)."""
    fields, values = _proto_names()
    pascal = {"".join(part.title() for part in f.split("_")) for f in fields}
    enum_members = {
        "".join(p.title() for p in v.split("_")[2:]) for v in values
    }  # EVENT_TYPE_UTTERANCE_START -> UtteranceStart
    for path in CSHARP:
        text = path.read_text()
        for name in re.findall(r"\.(?:Frame|Event|Started)\.([A-Z][A-Za-z]+)", text):
            assert name in pascal, f"{path.name}: {name} is not a proto field"
        for name in re.findall(r"(?:EventType|FrameEncoding)\.([A-Z][A-Za-z]+)", text):
            assert name in enum_members, f"{path.name}: {name} is not a proto enum value"
        # Object-initializer members (one per line, ending in a comma): `SampleRateHz = ...,`
        for name in re.findall(r"^\s+([A-Z][A-Za-z]+) = [^;]*,\s*$", text, flags=re.M):
            assert name in pascal | {"Http2Only", "HttpHandler", "DisposeHttpClient",
                                     "MaxReceiveMessageSize"}, f"{path.name}: {name}"  # fmt: skip
