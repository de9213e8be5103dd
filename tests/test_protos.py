"""The committed stubs in lpm_bridge/_proto match a fresh protoc run over protos/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_stubs_match_regeneration() -> None:
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    fresh = gen.generate()
    for name, text in fresh.items():
        committed = (ROOT / "lpm_bridge" / "_proto" / name).read_text()
        assert committed == text, f"lpm_bridge/_proto/{name} is stale: run scripts/gen_protos.py"


def test_every_rpc_and_field_has_a_comment() -> None:
    lines = (ROOT / "protos" / "lpm" / "bridge" / "v1" / "bridge.proto").read_text().splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        declares = s.startswith("rpc ") or (
            s.endswith(";") and "=" in s and not s.startswith(("option", "syntax", "//"))
        )
        if declares:
            assert lines[i - 1].strip().startswith("//"), f"line {i + 1} has no comment: {s}"


def test_stubs_import_inside_the_package() -> None:
    from lpm_bridge._proto import bridge_pb2, bridge_pb2_grpc

    assert bridge_pb2.DESCRIPTOR.package == "lpm.bridge.v1"
    assert hasattr(bridge_pb2_grpc, "BridgeStub")
