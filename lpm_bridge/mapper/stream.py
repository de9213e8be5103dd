"""``MotionStream``: one audio stream in, motion frames out, with constant memory per stream.

Role in the LPM design: this is the audio performance mapper at run time. Audio is pushed as it
arrives (speech or silence alike, on the stream's own timeline); motion frame ``k`` sits at audio
time ``k / fps`` and becomes ready once audio through ``k / fps + 12.5 ms`` (half the mel window)
``+ lookahead`` has been pushed (plus about 10 ms of resampler delay for rates other than 16 kHz).
Each chunk of ``n`` frames (1..32) is sampled by the flow-matching ODE from noise, conditioned on
its audio and on the 32-frame state buffer, which it then updates.

The noise of frame ``k`` depends only on ``(seed, k)``, so the same seed and audio give the same
motion. ``prepare`` / ``sample_batch`` / ``commit`` split ``generate`` so a server can batch chunks
of many streams into one network call (same numbers as ``generate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from lpm_bridge.audio import (
    FEATURE_RATE,
    HALF_WINDOW,
    HOP,
    MEL_FPS,
    MEL_MS,
    SILENCE_VALUE,
    LogMelStream,
    to_float_mono,
)
from lpm_bridge.errors import ConfigError, PreconditionError, ResourceExhaustedError
from lpm_bridge.mapper.config import DEFAULT_CHUNK, MAX_CHUNK, MotionMapperConfig
from lpm_bridge.mapper.flow import DEFAULT_STEPS, Method, ODESolver, uniform_time_grid
from lpm_bridge.mapper.state import MotionCodec, StateBuffer
from lpm_bridge.motion import CH, DEFAULT_FPS
from lpm_bridge.visemes import MOUTH_CHANNELS

if TYPE_CHECKING:
    from lpm_bridge.mapper.net import MapperNet

FloatArray = npt.NDArray[np.float32]
# Audio pushed ahead of the generated frames is held until used; past this it is refused, which
# bounds a stream's memory even if its caller never generates.
MAX_PENDING_S: Final[float] = 120.0
RESAMPLER_MARGIN_S: Final[float] = 0.015  # soxr "LQ" holds back about 10 ms
_SEED_MIX: Final[int] = 1_000_003
EYELID_CHANNELS: Final[frozenset[str]] = frozenset({"eyeBlinkLeft", "eyeBlinkRight"})
# Padding frames one batched call may carry so chunks of different lengths share it: one call's
# fixed cost (~2.5 ms on one thread) is about what 24 frames of its tokens cost.
PAD_FRAMES: Final[int] = 24


@dataclass(frozen=True)
class ChunkRequest:
    """Everything needed to sample one chunk, detached from its stream (batchable)."""

    stream_id: int
    start_frame: int
    audio: Tensor  # (n, W, M) mel windows
    state: Tensor  # (S, D) state buffer, model space
    noise: Tensor  # (n, D) ODE start x_0
    lookahead: int  # mel frames of lookahead shown to the network
    fps_index: int
    num_steps: int
    method: Method

    @property
    def n(self) -> int:
        return int(self.audio.shape[0])


def frame_noise(seed: int, start: int, n: int, dim: int) -> Tensor:
    """ODE start noise of frames start .. start + n - 1: (n, dim); row k depends on (seed, k)."""
    rows = []
    for k in range(start, start + n):
        g = torch.Generator().manual_seed((seed * _SEED_MIX + k) % (2**63))
        rows.append(torch.randn(dim, generator=g))
    return torch.stack(rows)


def sample_batch(model: MapperNet, requests: list[ChunkRequest]) -> list[FloatArray]:
    """Sample many chunks (of any streams) with batched network calls; one (n, 55) array each.

    Chunks of one solver are sampled together. With a state-prefix model, chunks of different
    lengths share a call, padded to the longest (``_length_groups``): each call costs a fixed
    ~2.5 ms of small ops (4 steps x 3 layers, one thread) against ~0.1 ms a frame, and a
    batch of live sessions holds jobs of 1, 2 and 3 frames, which one call per length paid
    three times over (9.1 vs 4.5 ms for five sessions, `bench/motion_speed.py`).
    """
    codec = MotionCodec.from_config(model.config)
    outs: list[FloatArray | None] = [None] * len(requests)
    solvers: dict[tuple[int, str], list[int]] = {}
    for i, r in enumerate(requests):
        solvers.setdefault((r.num_steps, r.method), []).append(i)
    for (steps, method), members in solvers.items():
        for idx in _length_groups([requests[i].n for i in members], model.config.state_prefix):
            rs = [requests[members[j]] for j in idx]
            n = max(r.n for r in rs)
            lengths = torch.tensor([r.n for r in rs]) if any(r.n < n for r in rs) else None
            with torch.inference_mode():
                cond = model.encode_condition(
                    torch.stack([_pad_rows(r.audio, n) for r in rs]),
                    torch.stack([r.state for r in rs]),
                    torch.tensor([r.lookahead for r in rs]),
                    torch.tensor([r.fps_index for r in rs]),
                    lengths,
                )
                solver = ODESolver(lambda x, t, c: model.velocity(x, t, c), method=method)  # type: ignore[arg-type]
                noise = torch.stack([_pad_rows(r.noise, n) for r in rs])
                x = solver.sample(noise, uniform_time_grid(steps), c=cond)
            for r, j, row in zip(rs, idx, x, strict=True):
                outs[members[j]] = codec.decode(row[: r.n].numpy())
    return [o for o in outs if o is not None]


def _length_groups(lengths: list[int], padded: bool) -> list[list[int]]:
    """Indices into ``lengths`` (chunk lengths) grouped into one network call each.

    Without ``padded`` one group per length. With it, lengths are taken shortest first and a
    group grows while its padding stays within ``PAD_FRAMES`` (what one call's fixed cost
    buys in frames): live jobs of 1-3 frames share a call, a 16-frame chunk does not drag
    sixteen one-frame jobs to sixteen frames each.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    for i in order:
        if groups:
            g = groups[-1]
            same = lengths[g[-1]] == lengths[i]
            pad = (len(g) + 1) * lengths[i] - sum(lengths[j] for j in g) - lengths[i]
            if same or (padded and pad <= PAD_FRAMES):
                g.append(i)
                continue
        groups.append([i])
    return groups


