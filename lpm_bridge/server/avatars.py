"""The avatar store: portraits encoded once by the appearance encoder, persisted on disk.

Layout under ``--avatars-dir`` (default ``~/.cache/lpm-bridge/avatars``)::

    <id>/portrait.bin                  the portrait bytes as registered
    <id>/meta.json                     {"name": ..., "content_sha256": ...}
    <id>/appearance_<size>.safetensors  the encoded Appearance per output size

An id is the first 16 hex digits of the portrait's SHA-256, so registering an image twice
gives the same avatar. The built-in avatar ``default`` (lpm_bridge.appearance's public-domain
portrait) is always present and cannot be deleted. Encodings are computed off the event loop
and kept in a small in-memory LRU so concurrent sessions share one Appearance object.

Hardening (issue 18):

* Every file is written under a ``.tmp`` name and renamed into place; ``.tmp`` leftovers
  of a crash are removed when the store opens. An encoding that cannot be read is encoded
  again from the stored portrait. Client errors never show server paths.
* The store holds at most ``quota_bytes`` (default ``DEFAULT_QUOTA_BYTES``, 2 GiB: ~440
  avatars at 256 px, 4.65 MB each; ~170 with 512 too). To make room it deletes the least
  recently used avatars (last session start or registration; the folder's mtime keeps that
  order across restarts), never ``default`` nor an avatar a live session uses
  (``in_use``). When no room can be made, registration fails RESOURCE_EXHAUSTED.
* Names are at most ``MAX_NAME_CHARS`` characters, ids ``MAX_ID_CHARS``.
* One-off portraits (``config.portrait_image``) are cached apart from registered avatars:
  knowing a portrait's hash does not make it addressable by ``avatar_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from lpm_bridge.errors import (
    CheckpointError,
    InvalidInputError,
    LPMError,
    NotFoundError,
    PreconditionError,
    ResourceExhaustedError,
    echo,
)

log = logging.getLogger(__name__)

DEFAULT_ID = "default"
DEFAULT_AVATARS_DIR = Path.home() / ".cache" / "lpm-bridge" / "avatars"
_ID_RE = re.compile(r"^[0-9a-f]{16}$")
CACHE_ENTRIES = 64  # Appearance objects kept in memory (a few MB each at most)
DEFAULT_SIZE = 256
#: Bytes the store may hold on disk (portraits and encodings) before evicting old avatars.
DEFAULT_QUOTA_BYTES: Final[int] = 2 * 2**30
#: Longest display name (two 3 MiB names broke every client's ListAvatars).
MAX_NAME_CHARS: Final[int] = 128
#: Longest avatar id accepted in a request (ids are 16 hex digits today, or "default").
MAX_ID_CHARS: Final[int] = 64
_TMP_SUFFIX = ".tmp"

# In-memory cache keys: (kind, registered id or portrait sha256, size). Kinds keep one-off
# portraits out of reach of avatar_id.
_AVATAR = "avatar"
_PORTRAIT = "portrait"
_Key = tuple[str, str, int]


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


def _disk_usage(folder: Path) -> int:
    """Bytes of the files directly in ``folder`` (0 when it is gone)."""
    try:
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    except OSError:
        return 0


def _disk_error(error: OSError, field: str) -> LPMError:
    """What a client is told when the store cannot write: no server path, the cause kept."""
    log.error("avatar store: write failed: %s", error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceExhaustedError(
            f"{field}: the server's disk is full; the avatar was not stored", field=field
        )
    return LPMError(f"{field}: the server could not store the avatar (see its log)", field=field)


def _size_file(folder: Path, size: int) -> Path:
    return folder / f"appearance_{size}.safetensors"


def _unique_tmp(path: Path) -> Path:
    """A sibling of ``path`` that ``_remove_leftovers`` recognises."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{_TMP_SUFFIX}")


