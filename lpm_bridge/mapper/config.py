"""Configuration of the audio performance mapper: sizes, conditioning windows, normalisation.

Role in the LPM design: everything needed to rebuild the velocity network and to interpret its
numbers lives here and is saved as ``config.json`` beside the weights, so a checkpoint directory
is self-describing (``save_pretrained`` / ``from_pretrained``).
"""

from __future__ import annotations

from typing import Any, Final

from transformers import PretrainedConfig

from lpm_bridge.audio import MEL_MS, N_MELS
from lpm_bridge.motion import CH, SUPPORTED_FPS
from lpm_bridge.visemes import MOUTH_CHANNELS

MODEL_TYPE: Final[str] = "lpm_motion_mapper"
STATE_FRAMES: Final[int] = 32  # the latent state buffer: the last 32 motion frames
STATE_PATCH: Final[int] = 4  # state frames per network token
MAX_CHUNK: Final[int] = 32
DEFAULT_CHUNK: Final[int] = 16
MAX_LOOKAHEAD_MS: Final[int] = 80
PAST_CONTEXT_MS: Final[int] = 160

# Channels the network generates; every other ARKit weight stays at its rest value (0). The
# mouth is driven by the voice, blinks and brows are partly stochastic, the head is stochastic.
ACTIVE_CHANNELS: Final[tuple[str, ...]] = (
    *MOUTH_CHANNELS,
    "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "yaw", "pitch", "roll",
)  # fmt: skip


class MotionMapperConfig(PretrainedConfig):  # type: ignore[no-untyped-call]
    """Hyper-parameters of ``AudioPerformanceMapper`` plus the motion normalisation statistics.

    ``motion_mean`` / ``motion_std`` (one per active channel) map motion to the unit-scale space
    in which flow matching runs; ``rest_pose`` (55 values) fills the state buffer of a new stream.
    """

    model_type = MODEL_TYPE

    def __init__(
        self,
        n_mels: int = N_MELS,
        past_context_ms: int = PAST_CONTEXT_MS,
        max_lookahead_ms: int = MAX_LOOKAHEAD_MS,
        state_frames: int = STATE_FRAMES,
        state_patch: int = STATE_PATCH,
        max_chunk: int = MAX_CHUNK,
        d_model: int = 128,
        n_layers: int = 3,
        n_heads: int = 4,
        d_ff: int = 256,
        audio_hidden: int = 256,
        active_channels: list[str] | None = None,
        motion_mean: list[float] | None = None,
        motion_std: list[float] | None = None,
        rest_pose: list[float] | None = None,
        supported_fps: list[int] | None = None,
        mouth_temperature: float = 1.0,
        eye_temperature: float = 1.0,
        eye_temperature_by_fps: dict[str, float] | None = None,
        solver: str = "euler",
        state_prefix: bool = False,
        state_hidden_channels: list[str] | None = None,
        mouth_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        self.n_mels = n_mels
        self.past_context_ms = past_context_ms
        self.max_lookahead_ms = max_lookahead_ms
        self.state_frames = state_frames
        self.state_patch = state_patch
        self.max_chunk = max_chunk
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.audio_hidden = audio_hidden
        self.active_channels = list(active_channels or ACTIVE_CHANNELS)
        n = len(self.active_channels)
        self.motion_mean = list(motion_mean) if motion_mean is not None else [0.0] * n
        self.motion_std = list(motion_std) if motion_std is not None else [1.0] * n
        self.rest_pose = list(rest_pose) if rest_pose is not None else [0.0] * len(CH)
        self.supported_fps = list(supported_fps or SUPPORTED_FPS)
        # Scale of the ODE start noise on the mouth channels at sampling time (not training):
        # the lips are determined by the voice, so less noise there trades nothing away.
        self.mouth_temperature = mouth_temperature
        # Blinks are a rare mode of the eyelid channels; a few-step solver under-reaches rare
        # modes, and a wider start noise there restores the human blink rate (tuned on held-out).
        self.eye_temperature = eye_temperature
        # Per frame rate where it differs (keys are fps as strings, as JSON has them): each
        # frame draws its own noise, so at 60 fps the same temperature starts blinks 2.4x
        # as often per second as at 25.
        self.eye_temperature_by_fps = dict(eye_temperature_by_fps or {})
        # Default ODE method of streams built on this checkpoint ("euler", "midpoint", "heun").
        self.solver = solver
        # The state tokens form a prefix that sees neither the flow time nor the chunk: their
        # keys and values are computed once per chunk and reused by every ODE step (each step
        # then runs only the chunk's tokens). False: the original design (checkpoints that
        # predate the flag), where the state tokens carry the flow time and see the chunk.
        self.state_prefix = state_prefix
        # Active channels the state buffer does not show the network (set to the training mean,
        # 0 in model space). Why: with the lips visible in its own past frames, a one-frame chunk
        # (what a live session asks for) learned to copy the last frame; fed its own slightly
        # damped output 25 times a second, the mouth decayed to closed and stayed there (live
        # jawOpen peak 0.02 on a flite voice that reaches 0.48 in 16-frame chunks). Hidden, the
        # lips come from the audio window; their smoothness from its overlap between frames.
        self.state_hidden_channels = list(state_hidden_channels or [])
        unknown = set(self.state_hidden_channels) - set(self.active_channels)
        if unknown:
            raise ValueError(f"state_hidden_channels not active: {sorted(unknown)}")
        # Share of the previous frame's lips each new frame keeps (a causal one-pole filter on
        # the mouth channels, at 25 fps; other rates keep the same time constant). Why: with the
        # lips hidden from the state, a one-frame chunk is decided by its audio window alone,
        # and consecutive windows' estimates wobble (2nd difference of jawOpen 0.09 against
        # 0.027 for 16-frame chunks, whose frames see each other). 0 = off.
        self.mouth_smoothing = mouth_smoothing
        super().__init__(**kwargs)

    def mouth_keep_at(self, fps: int) -> float:
        """Per-frame share of the previous lips kept at ``fps`` (same time constant as at 25)."""
        return float(self.mouth_smoothing ** (25.0 / fps)) if self.mouth_smoothing > 0 else 0.0

    def eye_temperature_at(self, fps: int) -> float:
        """The eyelid sampling temperature for streams at ``fps``."""
        return float(self.eye_temperature_by_fps.get(str(fps), self.eye_temperature))

    @property
    def past_frames(self) -> int:
        """Mel frames (10 ms each) of audio context before a motion frame's own time."""
        return self.past_context_ms // MEL_MS

    @property
    def lookahead_frames(self) -> int:
        """Mel frames of audio after a motion frame's time the network can be shown at most."""
        return self.max_lookahead_ms // MEL_MS

    @property
    def audio_window(self) -> int:
        """Mel frames per motion frame: past context, the frame itself, maximal lookahead."""
        return self.past_frames + 1 + self.lookahead_frames

    @property
    def motion_dim(self) -> int:
        return len(self.active_channels)

    @property
    def state_keep(self) -> list[float]:
        """(D,) 1 for each active channel the state shows the network, 0 for a hidden one."""
        hidden = set(self.state_hidden_channels)
        return [0.0 if c in hidden else 1.0 for c in self.active_channels]
