"""Daemon fixtures for the end-to-end tests (see daemon_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from daemon_harness import Daemon, started

from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with started(Daemon(tmp_path_factory.mktemp("avatars"))) as d:
        yield d


@pytest.fixture
async def stub(daemon: Daemon) -> AsyncIterator[pb_grpc.BridgeStub]:
    async with grpc.aio.insecure_channel(daemon.target) as channel:
        yield pb_grpc.BridgeStub(channel)  # type: ignore[no-untyped-call]


@pytest.fixture
def avatars_dir(tmp_path: Path) -> Path:
    return tmp_path / "avatars"
