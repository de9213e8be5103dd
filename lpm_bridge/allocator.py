"""Allocator tuning shared by the daemon and its compute processes (glibc malloc).

Role in the bridge: a process-level setting, kept out of ``server.daemon`` so a compute
worker (``compute_pool``) can apply it without importing gRPC.
"""

from __future__ import annotations

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_batch_buffers() -> bool:
    """Have glibc keep freed multi-MB tensors for reuse instead of unmapping them.

    Every batch allocates and frees the renderer's chunk buffers (up to ~30 MB). By default glibc
    serves them with ``mmap`` in the lanes' arenas and hands them back to the kernel on
    ``free``, so every batch page-faults them in again: about 30 000 faults a second at
    16 sessions, 12 % of the daemon's CPU in the kernel zeroing pages. A fixed mmap
    threshold of 32 MB (the largest glibc allows) and a high trim threshold keep them in the
    heap: resident memory stays at its peak instead of breathing. False where the C library
    is not glibc (nothing to tune).
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1
        return bool(ok and libc.mallopt(_M_TRIM_THRESHOLD, 512 << 20) == 1)
    except (OSError, AttributeError):
        return False