def _pad_rows(x: Tensor, n: int) -> Tensor:
    """``x: (m, ...)`` with ``n - m`` rows of zeros appended: ``(n, ...)``."""
    if len(x) == n:
        return x
    return torch.cat([x, x.new_zeros(n - len(x), *x.shape[1:])])


def noise_scale(cfg: MotionMapperConfig, fps: int = DEFAULT_FPS) -> Tensor:
    """(D,) sampling temperature per active channel: mouth, eyelids, everything else (1)."""
    scale = [
        cfg.mouth_temperature
        if c in MOUTH_CHANNELS
        else cfg.eye_temperature_at(fps)
        if c in EYELID_CHANNELS
        else 1.0
        for c in cfg.active_channels
    ]
    return torch.tensor(scale, dtype=torch.float32)


def _check_int(value: Any, lo: int, hi: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise ConfigError(f"{field} must be an integer in {lo}..{hi}, got {value!r}", field=field)
    return int(value)


class MotionStream:
    """Streaming audio -> motion for one session. See the module docstring for the timeline.

    ``max_chunk`` is the chunk size ``generate_ready`` uses; ``generate(n)`` accepts any
    ``1 <= n <= min(32, frames_ready)``.
    """

    def __init__(
        self,
        model: MapperNet,
        sample_rate: int = FEATURE_RATE,
        fps: int = DEFAULT_FPS,
        num_steps: int = DEFAULT_STEPS,
        seed: int = 0,
        lookahead_ms: int | None = None,
        max_chunk: int = DEFAULT_CHUNK,
        method: Method | None = None,
    ) -> None:
        cfg = model.config
        if fps not in cfg.supported_fps:
            raise ConfigError(
                f"fps must be one of {tuple(cfg.supported_fps)}, got {fps!r}", field="fps"
            )
        uniform_time_grid(num_steps)  # validates num_steps
        look = cfg.max_lookahead_ms if lookahead_ms is None else lookahead_ms
        self.lookahead_ms = _check_int(look, 0, cfg.max_lookahead_ms, "lookahead_ms")
        self.max_chunk = _check_int(max_chunk, 1, MAX_CHUNK, "max_chunk")
        self.seed = _check_int(seed, 0, 2**62, "seed")
        self.model, self.fps, self.num_steps = model, int(fps), num_steps
        self.method: Method = method or cfg.solver  # type: ignore[assignment]
        ODESolver(lambda x, t: x, self.method)  # validates the method (ConfigError)
        self._codec = MotionCodec.from_config(cfg)
        self._noise_scale = noise_scale(cfg, self.fps)  # (D,)
        self._fps_index = list(cfg.supported_fps).index(fps)
        self._look = self.lookahead_ms // MEL_MS
        self._past, self._window = cfg.past_frames, cfg.audio_window
        self._mel = LogMelStream(sample_rate)  # validates sample_rate (AudioError)
        self.sample_rate = self._mel.sample_rate
        self._feats = np.zeros((0, cfg.n_mels), dtype=np.float32)  # mel frames from _feat_start
        self._feat_start = 0
        self._state = StateBuffer.rest(cfg)
        # The mouth filter (config.mouth_smoothing): the lips last emitted, on ARKit columns.
        self._mouth_cols = np.array([CH[c] for c in MOUTH_CHANNELS], dtype=np.int64)
        self._mouth_keep = cfg.mouth_keep_at(self.fps)
        self._lips = self._codec.rest[self._mouth_cols].astype(np.float32)
        self.frames_done = 0
        self.samples_pushed = 0
        self._flushed_at = 0  # samples_pushed right after the last flush

    # ---- timeline -------------------------------------------------------------------------
    def _mel_index(self, k: int) -> int:
        """Mel frame nearest to motion frame k's time k / fps."""
        return (MEL_FPS * k + self.fps // 2) // self.fps

    @property
    def state(self) -> StateBuffer:
        return self._state

    @property
    def frames_ready(self) -> int:
        """Frames that can be generated now (audio through their time + window + lookahead)."""
        last_mel = self._mel.mel_count - 1 - self._look  # newest mel a frame may centre on
        if last_mel < 0:
            return 0
        k = ((last_mel + 1) * self.fps - self.fps // 2 + MEL_FPS - 1) // MEL_FPS  # first too-late
        while k > 0 and self._mel_index(k - 1) > last_mel:
            k -= 1
        while self._mel_index(k) <= last_mel:
            k += 1
        return max(0, k - self.frames_done)

    def push_audio(self, pcm: npt.ArrayLike) -> None:
        """Append mono samples (int16, or float in [-1, 1]) at ``sample_rate`` to the timeline."""
        x = to_float_mono(pcm)
        pending = (self.samples_pushed + len(x)) / self.sample_rate - self.frames_done / self.fps
        if pending > MAX_PENDING_S:
            raise ResourceExhaustedError(
                f"more than {MAX_PENDING_S:.0f} s of audio pushed ahead of generated motion; "
                "generate frames before pushing more",
                field="audio",
            )
        self._append(x)

    def _append(self, x: FloatArray) -> None:
        self._feats = np.concatenate([self._feats, self._mel.push(x)])
        self.samples_pushed += len(x)

    def flush(self) -> int:
        """End of utterance: append just enough silence that every frame whose time lies inside
        the pushed audio becomes ready. Returns the number of silent samples appended (they are
        part of the timeline: ``samples_pushed`` grows by that much). A second flush with no audio
        pushed in between appends nothing."""
        if self.samples_pushed == self._flushed_at:
            return 0
        covered = math.ceil(self.samples_pushed * self.fps / self.sample_rate)
        appended = 0
        while self.frames_done + self.frames_ready < covered:
            need_mel = self._mel_index(covered - 1) + self._look + 1
            need16 = (need_mel - 1) * HOP + HALF_WINDOW - self._mel.samples16k
            secs = max(need16, 0) / FEATURE_RATE + RESAMPLER_MARGIN_S
            n = (
                max(1, math.ceil(secs * self.sample_rate))
                if appended == 0
                else self.sample_rate // 100
            )
            self._append(np.zeros(n, dtype=np.float32))
            appended += n
        self._flushed_at = self.samples_pushed
        return appended

    def drop_pending_audio(self) -> int:
        """Interrupt: forget pushed audio that no generated frame has used.

        The timeline is cut at the time of the next frame: afterwards ``samples_pushed ==
        frames_done * sample_rate // fps`` (if more than that had been pushed), and new audio
        continues from there. The state buffer is kept, so motion continues smoothly. Returns the
        number of samples dropped.
        """
        cut = self.frames_done * self.sample_rate // self.fps
        if cut >= self.samples_pushed:
            return 0
        dropped = self.samples_pushed - cut
        mel_count = self._mel.truncate(self.frames_done * FEATURE_RATE // self.fps)
        self._feats = self._feats[: max(mel_count - self._feat_start, 0)].copy()
        self.samples_pushed = cut
        self._flushed_at = -1
        return dropped

    # ---- generation -----------------------------------------------------------------------
    def _windows(self, start: int, n: int) -> Tensor:
        """(n, W, M) mel windows of frames start..start+n-1; unknown mel frames read as silence."""
        centres = np.array([self._mel_index(k) for k in range(start, start + n)])
        idx = centres[:, None] + np.arange(-self._past, self._window - self._past)[None, :]
        local = idx - self._feat_start
        ok = (local >= 0) & (local < len(self._feats))
        out = np.full((*idx.shape, self._feats.shape[1]), SILENCE_VALUE, dtype=np.float32)
        out[ok] = self._feats[local[ok]]
        return torch.from_numpy(out)

    def prepare(self, n: int) -> ChunkRequest:
        """Gather what the next ``n`` frames need, without generating them."""
        n = _check_int(n, 1, MAX_CHUNK, "n")
        if n > self.frames_ready:
            raise PreconditionError(
                f"{n} frames requested but only {self.frames_ready} are ready; push more audio "
                "or flush()",
                field="n",
            )
        return ChunkRequest(
            stream_id=id(self),
            start_frame=self.frames_done,
            audio=self._windows(self.frames_done, n),
            state=self._state.frames,
            noise=frame_noise(self.seed, self.frames_done, n, self._codec.index.size)
            * self._noise_scale,
            lookahead=self._look,
            fps_index=self._fps_index,
            num_steps=self.num_steps,
            method=self.method,
        )

    def commit(self, request: ChunkRequest, frames: FloatArray) -> FloatArray:
        """Accept the sampled (n, 55) frames of ``request``: update the state, free old audio."""
        if request.stream_id != id(self) or request.start_frame != self.frames_done:
            raise PreconditionError(
                "chunk request does not continue this stream (prepared for another stream, "
                "committed twice or out of order)",
                field="request",
            )
        if frames.shape != (request.n, self._codec.rest.size):
            raise ConfigError(
                f"frames must be ({request.n}, 55), got {frames.shape}", field="frames"
            )
        frames = self._smooth_lips(frames)
        self._state = self._state.push(torch.from_numpy(self._codec.encode(frames)))
        self.frames_done += request.n
        keep = self._mel_index(self.frames_done) - self._past
        if keep > self._feat_start:
            self._feats = self._feats[keep - self._feat_start :].copy()
            self._feat_start = keep
            self._mel.release(keep)
        return frames

    def _smooth_lips(self, frames: FloatArray) -> FloatArray:
        """``frames: (n, 55)`` with the mouth channels through the causal one-pole filter."""
        if self._mouth_keep <= 0.0:
            return frames
        out = frames.copy()
        lips, keep = self._lips, self._mouth_keep
        for row in out:
            lips = keep * lips + (1.0 - keep) * row[self._mouth_cols]
            row[self._mouth_cols] = lips
        self._lips = lips
        return out

    def generate(self, n: int) -> FloatArray:
        """Generate the next ``n`` frames (1..min(32, frames_ready)): (n, 55) float32."""
        request = self.prepare(n)
        return self.commit(request, sample_batch(self.model, [request])[0])

    def generate_ready(self) -> FloatArray:
        """Generate every ready frame in chunks of at most ``max_chunk``: (k, 55) float32."""
        parts = [np.zeros((0, self._codec.rest.size), dtype=np.float32)]
        while self.frames_ready > 0:
            parts.append(self.generate(min(self.max_chunk, self.frames_ready)))
        return np.concatenate(parts)
