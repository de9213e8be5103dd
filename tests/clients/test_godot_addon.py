"""The Godot addon and demo as files: what Godot reads before any script runs.

Godot is not installed here (test_godot_web.py runs the demo in Godot's web build when
Chromium is there), so these are the checks that hold without it: the plugin's plugin.cfg,
the project's main scene and enabled plugin, every path and script a scene names, the
exported properties a scene sets, the sample line's import settings (a default import is
QOA-compressed, which speak() cannot send), and the script classes' names.
"""

from __future__ import annotations

import configparser
import re
import wave
from pathlib import Path

import pytest

GODOT = Path(__file__).resolve().parents[2] / "clients" / "godot"
ADDON = GODOT / "addons" / "lpm_bridge"
SCENES = sorted(GODOT.rglob("*.tscn"))
SCRIPTS = sorted(GODOT.rglob("*.gd"))


def _res(path: str) -> Path:
    assert path.startswith("res://"), path
    return GODOT / path.removeprefix("res://")


def _godot_cfg(path: Path) -> configparser.ConfigParser:
    """A Godot ConfigFile (project.godot, plugin.cfg, .import): INI with Variant values;
    keys before the first section (project.godot's config_version) go in [top]."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith(";")]
    cfg = configparser.ConfigParser(interpolation=None, strict=True)
    cfg.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    cfg.read_string("[top]\n" + "\n".join(lines))
    return cfg


def _string(value: str) -> str:
    match = re.fullmatch(r'"(.*)"', value.strip())
    assert match, f"not a string value: {value}"
    return match.group(1)


def test_plugin_cfg() -> None:
    plugin = _godot_cfg(ADDON / "plugin.cfg")["plugin"]
    for key in ("name", "description", "author", "version", "script"):
        assert _string(plugin[key]), key
    script = ADDON / _string(plugin["script"])
    text = script.read_text()
    assert "@tool" in text.splitlines()  # it runs in the editor
    assert re.search(r"^extends EditorPlugin$", text, re.M)
    # Script classes and custom types of the same name conflict (Godot's docs): none here.
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "add_custom_type" in line]


def test_project_runs_the_demo_with_the_plugin() -> None:
    project = _godot_cfg(GODOT / "project.godot")
    assert _res(_string(project["application"]["run/main_scene"])).exists()
    enabled = re.findall(r'"(res://[^"]+)"', project["editor_plugins"]["enabled"])
    assert enabled == ["res://addons/lpm_bridge/plugin.cfg"]
    assert all(_res(p).exists() for p in enabled)


def _scene(path: Path) -> tuple[dict[str, str], list[dict[str, str]], str]:
    """(ext_resource id -> path, nodes as {attribute: value} + "body", text)."""
    text = path.read_text()
    resources = {
        m["id"]: m["path"]
        for m in re.finditer(
            r'\[ext_resource [^\]]*path="(?P<path>[^"]+)" id="(?P<id>[^"]+)"', text
        )
    }
    nodes: list[dict[str, str]] = []
    for line in text.splitlines():
        if line.startswith("[node "):
            nodes.append(dict(re.findall(r'(\w+)="([^"]*)"', line), body=""))
        elif line.startswith("["):
            continue
        elif nodes:
            nodes[-1]["body"] += line + "\n"
    return resources, nodes, text


@pytest.mark.parametrize("path", SCENES, ids=lambda p: p.name)
def test_scene_references_exist(path: Path) -> None:
    resources, nodes, text = _scene(path)
    assert resources and nodes
    for res in resources.values():
        assert _res(res).exists(), f"{path.name}: {res} does not exist"
    for used in re.findall(r'ExtResource\("([^"]+)"\)', text):
        assert used in resources, f"{path.name}: ExtResource({used}) is not declared"
    names = {n["name"] for n in nodes}
    for node in nodes:
        for target in re.findall(r'NodePath\("(?:\.\./)?([^"]+)"\)', node["body"]):
            assert target.split("/")[-1] in names, f"{path.name}: no node {target}"


@pytest.mark.parametrize("path", SCENES, ids=lambda p: p.name)
def test_scene_sets_only_exported_properties(path: Path) -> None:
    """A property a scene sets on a scripted node must be an @export of its script (a
    renamed export would otherwise be dropped silently when the scene loads)."""
    resources, nodes, _ = _scene(path)
    builtin = {"layout_mode", "anchors_preset", "anchor_right", "anchor_bottom",
               "grow_horizontal", "grow_vertical", "script"}  # fmt: skip
    for node in nodes:
        script = re.search(r'^script = ExtResource\("([^"]+)"\)', node["body"], re.M)
        if script is None:
            continue
        exports = set(
            re.findall(r"^@export\S*\s+var (\w+)", _res(resources[script[1]]).read_text(), re.M)
        )
        for prop in re.findall(r"^(\w+) = ", node["body"], re.M):
            assert prop in exports | builtin, f"{path.name}: {node['name']}.{prop} is not exported"


def test_sample_line_imports_as_pcm_at_the_npc_rate() -> None:
    """speak() sends the clip's PCM: it must import uncompressed, mono, at sample_rate_hz."""
    wav = GODOT / "demo" / "sample_line.wav"
    params = _godot_cfg(wav.with_name(wav.name + ".import"))["params"]
    assert params["compress/mode"] == "0", "PCM (Uncompressed); the default, 2, is QOA"
    assert params["force/mono"] == "true"
    assert params["force/8_bit"] == "false"
    npc = (ADDON / "lpm_bridge_npc.gd").read_text()
    [rate] = re.findall(r"^@export var sample_rate_hz := (\d+)$", npc, re.M)
    with wave.open(str(wav)) as w:
        assert (w.getsampwidth(), w.getnchannels(), w.getframerate()) == (2, 1, int(rate))


def test_script_classes() -> None:
    """Each addon script is a named class (the Create Node dialog lists it), named after
    its file, and no two scripts claim one name."""
    names = []
    for script in sorted(ADDON.glob("*.gd")):
        match = re.search(r"^class_name (\w+)$", script.read_text(), re.M)
        if script.name == "plugin.gd":
            assert match is None
            continue
        assert match, f"{script.name} has no class_name"
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", match[1]).lower()
        assert script.stem == snake, (script.name, match[1])
        names.append(match[1])
    assert len(names) == len(set(names)) >= 7


def test_npc_signals() -> None:
    npc = (ADDON / "lpm_bridge_npc.gd").read_text()
    signals = set(re.findall(r"^signal (\w+)", npc, re.M))
    assert {
        "speaking_started",
        "speaking_ended",
        "speaking_interrupted",
        "error",
        "frame",
    } <= signals
    assert re.search(r"^signal error\(status: int, message: String\)", npc, re.M)
    assert re.search(r"pts: int, blendshapes: PackedFloat32Array, head_rotation: Packed", npc)
