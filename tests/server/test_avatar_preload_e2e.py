"""RegisterAvatar hands the new face, at each size asked for, to every compute process
before any session uses it.

In-process daemon (``serve``) with the real backend and two compute processes, driven over
a loopback gRPC socket; the pool is asked directly what each worker holds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
from face_helpers import mirrored_astronaut_png

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge._proto import bridge_pb2_grpc as pb_grpc
from lpm_bridge.backend import LPMBackend
from lpm_bridge.server.daemon import ServeOptions, serve


async def test_a_registered_face_reaches_every_compute_process_before_a_session(
    tmp_path: Path,
) -> None:
    backends: list[LPMBackend] = []

    def factory() -> Any:
        backends.append(LPMBackend.load(None, device="cpu", compute_processes=2))
        return backends[0]

    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    opts = ServeOptions(port=0, avatars_dir=tmp_path, compute_processes=2, grace_s=1.0)
    daemon = asyncio.create_task(
        serve(opts, backend_factory=factory, stop=stop, on_ready=ready.set_result)
    )
    try:
        port = await asyncio.wait_for(asyncio.shield(ready), 300)
        pool = backends[0].pool
        assert pool is not None
        before = await asyncio.to_thread(pool.cached)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.BridgeStub(channel)  # type: ignore[no-untyped-call]
            image = mirrored_astronaut_png()
            avatar = await stub.RegisterAvatar(pb.RegisterAvatarRequest(portrait_image=image))
            assert len(avatar.id) == 16
            # The reply comes after the face is in both workers: one more appearance each.
            assert await asyncio.to_thread(pool.cached) == [n + 1 for n in before]
            assert list(avatar.sizes) == [256]
            # Registering the same bytes again sends nothing more.
            again = await stub.RegisterAvatar(pb.RegisterAvatarRequest(portrait_image=image))
            assert again.id == avatar.id
            assert await asyncio.to_thread(pool.cached) == [n + 1 for n in before]
            # Asking for 512 too: encoded, stored and in both workers before the reply.
            both = await stub.RegisterAvatar(
                pb.RegisterAvatarRequest(portrait_image=image, sizes=[512, 256])
            )
            assert both.id == avatar.id and list(both.sizes) == [256, 512]
            assert (tmp_path / avatar.id / "appearance_512.safetensors").is_file()
            assert await asyncio.to_thread(pool.cached) == [n + 2 for n in before]
    finally:
        stop.set()
        await asyncio.wait_for(daemon, 60)
