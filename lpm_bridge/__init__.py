"""lpm-bridge: a real-time talking-avatar server for games.

The model follows the LPM design: an appearance encoder reads one portrait once,
an audio performance mapper turns streaming audio into motion frames with a
few-step flow-matching model conditioned on a 32-frame state buffer, and a
renderer warps the fixed appearance by that motion. The bridge hosts it behind
one bidirectional gRPC stream.
"""

__version__ = "0.1.0"
