"""Typed errors shared by the model, the pipeline and the bridge.

Every error a user can cause is an ``LPMError`` naming the field at fault; the gRPC
servicer maps each class to one status code (``grpc_status`` below), so transports
never parse messages.

A message echoes client values through ``echo`` (cut at ``MAX_ECHO_CHARS``), and every
message is cut at ``MAX_MESSAGE_CHARS`` whatever it holds: gRPC sends it as trailing
metadata (8 KiB by default), so a 1 MB avatar id echoed whole turned NOT_FOUND into
RESOURCE_EXHAUSTED "metadata size exceeds limit" (issue 18).
"""

from __future__ import annotations

from typing import Final

#: Longest echo of one client-sent value (an id, a name, a path) in a message.
MAX_ECHO_CHARS: Final[int] = 80
#: Longest message an LPMError carries (4 KB of UTF-8 at most: well inside gRPC's 8 KiB).
MAX_MESSAGE_CHARS: Final[int] = 1000
ELLIPSIS: Final[str] = "\u2026"


def echo(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """``repr(value)`` for a message, cut at ``limit`` characters with its full length.

    ``echo("x" * 10**6)`` is ``'xxx…' (1000000 characters)``.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str | bytes) else ""
    return f"{text[:limit]}{ELLIPSIS}{size}"


def _capped(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 1] + ELLIPSIS


class LPMError(Exception):
    """Base of every error lpm-bridge raises on purpose.

    ``field`` names the input at fault (a proto field, CLI flag or argument name),
    or is ``None`` when no single field is to blame.
    """

    #: name of the grpc.StatusCode member this error maps to
    grpc_status: str = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        message = _capped(message)
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInputError(LPMError, ValueError):
    """The caller sent something malformed or out of range."""

    grpc_status = "INVALID_ARGUMENT"


class ImageError(InvalidInputError):
    """A portrait that is not an image, is truncated, or is too large."""


class NoFaceError(InvalidInputError):
    """A portrait in which no face was found."""


class FaceTooSmallError(InvalidInputError):
    """A portrait whose face is too small to animate."""


class MotionError(InvalidInputError):
    """A motion frame or track of the wrong shape or with invalid values."""


class AudioError(InvalidInputError):
    """Audio that cannot be decoded: odd byte counts, bad rates, wrong channel count."""


class ConfigError(InvalidInputError):
    """A session, model or command option out of range."""


class NotFoundError(LPMError, LookupError):
    """A named thing (an avatar id, a file) does not exist."""

    grpc_status = "NOT_FOUND"


class PreconditionError(LPMError):
    """A call that is valid in itself but not now (audio before config, a second config)."""

    grpc_status = "FAILED_PRECONDITION"


class ResourceExhaustedError(LPMError):
    """A limit was reached (sessions, message size, queue)."""

    grpc_status = "RESOURCE_EXHAUSTED"


class UnavailableError(LPMError):
    """The server cannot take the call now (loading or draining); retrying later may work."""

    grpc_status = "UNAVAILABLE"


class CheckpointError(LPMError):
    """A model checkpoint directory that is missing files or has the wrong config."""

    grpc_status = "FAILED_PRECONDITION"


class DeadlineExceededError(LPMError):
    """A call that waited too long for the client (no config in time, an idle session)."""

    grpc_status = "DEADLINE_EXCEEDED"
