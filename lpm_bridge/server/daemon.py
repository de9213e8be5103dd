"""The daemon process: ``lpm-bridge serve``.

Start-up: bind the port and serve health (NOT_SERVING) and reflection at once, load the
model and the built-in avatar off the event loop, warm up, freeze the start-up heap out of
the garbage collector's reach (``freeze_startup_heap``), then report SERVING. Shutdown
on SIGTERM/SIGINT: health NOT_SERVING (draining), refuse new sessions, let live sessions
flush for up to the grace period, end what is left with UNAVAILABLE, stop the server, stop
the shared runner.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lpm_bridge._proto import bridge_pb2 as pb
from lpm_bridge.allocator import keep_batch_buffers
from lpm_bridge.appearance import SUPPORTED_SIZES
from lpm_bridge.engine import Backend, Engine, EngineOptions
from lpm_bridge.errors import UnavailableError
from lpm_bridge.server.avatars import (
    DEFAULT_AVATARS_DIR,
    DEFAULT_ID,
    DEFAULT_QUOTA_BYTES,
    AvatarStore,
)
from lpm_bridge.server.servicer import BridgeServicer, ServerLimits, add_to_server
from lpm_bridge.server.websocket import PATH as WS_PATH
from lpm_bridge.server.websocket import WebSocketGateway
from lpm_bridge.session import LiveSession
from lpm_bridge.session_types import SessionConfig

log = logging.getLogger("lpm_bridge.server")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Bridge"].full_name  # "lpm.bridge.v1.Bridge"
KEEPALIVE_S = 60  # the server pings an idle connection this often
SHUTDOWN_S = 1.0  # after the grace period: for the last statuses to go out


@dataclass(frozen=True)
class ServeOptions:
    """``lpm-bridge serve`` options (one field per flag)."""

    host: str = "127.0.0.1"
    port: int = 50051  # 0: any free port (the chosen one is printed)
    ws_port: int | None = None  # WebSocket gateway (Godot, WebGL); None: off, 0: any free port
    avatars_dir: Path = DEFAULT_AVATARS_DIR
    # disk the avatar store may use; beyond it the least recently used avatars go
    avatars_quota_mb: int = DEFAULT_QUOTA_BYTES // 2**20
    model: Path | None = None  # mapper checkpoint directory; None: the shipped default
    device: str = "cpu"
    # torch intra-op threads per op. 1 by default: the cores are used by the engine's render
    # workers instead, and multi-threaded ops spin at barriers whenever the event loop or
    # another process wants a core (measured: a 16-session mapper call 13 ms -> 1.5 s).
    threads: int = 1
    # Compute worker processes: the mapper and renderer out of the daemon's GIL (see
    # compute_pool). None: one per lane on a CPU with more than one core, else none.
    compute_processes: int | None = None
    grace_s: float = 5.0  # how long live sessions may take to flush on shutdown
    limits: ServerLimits = field(default_factory=ServerLimits)
    engine: EngineOptions = field(default_factory=EngineOptions)


class _FrozenClock:
    def now(self) -> float:
        return 0.0


async def warm_up(engine: Engine, appearances: list[object]) -> None:
    """Run one short utterance through the whole path, with the first of ``appearances``
    (the default avatar at each output size), so the first client pays no lazy init; then
    warm every compute worker at every size."""
    appearance = appearances[0]
    cfg = SessionConfig(sample_rate_hz=16000, seed=0)
    session = LiveSession(
        cfg,
        engine.backend.new_stream(cfg),
        appearance=appearance,
        runner=engine,
        clock=_FrozenClock(),
    )
    await session.start()
    session.push_audio((np.sin(np.arange(8000) / 8.0) * 8000).astype(np.int16))
    session.finish()
    async for _ in session:
        pass
    warm = getattr(engine.backend, "warm", None)  # compute workers the utterance missed
    if warm is not None:
        await asyncio.to_thread(warm, appearances)


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)


def freeze_startup_heap() -> int:
    """Move every object alive after start-up into the collector's permanent generation.

    torch, transformers, grpc and the model leave ~370 000 objects behind, and a full
    (generation 2) collection walks all of them: 170 ms measured while 16 live sessions
    streamed, holding the GIL, so every lane and the event loop stop and a wave of frames is
    late. Frozen objects are never walked again; later full collections see only what the
    sessions made since (0.7 ms measured). ``serve`` unfreezes on shutdown. Returns the
    number of objects frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _build_server(
    lim: ServerLimits, servicer: BridgeServicer
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """The grpc.aio server with the Bridge, health and reflection services."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", lim.max_request_bytes),
            # every frame fits: the largest, 512x512 RGBA8, is 1 MiB
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ("grpc.so_reuseport", 0),  # a second daemon on the same port fails instead of sharing
            # A client that stops answering pings (killed, frozen, gone from the network)
            # loses its connection, and its calls end, within KEEPALIVE_S + 20 s.
            ("grpc.keepalive_time_ms", KEEPALIVE_S * 1000),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.http2.max_pings_without_data", 0),
        ]
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    add_to_server(servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer


async def _start_engine(
    opts: ServeOptions, store: AvatarStore, backend_factory: Callable[[], Backend] | None
) -> Engine:
    """Load the model off the event loop, start the runner, encode the default avatar, warm up."""
    _set_threads(opts.threads)
    if not keep_batch_buffers():
        log.info("malloc not tuned (not glibc): batch buffers are page-faulted in per batch")
    factory = backend_factory or (lambda: _load_backend(opts))
    backend = await asyncio.to_thread(factory)
    engine = Engine(backend, opts.engine)
    await engine.start()
    try:
        await store.load_default()
        await warm_up(engine, [await store.appearance(DEFAULT_ID, s) for s in SUPPORTED_SIZES])
    except BaseException:
        await engine.aclose()
        await _close_backend(backend)
        raise
    return engine


async def _close_backend(backend: Backend) -> None:
    """End what the backend started (its compute processes), if it has anything to end."""
    close = getattr(backend, "close", None)
    if close is not None:
        await asyncio.to_thread(close)


async def serve(
    opts: ServeOptions,
    *,
    backend_factory: Callable[[], Backend] | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Run the daemon until ``stop`` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    store = AvatarStore(opts.avatars_dir, quota_bytes=opts.avatars_quota_mb * 2**20)
    servicer = BridgeServicer(None, store, opts.limits)
    store.in_use = lambda: [s.avatar_id for s in servicer.sessions.values()]  # never evicted
    server, health_servicer = _build_server(opts.limits, servicer)

    async def set_health(status: int) -> None:
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, status)

    await set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_insecure_port(f"{opts.host}:{opts.port}")
    if port == 0:
        raise OSError(f"cannot listen on {opts.host}:{opts.port}")
    await server.start()
    print(f"lpm-bridge: listening on {opts.host}:{port} (loading model)", flush=True)
    engine: Engine | None = None
    gateway: WebSocketGateway | None = None
    try:
        if opts.ws_port is not None:
            gateway = WebSocketGateway(
                servicer, opts.host, opts.ws_port, opts.limits.max_request_bytes
            )
            ws_port = await gateway.start()
            url = f"ws://{opts.host}:{ws_port}{WS_PATH}"
            print(f"lpm-bridge: websocket gateway on {url}", flush=True)
        engine = await _start_engine(opts, store, backend_factory)
        freeze_startup_heap()
        servicer.engine = engine
        await set_health(health_pb2.HealthCheckResponse.SERVING)
        print(f"lpm-bridge: serving on {opts.host}:{port} ({engine.backend.name})", flush=True)
        if on_ready is not None:
            on_ready(port)
        await stop.wait()
    finally:
        print("lpm-bridge: draining", flush=True)
        await set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await _drain(servicer, opts.grace_s)
        await server.stop(SHUTDOWN_S)
        if gateway is not None:
            await gateway.aclose()
        if engine is not None:
            await engine.aclose()
            await _close_backend(engine.backend)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        # Hand the frozen objects back to the collector: objects kept only by cycles (a
        # warm-up session's resampler among them) are then finalised at exit, not reported
        # as leaked by the extension modules that own them.
        gc.unfreeze()
        print("lpm-bridge: stopped", flush=True)


async def _drain(servicer: BridgeServicer, grace_s: float) -> None:
    """Let live sessions flush what they accepted for up to ``grace_s``, then end the rest
    with UNAVAILABLE (a clear reason rather than gRPC's CANCELLED)."""
    servicer.drain()
    if not await servicer.wait_drained(grace_s):
        servicer.end_all(
            UnavailableError(
                f"server is shutting down: the {grace_s:g} s grace period ended before this "
                "session finished; retry on a running server"
            )
        )
        await servicer.wait_drained(SHUTDOWN_S)


def compute_processes(opts: ServeOptions) -> int:
    """Render worker processes to start: as asked, else one per lane on a multi-core CPU."""
    if opts.compute_processes is not None:
        return opts.compute_processes
    if opts.device != "cpu":
        return 0
    lanes = opts.engine.render_workers or os.cpu_count() or 1
    return lanes if lanes > 1 else 0


def _load_backend(opts: ServeOptions) -> Backend:
    from lpm_bridge.backend import LPMBackend

    return LPMBackend.load(
        opts.model, device=opts.device, compute_processes=compute_processes(opts)
    )


def run(opts: ServeOptions) -> int:
    """Blocking entry point of ``lpm-bridge serve``."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    asyncio.run(serve(opts))
    return 0
