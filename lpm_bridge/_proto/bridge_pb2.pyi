# mypy: ignore-errors
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FrameEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_ENCODING_UNSPECIFIED: _ClassVar[FrameEncoding]
    FRAME_ENCODING_JPEG: _ClassVar[FrameEncoding]
    FRAME_ENCODING_RGBA8: _ClassVar[FrameEncoding]
    FRAME_ENCODING_RGB8: _ClassVar[FrameEncoding]
    FRAME_ENCODING_NONE: _ClassVar[FrameEncoding]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_UTTERANCE_START: _ClassVar[EventType]
    EVENT_TYPE_UTTERANCE_END: _ClassVar[EventType]
    EVENT_TYPE_INTERRUPTED: _ClassVar[EventType]
    EVENT_TYPE_FRAMES_DROPPED: _ClassVar[EventType]
    EVENT_TYPE_ERROR: _ClassVar[EventType]
FRAME_ENCODING_UNSPECIFIED: FrameEncoding
FRAME_ENCODING_JPEG: FrameEncoding
FRAME_ENCODING_RGBA8: FrameEncoding
FRAME_ENCODING_RGB8: FrameEncoding
FRAME_ENCODING_NONE: FrameEncoding
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_UTTERANCE_START: EventType
EVENT_TYPE_UTTERANCE_END: EventType
EVENT_TYPE_INTERRUPTED: EventType
EVENT_TYPE_FRAMES_DROPPED: EventType
EVENT_TYPE_ERROR: EventType

class PerformRequest(_message.Message):
    __slots__ = ("config", "audio", "end_of_utterance", "interrupt")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    END_OF_UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    INTERRUPT_FIELD_NUMBER: _ClassVar[int]
    config: SessionConfig
    audio: AudioChunk
    end_of_utterance: EndOfUtterance
    interrupt: Interrupt
    def __init__(self, config: _Optional[_Union[SessionConfig, _Mapping]] = ..., audio: _Optional[_Union[AudioChunk, _Mapping]] = ..., end_of_utterance: _Optional[_Union[EndOfUtterance, _Mapping]] = ..., interrupt: _Optional[_Union[Interrupt, _Mapping]] = ...) -> None: ...

