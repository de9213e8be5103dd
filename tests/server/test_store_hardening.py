"""The avatar store under a hostile client and a crashing server (issue 18).

Names and ids are bounded, error messages are capped, one-off portraits are not reachable
by id, disk use stays under a quota with LRU eviction, and files written are atomic and
repaired when unreadable. The encoder is a stand-in returning the real astronaut
appearance (4.65 MB on disk at 256), so each test runs in about a second.
"""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from face_helpers import astronaut

from lpm_bridge.appearance import Appearance
from lpm_bridge.errors import (
    MAX_MESSAGE_CHARS,
    InvalidInputError,
    LPMError,
    NoFaceError,
    NotFoundError,
    ResourceExhaustedError,
    echo,
)
from lpm_bridge.server.avatars import MAX_NAME_CHARS, AvatarStore

pytestmark = pytest.mark.timeout(30)


class Encoder:
    """Counts encodes; ``b"noface..."`` has no face; ``broken`` images fail to save."""

    def __init__(self) -> None:
        self.calls = 0
        self.broken = False

    def __call__(self, image: bytes, *, size: int) -> Any:
        self.calls += 1
        if image.startswith(b"noface"):
            raise NoFaceError("no face found in portrait", field="image")
        return _DiskFull() if self.broken else astronaut(size)


class _DiskFull:
    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(b"\0" * 1000)  # half an appearance, then the disk fills
        raise OSError(errno.ENOSPC, "No space left on device", str(path))


def _store(root: Path, **kw: Any) -> tuple[AvatarStore, Encoder]:
    enc = Encoder()
    return AvatarStore(root, encode=enc, **kw), enc


def _no_path(error: BaseException, root: Path) -> None:
    assert str(root) not in str(error) and "safetensors" not in str(error), str(error)


async def test_names_and_ids_are_bounded(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    with pytest.raises(InvalidInputError, match="name is 3145728 characters; the limit is 128"):
        await store.register(b"face", name="n" * 3 * 2**20)
    record = await store.register(b"face", name="n" * MAX_NAME_CHARS)
    huge = "f" * 2**20
    with pytest.raises(InvalidInputError) as e:
        await store.appearance(huge, 256)
    assert e.value.field == "config.avatar_id" and len(str(e.value)) < 200
    with pytest.raises(InvalidInputError) as e:
        store.delete(huge)
    assert e.value.field == "id" and "1048576 characters" in str(e.value)
    # A store written before the limit lists names cut to it.
    meta = tmp_path / record.id / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "name": "m" * 3 * 2**20}))
    assert [len(r.name) for r in store.records()] == [len("built-in default"), MAX_NAME_CHARS]


async def test_echoed_values_and_messages_are_cut(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    with pytest.raises(NotFoundError) as e:
        await store.appearance("g" * 64, 256)  # the longest id accepted, unknown
    assert "g" * 64 in str(e.value)
    assert echo("v" * 10**6) == "'" + "v" * 79 + "\u2026 (1000000 characters)"
    assert len(LPMError("w" * 10**6).message) == MAX_MESSAGE_CHARS


async def test_one_off_portraits_are_not_addressable_by_id(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    portrait = b"someone's one-off portrait"
    await store.for_image(portrait, 256)
    sha = hashlib.sha256(portrait).hexdigest()
    for guess in (sha, sha[:16]):
        with pytest.raises(NotFoundError):
            await store.appearance(guess, 256)
    registered = await store.register(portrait)  # registering it makes it addressable
    assert (await store.appearance(registered.id, 256)) is astronaut(256)


async def test_quota_evicts_least_recently_used(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    a = await store.register(b"face a")
    one = store.used_bytes
    store.quota_bytes = int(2.5 * one)
    b = await store.register(b"face b")
    await store.appearance(a.id, 256)  # a session starts on a: b is now the oldest
    c = await store.register(b"face c")
    assert [r.id for r in store.records()[1:]] == sorted([a.id, c.id])
    assert store.used_bytes <= store.quota_bytes
    with pytest.raises(NotFoundError):
        await store.appearance(b.id, 256)
    # The order survives a restart (folder mtimes): a used after c, so c goes next.
    await store.appearance(a.id, 256)
    store, _ = _store(tmp_path, quota_bytes=int(2.5 * one))
    d = await store.register(b"face d")
    assert {r.id for r in store.records()[1:]} == {a.id, d.id}


async def test_full_store_is_resource_exhausted_and_spares_avatars_in_use(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    a = await store.register(b"face a")
    b = await store.register(b"face b")
    store.quota_bytes = store.used_bytes + 1000
    store.in_use = lambda: {a.id, b.id}
    with pytest.raises(ResourceExhaustedError, match="avatar store is full") as e:
        await store.register(b"face c")
    assert e.value.field == "portrait_image"
    _no_path(e.value, tmp_path)
    assert {r.id for r in store.records()[1:]} == {a.id, b.id}  # nothing evicted in vain
    assert not list(tmp_path.glob(".*"))  # the refused avatar's files are gone
    store.in_use = lambda: {b.id}
    c = await store.register(b"face c")
    assert {r.id for r in store.records()[1:]} == {b.id, c.id}
    store.quota_bytes = 1000  # smaller than any avatar: nothing can make room
    with pytest.raises(ResourceExhaustedError):
        await store.register(b"face d")


async def test_unreadable_size_is_encoded_again_without_showing_paths(tmp_path: Path) -> None:
    store, enc = _store(tmp_path)
    record = await store.register(b"face a")
    path = tmp_path / record.id / "appearance_256.safetensors"
    path.write_bytes(path.read_bytes()[:1000])  # a crash or a full disk cut it short
    store, enc = _store(tmp_path)  # restarted: nothing in memory
    app = await store.appearance(record.id, 256)
    assert app is astronaut(256) and enc.calls == 1
    assert Appearance.load(path).size == 256  # repaired on disk
    (tmp_path / record.id / "portrait.bin").unlink()
    path.write_bytes(b"garbage")
    store, enc = _store(tmp_path)
    with pytest.raises(NotFoundError, match="damaged") as e:
        await store.appearance(record.id, 256)
    _no_path(e.value, tmp_path)


async def test_leftovers_removed_at_start_and_failed_writes_leave_none(tmp_path: Path) -> None:
    store, enc = _store(tmp_path)
    record = await store.register(b"face a")
    (tmp_path / ".0123456789abcdef.1a2b3c4d.tmp").mkdir()
    (tmp_path / record.id / ".appearance_512.safetensors.1a2b3c4d.tmp").write_bytes(b"\0")
    store, enc = _store(tmp_path)
    assert not list(tmp_path.rglob("*.tmp"))
    enc.broken = True  # every save now fills the disk halfway through
    with pytest.raises(ResourceExhaustedError, match="disk is full") as e:
        await store.register(b"face a", sizes=[256, 512])
    assert e.value.field == "sizes"
    _no_path(e.value, tmp_path)
    with pytest.raises(ResourceExhaustedError, match="disk is full") as e:
        await store.register(b"face b")
    _no_path(e.value, tmp_path)
    assert not list(tmp_path.rglob("*.tmp"))
    assert [r.sizes for r in store.records()[1:]] == [(256,)]
    # A session asking for an unstorable size is still served, from memory.
    enc.broken = False
    store.quota_bytes = store.used_bytes
    assert (await store.appearance(record.id, 512)) is astronaut(512)
    assert [r.sizes for r in store.records()[1:]] == [(256,)]
