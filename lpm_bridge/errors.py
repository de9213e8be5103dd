"""Typed errors shared by the model, the pipeline and the bridge.

Every error a user can cause is an ``LPMError`` naming the field at fault; the gRPC
servicer maps each class to one status code (``grpc_status`` below), so transports
never parse messages.
"""

from __future__ import annotations


class LPMError(Exception):
    """Base of every error lpm-bridge raises on purpose.

    ``field`` names the input at fault (a proto field, CLI flag or argument name),
    or is ``None`` when no single field is to blame.
    """

    #: name of the grpc.StatusCode member this error maps to
    grpc_status: str = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None) -> None:
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