class SessionConfig(_message.Message):
    __slots__ = ("avatar_id", "portrait_image", "sample_rate_hz", "fps", "size", "encoding", "jpeg_quality", "blendshapes", "seed", "inference_steps", "lookahead_ms")
    AVATAR_ID_FIELD_NUMBER: _ClassVar[int]
    PORTRAIT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    BLENDSHAPES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    LOOKAHEAD_MS_FIELD_NUMBER: _ClassVar[int]
    avatar_id: str
    portrait_image: bytes
    sample_rate_hz: int
    fps: int
    size: int
    encoding: FrameEncoding
    jpeg_quality: int
    blendshapes: bool
    seed: int
    inference_steps: int
    lookahead_ms: int
    def __init__(self, avatar_id: _Optional[str] = ..., portrait_image: _Optional[bytes] = ..., sample_rate_hz: _Optional[int] = ..., fps: _Optional[int] = ..., size: _Optional[int] = ..., encoding: _Optional[_Union[FrameEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., blendshapes: _Optional[bool] = ..., seed: _Optional[int] = ..., inference_steps: _Optional[int] = ..., lookahead_ms: _Optional[int] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("pcm",)
    PCM_FIELD_NUMBER: _ClassVar[int]
    pcm: bytes
    def __init__(self, pcm: _Optional[bytes] = ...) -> None: ...

class EndOfUtterance(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Interrupt(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PerformResponse(_message.Message):
    __slots__ = ("started", "frame", "event")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    started: SessionStarted
    frame: Frame
    event: Event
    def __init__(self, started: _Optional[_Union[SessionStarted, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ..., event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class SessionStarted(_message.Message):
    __slots__ = ("session_id", "config", "blendshape_names", "width", "height", "viseme_names")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    BLENDSHAPE_NAMES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    VISEME_NAMES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    config: SessionConfig
    blendshape_names: _containers.RepeatedScalarFieldContainer[str]
    width: int
    height: int
    viseme_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_id: _Optional[str] = ..., config: _Optional[_Union[SessionConfig, _Mapping]] = ..., blendshape_names: _Optional[_Iterable[str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., viseme_names: _Optional[_Iterable[str]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("index", "pts_samples", "pts_seconds", "encoding", "image", "width", "height", "blendshapes", "viseme", "speaking", "head_rotation")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PTS_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PTS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BLENDSHAPES_FIELD_NUMBER: _ClassVar[int]
    VISEME_FIELD_NUMBER: _ClassVar[int]
    SPEAKING_FIELD_NUMBER: _ClassVar[int]
    HEAD_ROTATION_FIELD_NUMBER: _ClassVar[int]
    index: int
    pts_samples: int
    pts_seconds: float
    encoding: FrameEncoding
    image: bytes
    width: int
    height: int
    blendshapes: _containers.RepeatedScalarFieldContainer[float]
    viseme: int
    speaking: bool
    head_rotation: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, index: _Optional[int] = ..., pts_samples: _Optional[int] = ..., pts_seconds: _Optional[float] = ..., encoding: _Optional[_Union[FrameEncoding, str]] = ..., image: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., blendshapes: _Optional[_Iterable[float]] = ..., viseme: _Optional[int] = ..., speaking: _Optional[bool] = ..., head_rotation: _Optional[_Iterable[float]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("type", "pts_samples", "message", "status_code", "field")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PTS_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    type: EventType
    pts_samples: int
    message: str
    status_code: int
    field: str
    def __init__(self, type: _Optional[_Union[EventType, str]] = ..., pts_samples: _Optional[int] = ..., message: _Optional[str] = ..., status_code: _Optional[int] = ..., field: _Optional[str] = ...) -> None: ...

class RegisterAvatarRequest(_message.Message):
    __slots__ = ("portrait_image", "name", "sizes")
    PORTRAIT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    portrait_image: bytes
    name: str
    sizes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, portrait_image: _Optional[bytes] = ..., name: _Optional[str] = ..., sizes: _Optional[_Iterable[int]] = ...) -> None: ...

class Avatar(_message.Message):
    __slots__ = ("id", "name", "content_sha256", "sizes", "builtin")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    content_sha256: str
    sizes: _containers.RepeatedScalarFieldContainer[int]
    builtin: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., content_sha256: _Optional[str] = ..., sizes: _Optional[_Iterable[int]] = ..., builtin: _Optional[bool] = ...) -> None: ...

class ListAvatarsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAvatarsResponse(_message.Message):
    __slots__ = ("avatars",)
    AVATARS_FIELD_NUMBER: _ClassVar[int]
    avatars: _containers.RepeatedCompositeFieldContainer[Avatar]
    def __init__(self, avatars: _Optional[_Iterable[_Union[Avatar, _Mapping]]] = ...) -> None: ...

class DeleteAvatarRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteAvatarResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_sessions", "active_sessions", "max_request_bytes", "min_sample_rate_hz", "max_sample_rate_hz", "sizes", "fps", "max_inference_steps", "outbox_frames", "max_pending_audio_s", "max_lookahead_ms")
    MAX_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    MAX_SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    MAX_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_AUDIO_S_FIELD_NUMBER: _ClassVar[int]
    MAX_LOOKAHEAD_MS_FIELD_NUMBER: _ClassVar[int]
    max_sessions: int
    active_sessions: int
    max_request_bytes: int
    min_sample_rate_hz: int
    max_sample_rate_hz: int
    sizes: _containers.RepeatedScalarFieldContainer[int]
    fps: _containers.RepeatedScalarFieldContainer[int]
    max_inference_steps: int
    outbox_frames: int
    max_pending_audio_s: float
    max_lookahead_ms: int
    def __init__(self, max_sessions: _Optional[int] = ..., active_sessions: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., min_sample_rate_hz: _Optional[int] = ..., max_sample_rate_hz: _Optional[int] = ..., sizes: _Optional[_Iterable[int]] = ..., fps: _Optional[_Iterable[int]] = ..., max_inference_steps: _Optional[int] = ..., outbox_frames: _Optional[int] = ..., max_pending_audio_s: _Optional[float] = ..., max_lookahead_ms: _Optional[int] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "model", "limits", "capabilities", "encodings", "device")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ENCODINGS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    version: str
    model: str
    limits: Limits
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    encodings: _containers.RepeatedScalarFieldContainer[FrameEncoding]
    device: str
    def __init__(self, version: _Optional[str] = ..., model: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., capabilities: _Optional[_Iterable[str]] = ..., encodings: _Optional[_Iterable[_Union[FrameEncoding, str]]] = ..., device: _Optional[str] = ...) -> None: ...