class AvatarStore:
    """Registered portraits and their encodings; all methods run on the event loop.

    ``quota_bytes`` bounds the store's disk use (see the module docstring); ``in_use``
    returns the ids live sessions use, which eviction spares.
    """

    def __init__(
        self,
        root: Path,
        *,
        encode: Callable[..., Any] | None = None,
        quota_bytes: int = DEFAULT_QUOTA_BYTES,
        in_use: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.quota_bytes = quota_bytes
        self.in_use: Callable[[], Collection[str]] = in_use or (lambda: ())
        self._encode = encode
        self._cache: OrderedDict[_Key, Any] = OrderedDict()
        self._default_image: bytes | None = None
        self._usage: dict[str, int] = {}  # id -> bytes on disk
        self._last_used: dict[str, int] = {}  # id -> ns since the epoch
        self._remove_leftovers()
        self._scan()

    def _remove_leftovers(self) -> None:
        """Delete half-written files and folders a crash left behind."""
        leftovers = [*self.root.glob(f".*{_TMP_SUFFIX}"), *self.root.glob(f"*/*{_TMP_SUFFIX}")]
        for path in leftovers:
            log.info("avatar store: removing the unfinished %s", path.name)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def _scan(self) -> None:
        for folder in self.root.iterdir():
            if _ID_RE.match(folder.name) and (folder / "meta.json").is_file():
                self._usage[folder.name] = _disk_usage(folder)
                self._last_used[folder.name] = folder.stat().st_mtime_ns

    @property
    def used_bytes(self) -> int:
        """Bytes the stored avatars hold on disk."""
        return sum(self._usage.values())

    # ----------------------------------------------------------------- encoding
    async def _encode_image(self, image: bytes, size: int, field: str) -> Any:
        encode = self._encode or _face().encode_appearance
        try:
            # ~0.2 s of CPU or more: never on the event loop.
            return await asyncio.to_thread(encode, image, size=size)
        except InvalidInputError as e:
            raise _relabel(e, field) from e

    def _cached(self, key: _Key) -> Any | None:
        value = self._cache.get(key)
        if value is not None:
            self._cache.move_to_end(key)
        return value

    def _remember(self, key: _Key, value: Any) -> Any:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return value

    def _forget(self, avatar_id: str) -> None:
        for key in [k for k in self._cache if k[:2] == (_AVATAR, avatar_id)]:
            del self._cache[key]

    async def load_default(self, sizes: tuple[int, ...] = (DEFAULT_SIZE,)) -> None:
        """Encode the built-in avatar (at start-up, while health says NOT_SERVING)."""
        self._default_image = _face().default_avatar_image()
        for size in sizes:
            await self.appearance(DEFAULT_ID, size)

    # ----------------------------------------------------------------- queries
    async def appearance(self, avatar_id: str, size: int, field: str = "config.avatar_id") -> Any:
        """The Appearance of a stored avatar at ``size``: memory, then disk, then encode.

        A size encoded here is stored when the quota allows (else it is served from memory).
        """
        return await self._appearance(avatar_id, size, field, must_store=False)

    async def _appearance(self, avatar_id: str, size: int, field: str, *, must_store: bool) -> Any:
        _check_id(avatar_id, field)
        key = (_AVATAR, avatar_id, size)
        if avatar_id == DEFAULT_ID:
            if (value := self._cached(key)) is None:
                if self._default_image is None:
                    self._default_image = _face().default_avatar_image()
                value = await self._encode_image(self._default_image, size, field)
            return self._remember(key, value)
        folder = self._folder(avatar_id, field)
        self._touch(avatar_id)
        if (value := self._cached(key)) is not None:
            return value
        value = await self._load(_size_file(folder, size))
        if value is None:
            image = self._portrait(folder, avatar_id, field)
            value = await self._encode_image(image, size, field)
            await self._store_size(avatar_id, size, value, field, must_store=must_store)
        return self._remember(key, value)

    async def _load(self, path: Path) -> Any | None:
        """The Appearance saved at ``path``; ``None`` when missing or unreadable."""
        if not path.is_file():
            return None
        try:
            return await asyncio.to_thread(_face().Appearance.load, path)
        except (CheckpointError, NotFoundError, OSError) as e:
            log.warning("avatar store: %s is unreadable (%s); encoding it again", path, e)
            return None

    def _portrait(self, folder: Path, avatar_id: str, field: str) -> bytes:
        try:
            return (folder / "portrait.bin").read_bytes()
        except OSError as e:
            log.error("avatar store: %s", e)
            raise NotFoundError(
                f"{field}: avatar {echo(avatar_id)} is damaged on the server (its portrait "
                "cannot be read); register the portrait again",
                field=field,
            ) from None

    async def for_image(self, image: bytes, size: int, field: str = "config.portrait_image") -> Any:
        """The Appearance of a one-off portrait (cached in memory by content hash, apart from
        registered avatars: it is never reachable by ``avatar_id``)."""
        key = (_PORTRAIT, hashlib.sha256(image).hexdigest(), size)
        if (value := self._cached(key)) is not None:
            return value
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
        name = str(meta.get("name", ""))[:MAX_NAME_CHARS]  # stores from before the limit
        return AvatarRecord(folder.name, name, str(meta["content_sha256"]), tuple(sizes))

    def _folder(self, avatar_id: str, field: str) -> Path:
        folder = self.root / avatar_id
        if not _ID_RE.match(avatar_id) or not (folder / "meta.json").is_file():
            raise NotFoundError(f"{field}: no avatar with id {echo(avatar_id)}", field=field)
        return folder

    # ----------------------------------------------------------------- changes
    async def register(
        self, image: bytes, name: str = "", sizes: Sequence[int] = (DEFAULT_SIZE,)
    ) -> AvatarRecord:
        """Encode and store a portrait at each of ``sizes``; the same bytes give the same
        id (idempotent: a size already stored is not encoded again)."""
        if len(name) > MAX_NAME_CHARS:
            raise InvalidInputError(
                f"name is {len(name)} characters; the limit is {MAX_NAME_CHARS}", field="name"
            )
        record = await self._register(image, name, sizes[0])
        for size in sizes:  # each encoded and saved if missing (an existing avatar may lack it)
            await self._appearance(record.id, size, "sizes", must_store=True)
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
                self._touch(avatar_id)
                return record
        appearance = await self._encode_image(image, size, "portrait_image")
        tmp = _unique_tmp(folder)
        try:
            tmp.mkdir()
            (tmp / "portrait.bin").write_bytes(image)
            await asyncio.to_thread(appearance.save, _size_file(tmp, size))
            (tmp / "meta.json").write_text(json.dumps({"name": name, "content_sha256": sha}))
            self._make_room(_disk_usage(tmp), avatar_id, "portrait_image")
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)  # atomic: a crash never leaves a half-registered avatar
        except OSError as e:
            raise _disk_error(e, "portrait_image") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._account(avatar_id)
        self._remember((_AVATAR, avatar_id, size), appearance)
        record = self._record(folder)
        assert record is not None
        return record

    async def _store_size(
        self, avatar_id: str, size: int, value: Any, field: str, *, must_store: bool
    ) -> None:
        """Save one more size of a stored avatar: to a temporary name, then renamed."""
        path = _size_file(self.root / avatar_id, size)
        tmp = _unique_tmp(path)
        try:
            await asyncio.to_thread(value.save, tmp)
            old = path.stat().st_size if path.is_file() else 0
            self._make_room(tmp.stat().st_size - old, avatar_id, field)
            os.replace(tmp, path)
        except (OSError, ResourceExhaustedError) as e:
            if must_store:
                raise _disk_error(e, field) if isinstance(e, OSError) else e from None
            log.warning("avatar store: %s at %d kept in memory only: %s", avatar_id, size, e)
        finally:
            tmp.unlink(missing_ok=True)
        self._account(avatar_id)

    def delete(self, avatar_id: str) -> None:
        _check_id(avatar_id, "id")
        if avatar_id == DEFAULT_ID:
            raise PreconditionError(
                "id: the built-in avatar 'default' cannot be deleted", field="id"
            )
        shutil.rmtree(self._folder(avatar_id, "id"))
        self._usage.pop(avatar_id, None)
        self._last_used.pop(avatar_id, None)
        self._forget(avatar_id)

    # ----------------------------------------------------------------- quota
    def _touch(self, avatar_id: str) -> None:
        """Record a use (a session start or a registration) for the LRU order."""
        now = time.time_ns()
        self._last_used[avatar_id] = now
        with contextlib.suppress(OSError):  # deleted under us: nothing to order
            os.utime(self.root / avatar_id, ns=(now, now))  # the order survives restarts

    def _account(self, avatar_id: str) -> None:
        folder = self.root / avatar_id
        if (folder / "meta.json").is_file():
            self._usage[avatar_id] = _disk_usage(folder)
            self._touch(avatar_id)
        else:
            self._usage.pop(avatar_id, None)

    def _make_room(self, need: int, keep: str, field: str) -> None:
        """Evict least recently used avatars until ``need`` more bytes fit the quota.

        Evicts nothing and raises RESOURCE_EXHAUSTED when even evicting every avatar not
        in use (nor ``keep``) would not be enough. Runs without awaiting: the check and
        the write that follows it are one step on the event loop.
        """
        excess = self.used_bytes + need - self.quota_bytes
        if excess <= 0:
            return
        spared = {keep, *self.in_use()}
        victims: list[str] = []
        for avatar_id in sorted(self._usage, key=lambda a: self._last_used.get(a, 0)):
            if excess <= 0:
                break
            if avatar_id not in spared:
                victims.append(avatar_id)
                excess -= self._usage[avatar_id]
        if excess > 0:
            mb = 2**20
            raise ResourceExhaustedError(
                f"{field}: the avatar store is full ({self.used_bytes / mb:.0f} MB of "
                f"{self.quota_bytes / mb:.0f} MB; {need / mb:.1f} MB more needed, and the "
                "avatars in use cannot be evicted); delete avatars or raise the quota "
                "(serve --avatars-quota-mb)",
                field=field,
            )
        for avatar_id in victims:
            log.info("avatar store: evicting %s (least recently used) to stay in quota", avatar_id)
            shutil.rmtree(self.root / avatar_id, ignore_errors=True)
            self._usage.pop(avatar_id, None)
            self._last_used.pop(avatar_id, None)
            self._forget(avatar_id)


def _check_id(avatar_id: str, field: str) -> None:
    if len(avatar_id) > MAX_ID_CHARS:
        raise InvalidInputError(
            f"{field} is {len(avatar_id)} characters; an avatar id is 16 hex digits or "
            f"'{DEFAULT_ID}' ({MAX_ID_CHARS} characters at most)",
            field=field,
        )
