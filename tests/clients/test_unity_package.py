"""The Unity package (clients/unity/com.lpmbridge.client): a real compile, a valid UPM
package, the protocol it was generated from, and the line playback it runs.

Unity does not run here, so the package is compiled the way Unity compiles its asmdef,
by ``mcs -target:library`` (Debian mono-mcs): the protoc-generated messages, the
hand-written typed client and the components, against API stand-ins under
``unity_stubs/`` for UnityEngine, UnityEngine.UI (com.unity.ugui), Google.Protobuf,
Grpc.Core.Api, Grpc.Net.Client and YetAnotherHttpHandler. Like Unity, the compile sees
the precompiled NuGet assemblies, the engine, and only the asmdef assemblies that
``LpmBridge.asmdef`` references. Any compile error or warning fails: an unqualified
``Avatar`` (UnityEngine.Avatar vs Lpm.Bridge.V1.Avatar, CS0104) did, and
test_the_stand_ins_catch_an_ambiguous_avatar keeps the stand-ins able to see it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lpm_bridge._proto import bridge_pb2 as pb

HERE = Path(__file__).resolve().parent
STUBS = HERE / "unity_stubs"
PACKAGE = HERE.parents[1] / "clients" / "unity" / "com.lpmbridge.client"
RUNTIME = PACKAGE / "Runtime"
SAMPLE = PACKAGE / "Samples~" / "NpcSample"
COMPILE_TIMEOUT_S = 60

# Stand-in assembly -> the stand-ins it is compiled against, in build order. The
# System.Net.Http stand-in has its own name: mono's mscorlib trusts the real one.
STAND_INS = {
    "System.Net.Http.StandIn": (),
    "UnityEngine": (),
    "UnityEngine.UI": ("UnityEngine",),
    "Google.Protobuf": (),
    "Grpc.Core.Api": (),
    "Grpc.Net.Client": ("Grpc.Core.Api", "System.Net.Http.StandIn"),
    "YetAnotherHttpHandler": ("System.Net.Http.StandIn",),
}
STAND_IN_SOURCES = {"System.Net.Http.StandIn": "System.Net.Http.cs"}
# What every script in a Unity project sees without an asmdef reference: the engine, the
# .NET profile, and precompiled DLLs (UnityNuGet's are auto-referenced).
ALWAYS_VISIBLE = ("UnityEngine", "System.Net.Http.StandIn", "Google.Protobuf",
                  "Grpc.Core.Api", "Grpc.Net.Client")  # fmt: skip
# asmdef assemblies: visible only through LpmBridge.asmdef's "references".
ASMDEF_ASSEMBLIES = ("UnityEngine.UI", "YetAnotherHttpHandler")


def _mcs() -> str:
    mcs = shutil.which("mcs")
    if mcs is None:
        if os.environ.get("CI"):
            pytest.fail("mcs (Debian mono-mcs) is missing; scripts/test.sh installs it")
        pytest.skip("mcs (Debian mono-mcs) is not installed")
    return mcs


def _compile(out: Path, sources: list[Path], refs: list[Path], *extra: str) -> str:
    """mcs output; empty string when it compiled with no warning."""
    cmd = [_mcs(), "-nologo", "-langversion:Experimental", "-warnaserror+", f"-out:{out}"]
    cmd += [*extra, *(f"-r:{r}" for r in refs), *map(str, sources)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    text = (run.stdout + run.stderr).strip()
    return text if run.returncode != 0 or "warning" in text else ""


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("unity_stand_ins")
    built: dict[str, Path] = {}
    for name, deps in STAND_INS.items():
        dll = out / f"{name}.dll"
        source = STUBS / STAND_IN_SOURCES.get(name, f"{name}.cs")
        errors = _compile(dll, [source], [built[d] for d in deps], "-target:library")
        assert not errors, f"stand-in {name}:\n{errors}"
        built[name] = dll
    return built


def _runtime_refs(stand_ins: dict[str, Path]) -> list[Path]:
    asmdef = json.loads((RUNTIME / "LpmBridge.asmdef").read_text())
    unknown = set(asmdef["references"]) - set(ASMDEF_ASSEMBLIES)
    assert not unknown, f"LpmBridge.asmdef references {unknown}: add stand-ins for them"
    return [stand_ins[n] for n in (*ALWAYS_VISIBLE, *asmdef["references"])]


def _runtime_sources(root: Path = RUNTIME) -> list[Path]:
    return sorted(root.rglob("*.cs"))


@pytest.fixture(scope="module")
def runtime_dll(stand_ins: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    dll = tmp_path_factory.mktemp("unity_runtime") / "LpmBridge.dll"
    errors = _compile(dll, _runtime_sources(), _runtime_refs(stand_ins), "-target:library")
    assert not errors, f"the package's Runtime does not compile:\n{errors}"
    return dll


def test_runtime_compiles(runtime_dll: Path) -> None:
    assert runtime_dll.stat().st_size > 0


def test_sample_compiles(runtime_dll: Path, stand_ins: dict[str, Path], tmp_path: Path) -> None:
    # An imported sample lands in Assembly-CSharp: it sees LpmBridge (autoReferenced),
    # the engine and the precompiled DLLs, but no asmdef the package did not expose.
    refs = [runtime_dll, *(stand_ins[n] for n in ALWAYS_VISIBLE)]
    sources = sorted(SAMPLE.glob("*.cs"))
    assert sources
    errors = _compile(tmp_path / "Sample.dll", sources, refs, "-target:library")
    assert not errors, f"Samples~/NpcSample does not compile:\n{errors}"


def test_the_stand_ins_catch_an_ambiguous_avatar(
    stand_ins: dict[str, Path], tmp_path: Path
) -> None:
    """The bug of issue 16 put back (a bare `Avatar` in LpmBridgeNpc.cs) must not compile."""
    copy = tmp_path / "Runtime"
    shutil.copytree(RUNTIME, copy)
    npc = copy / "LpmBridgeNpc.cs"
    text = npc.read_text()
    assert "Lpm.Bridge.V1.Avatar avatar" in text
    npc.write_text(text.replace("Lpm.Bridge.V1.Avatar avatar", "Avatar avatar"))
    errors = _compile(tmp_path / "x.dll", _runtime_sources(copy), _runtime_refs(stand_ins),
                      "-target:library")  # fmt: skip
    assert "CS0104" in errors and "UnityEngine.Avatar" in errors, errors


def test_line_playback_scenarios(tmp_path: Path) -> None:
    """Lines queue, barge-in drops stale lines: LinePlayback.cs run by mono."""
    exe = tmp_path / "driver.exe"
    sources = [RUNTIME / "LinePlayback.cs", HERE / "unity_playback_driver.cs"]
    errors = _compile(exe, sources, [])
    assert not errors, errors
    mono = shutil.which("mono")
    assert mono is not None, "mono comes with mono-mcs"
    run = subprocess.run([mono, str(exe)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split() == ["ok", "second_line_queues", "ok", "interrupt_drops_stale_lines",
                                  "ok", "reset_forgets_interrupts"]  # fmt: skip


def test_generated_messages_match_the_proto() -> None:
    """Bridge.cs embeds the same FileDescriptorProto as the (checked) Python stubs."""
    text = (RUNTIME / "Generated" / "Bridge.cs").read_text()
    match = re.search(r"FromBase64String\(\s*string\.Concat\((.*?)\)\);", text, re.S)
    assert match is not None
    embedded = base64.b64decode("".join(re.findall(r'"([^"]*)"', match.group(1))))
    assert embedded == pb.DESCRIPTOR.serialized_pb, (
        "Runtime/Generated/Bridge.cs is stale: regenerate it with protoc "
        "(clients/unity/README.md, 'Regenerating the messages')"
    )


def test_typed_client_has_every_rpc() -> None:
    text = (RUNTIME / "Generated" / "BridgeGrpc.cs").read_text()
    service = pb.DESCRIPTOR.services_by_name["Bridge"]
    for method in service.methods:
        kind = {
            (False, False): "Unary",
            (True, False): "ClientStreaming",
            (False, True): "ServerStreaming",
            (True, True): "DuplexStreaming",
        }[(method.client_streaming, method.server_streaming)]
        pattern = (
            rf"new Method<{method.input_type.name}, {method.output_type.name}>\(\s*"
            rf'MethodType\.{kind}, ServiceName, "{method.name}"'
        )
        assert re.search(pattern, text), f"BridgeGrpc.cs lacks {kind} rpc {method.name}"
        assert f" {method.name}(" in text, f"BridgeClient has no {method.name} method"
    assert f'ServiceName = "{service.full_name}"' in text


def test_package_manifest() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text())
    assert manifest["name"] == "com.lpmbridge.client"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert re.fullmatch(r"20\d\d\.\d", manifest["unity"])
    deps = manifest["dependencies"]
    for name in ("com.cysharp.yetanotherhttphandler", "org.nuget.grpc.net.client",
                 "org.nuget.google.protobuf", "com.unity.ugui"):  # fmt: skip
        assert re.fullmatch(r"\d+\.\d+\.\d+", deps.get(name, "")), f"{name}: no version"
    for sample in manifest["samples"]:
        assert (PACKAGE / sample["path"]).is_dir(), sample["path"]
    asmdef = json.loads((RUNTIME / "LpmBridge.asmdef").read_text())
    assert asmdef["name"] == "LpmBridge" and asmdef["autoReferenced"]


def test_every_asset_has_a_stable_meta() -> None:
    """Unity ignores (with a warning) any file of an immutable package without a .meta."""
    guids: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if rel.name == "Samples~":
            continue  # Unity skips folders ending in ~; their files carry metas for import
        if path.suffix == ".meta":
            assert path.with_suffix("").exists(), f"{rel}: .meta without its asset"
            continue
        meta = path.with_name(path.name + ".meta")
        assert meta.exists(), f"{rel} has no .meta"
        match = re.search(r"^guid: ([0-9a-f]{32})$", meta.read_text(), re.M)
        assert match, f"{rel}.meta has no guid"
        guid = match.group(1)
        assert guid not in guids, f"{rel} and {guids[guid]} share guid {guid}"
        guids[guid] = rel
        if path.is_dir():
            assert "folderAsset: yes" in meta.read_text(), f"{rel}.meta is not a folder's"
