"""The avatar store: portraits encoded once by the appearance encoder, persisted on disk.

Layout under ``--avatars-dir`` (default ``~/.cache/lpm-bridge/avatars``)::

    <id>/portrait.bin                  the portrait bytes as registered
    <id>/meta.json                     {"name": ..., "content_sha256": ...}
    <id>/appearance_<size>.safetensors  the encoded Appearance per output size

An id is the first 16 hex digits of the portrait's SHA-256, so registering an image twice
gives the same avatar. The built-in avatar ``default`` (lpm_bridge.appearance's public-domain
portrait) is always present and cannot be deleted. Encodings are computed off the event loop
and kept in a small in-memory LRU so concurrent sessions share one Appearance object.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lpm_bridge.errors import InvalidInputError, NotFoundError, PreconditionError

DEFAULT_ID = "default"
DEFAULT_AVATARS_DIR = Path.home() / ".cache" / "lpm-bridge" / "avatars"
_ID_RE = re.compile(r"^[0-9a-f]{16}$")
CACHE_ENTRIES = 64  # Appearance objects kept in memory (a few MB each at most)
DEFAULT_SIZE = 256


@dataclass(frozen=True)
class AvatarRecord:
    """A stored avatar as ListAvatars reports it."""

    id: str
    name: str
    content_sha256: str
    sizes: tuple[int, ...]
    builtin: bool = False


def _face() -> Any:
    from lpm_bridge import appearance  # the face engineer's module; imported late (heavy)

    return appearance


def _relabel(error: InvalidInputError, field: str) -> InvalidInputError:
    """The same error class, naming the request field instead of the library argument."""
    message = error.message if error.message.startswith(field) else f"{field}: {error.message}"
    return type(error)(message, field=field)


class AvatarStore:
    """Registered portraits and their encodings; all methods run on the event loop."""

    def __init__(self, root: Path, *, encode: Callable[..., Any] | None = None) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self._encode = encode
        self._cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._default_image: bytes | None = None

    # ----------------------------------------------------------------- encoding
    async def _encode_image(self, image: bytes, size: int, field: str) -> Any:
        encode = self._encode or _face().encode_appearance
        try:
            # ~0.2 s of CPU or more: never on the event loop.
            return await asyncio.to_thread(encode, image, size=size)
        except InvalidInputError as e:
            raise _relabel(e, field) from e

    def _remember(self, key: tuple[str, int], value: Any) -> Any:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return value

    async def load_default(self, sizes: tuple[int, ...] = (DEFAULT_SIZE,)) -> None:
        """Encode the built-in avatar (at start-up, while health says NOT_SERVING)."""
        self._default_image = _face().default_avatar_image()
        for size in sizes:
            await self.appearance(DEFAULT_ID, size)

    # ----------------------------------------------------------------- queries
    async def appearance(self, avatar_id: str, size: int, field: str = "config.avatar_id") -> Any:
        """The Appearance of a stored avatar at ``size``: memory, then disk, then encode."""
        key = (avatar_id, size)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if avatar_id == DEFAULT_ID:
            if self._default_image is None:
                self._default_image = _face().default_avatar_image()
            return self._remember(key, await self._encode_image(self._default_image, size, field))
        folder = self._folder(avatar_id, field)
        cached = folder / f"appearance_{size}.safetensors"
        if cached.is_file():
            loaded = await asyncio.to_thread(_face().Appearance.load, cached)
            return self._remember(key, loaded)
        image = (folder / "portrait.bin").read_bytes()
        value = await self._encode_image(image, size, field)
        await asyncio.to_thread(value.save, cached)
        return self._remember(key, value)

    async def for_image(self, image: bytes, size: int, field: str = "config.portrait_image") -> Any:
        """The Appearance of a one-off portrait (cached in memory by content hash)."""
        key = (hashlib.sha256(image).hexdigest(), size)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        return self._remember(key, await self._encode_image(image, size, field))

    def records(self) -> list[AvatarRecord]:
        """The default first, then stored avatars by id."""
        out = [AvatarRecord(DEFAULT_ID, "built-in default", self._default_sha(), (), builtin=True)]
        for folder in sorted(p for p in self.root.iterdir() if _ID_RE.match(p.name)):
            record = self._record(folder)
            if record is not None:
                out.append(record)
        return out

    def _default_sha(self) -> str:
        return hashlib.sha256(self._default_image).hexdigest() if self._default_image else ""

    def _record(self, folder: Path) -> AvatarRecord | None:
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None  # half-written or foreign folder: not an avatar
        sizes = sorted(int(p.stem.split("_")[1]) for p in folder.glob("appearance_*.safetensors"))
        return AvatarRecord(
            folder.name, str(meta.get("name", "")), str(meta["content_sha256"]), tuple(sizes)
        )

    def _folder(self, avatar_id: str, field: str) -> Path:
        folder = self.root / avatar_id
        if not _ID_RE.match(avatar_id) or not (folder / "meta.json").is_file():
            raise NotFoundError(f"{field}: no avatar with id {avatar_id!r}", field=field)
        return folder

    # ----------------------------------------------------------------- changes
    async def register(
        self, image: bytes, name: str = "", sizes: Sequence[int] = (DEFAULT_SIZE,)
    ) -> AvatarRecord:
        """Encode and store a portrait at each of ``sizes``; the same bytes give the same
        id (idempotent: a size already stored is not encoded again)."""
        record = await self._register(image, name, sizes[0])
        for size in sizes:  # each encoded and saved if missing (an existing avatar may lack it)
            await self.appearance(record.id, size, "sizes")
        return self._record(self.root / record.id) or record

    async def _register(self, image: bytes, name: str, size: int) -> AvatarRecord:
        if not image:
            raise InvalidInputError("portrait_image is empty", field="portrait_image")
        sha = hashlib.sha256(image).hexdigest()
        avatar_id = sha[:16]
        folder = self.root / avatar_id
        if (folder / "meta.json").is_file():
            record = self._record(folder)
            if record is not None:
                return record
        appearance = await self._encode_image(image, size, "portrait_image")
        tmp = self.root / f".{avatar_id}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        (tmp / "portrait.bin").write_bytes(image)
        await asyncio.to_thread(appearance.save, tmp / f"appearance_{size}.safetensors")
        (tmp / "meta.json").write_text(json.dumps({"name": name, "content_sha256": sha}))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # atomic: a crash never leaves a half-registered avatar
        self._remember((avatar_id, size), appearance)
        record = self._record(folder)
        assert record is not None
        return record

    def delete(self, avatar_id: str) -> None:
        if avatar_id == DEFAULT_ID:
            raise PreconditionError(
                "id: the built-in avatar 'default' cannot be deleted", field="id"
            )
        folder = self._folder(avatar_id, "id")
        shutil.rmtree(folder)
        for key in [k for k in self._cache if k[0] == avatar_id]:
            del self._cache[key]
