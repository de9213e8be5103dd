"""The velocity network of the audio performance mapper: its layers and maths, in plain torch.

Role in the LPM design: given a noisy chunk of motion ``x_t`` at flow time ``t``, the audio of the
chunk (a per-frame log-mel window with bounded lookahead) and the latent state buffer (the last 32
motion frames), it predicts the flow-matching velocity. The conditions are encoded once per chunk
(``encode_condition``); each ODE step then runs only ``velocity``: a small pre-norm transformer
over ``[8 state tokens (4 frames each) ; n chunk tokens]``. All motion here is in the normalised
space of the config's active channels (``MotionMapperConfig.motion_mean`` / ``motion_std``).

With ``config.state_prefix`` (the shipped checkpoint) the state tokens are a prefix: they attend
only to each other and carry no flow time, so they are the same at every ODE step. Sampling then
runs them through the layers once per chunk, in ``encode_condition``, keeping each layer's keys
and values; an ODE step runs only the chunk's own tokens (one per frame), which attend to those
cached keys and values and to each other. For one-frame chunks, what live sessions ask for, a
step costs a ninth of the tokens.

``MapperNet`` is what sampling needs and nothing else: the daemon's compute processes load
it (``mapper.io.load_motion_net``) without importing ``transformers.modeling_utils``, which
costs each process ~135 MB of memory and ~2.7 s of start-up. ``model.AudioPerformanceMapper``
is the same network as a ``transformers`` PreTrainedModel, for training and checkpoints:
same parameter names, same maths (it inherits all of this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lpm_bridge.mapper.config import MotionMapperConfig

TIME_FREQS: Final[int] = 16  # sinusoidal features of the flow time t in [0, 1]
_TEMB_CACHE: Final[int] = 512  # flow-time embeddings kept for sampling (see _time_embedding)
INIT_STD: Final[float] = 0.02


@dataclass(frozen=True)
class ChunkCondition:
    """What a chunk is conditioned on, encoded once and reused by every ODE step."""

    audio: Tensor  # (B, n, d): per-frame audio tokens, lookahead, fps and position folded in
    state: Tensor  # (B, S / state_patch, d): state-buffer tokens
    # Per layer, the state tokens' (keys, values), each (B, heads, S / state_patch, d / heads):
    # sampling with ``config.state_prefix`` only (they do not change across ODE steps).
    state_kv: tuple[tuple[Tensor, Tensor], ...] | None = None
    # (B, 1, 1, S / state_patch + n) added to the attention logits, -inf on padding frames:
    # chunks of different lengths padded to one n (``encode_condition``'s ``lengths``).
    key_mask: Tensor | None = None


def time_features(t: Tensor) -> Tensor:
    """(B,) flow times -> (B, 2 * TIME_FREQS) sinusoidal features."""
    freqs = math.pi * (2.0 ** torch.arange(TIME_FREQS, dtype=t.dtype, device=t.device)) / 8.0
    ang = t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class MapperNet(nn.Module):
    """Velocity field ``v(x_t, t | audio, state)`` for chunks of 1..32 motion frames."""

    config: MotionMapperConfig
    state_keep: Tensor  # (D,) buffer: 0 for the channels the state hides (config)

    def __init__(self, config: MotionMapperConfig) -> None:
        super().__init__()
        self.config = config
        self._build_layers(config)

    def _build_layers(self, config: MotionMapperConfig) -> None:
        d, dim = config.d_model, config.motion_dim
        self.audio_enc = nn.Sequential(
            nn.Linear(config.audio_window * config.n_mels, config.audio_hidden),
            nn.GELU(),
            nn.Linear(config.audio_hidden, d),
        )
        self.lookahead_emb = nn.Embedding(config.lookahead_frames + 1, d)
        self.fps_emb = nn.Embedding(len(config.supported_fps), d)
        # The state buffer enters as one token per `state_patch` frames: 32 frames -> 8 tokens
        # keeps every ODE step cheap while the linear patch embedding loses nothing.
        self.state_in = nn.Linear(dim * config.state_patch, d)
        self.state_pos = nn.Parameter(torch.zeros(config.state_frames // config.state_patch, d))
        self.chunk_in = nn.Linear(dim, d)
        self.chunk_pos = nn.Parameter(torch.zeros(config.max_chunk, d))
        self.time_mlp = nn.Sequential(nn.Linear(2 * TIME_FREQS, d), nn.GELU(), nn.Linear(d, d))
        layer = nn.TransformerEncoderLayer(
            d, config.n_heads, config.d_ff, dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True,
        )  # fmt: skip
        self.blocks = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, dim)
        # Not a checkpoint tensor: derived from the config (state_hidden_channels).
        self.register_buffer("state_keep", torch.tensor(config.state_keep), persistent=False)
        # Sampling's flow-time embeddings by (t, dtype, device); see _time_embedding.
        self._temb: dict[tuple[Any, ...], Tensor] = {}

    def encode_condition(
        self,
        audio: Tensor,
        state: Tensor,
        lookahead: Tensor,
        fps_index: Tensor,
        lengths: Tensor | None = None,
    ) -> ChunkCondition:
        """Encode a chunk's conditions once.

        audio: (B, n, W, M) mel windows, W = past + 1 + max lookahead; positions beyond each
        example's ``lookahead`` (B,) mel frames are hidden here, so the bound holds whatever the
        caller put there. state: (B, S, D) normalised motion. fps_index: (B,) index into
        ``config.supported_fps``. lengths: (B,) real frames of each chunk when chunks of
        different lengths are padded to ``n`` (sampling with ``config.state_prefix`` only): the
        padding frames are hidden from every real frame, so each real frame's velocity is the
        one its chunk alone would get, and the padding's outputs are to be dropped.
        """
        b, n, w, _ = audio.shape
        pos = torch.arange(w, device=audio.device)  # (W,)
        visible = pos[None, :] <= (self.config.past_frames + lookahead)[:, None]  # (B, W)
        audio = audio * visible[:, None, :, None].to(audio.dtype)
        tokens = self.audio_enc(audio.reshape(b, n, -1))  # (B, n, d)
        tokens = tokens + (self.lookahead_emb(lookahead) + self.fps_emb(fps_index))[:, None, :]
        tokens = tokens + self.chunk_pos[None, :n]  # once here, not at every ODE step
        if self.config.state_hidden_channels:
            state = state * self.state_keep.to(state.dtype)  # hidden channels read as the mean
        patches = state.reshape(b, -1, state.shape[-1] * self.config.state_patch)  # (B, S/p, p D)
        state_tokens = self.state_in(patches) + self.state_pos[None]  # (B, S/p, d)
        kv, key_mask = None, None
        if self.config.state_prefix and not (torch.is_grad_enabled() or self.training):
            kv = self._prefix_kv(state_tokens)
        if lengths is not None:
            if kv is None:
                raise ValueError("padded chunks (lengths) need state_prefix sampling")
            real = torch.arange(n, device=audio.device)[None, :] < lengths[:, None]  # (B, n)
            keep = torch.cat([real.new_ones(b, state_tokens.shape[1]), real], 1)
            # Additive (0 / -inf), made once: a boolean mask is converted at every attention.
            key_mask = torch.zeros(keep.shape, dtype=tokens.dtype, device=audio.device)
            key_mask = key_mask.masked_fill_(~keep, -math.inf)[:, None, None, :]
        return ChunkCondition(audio=tokens, state=state_tokens, state_kv=kv, key_mask=key_mask)

    def velocity(self, x_t: Tensor, t: Tensor, cond: ChunkCondition) -> Tensor:
        """(B, n, D) noisy motion at times t (B,) -> (B, n, D) velocity."""
        n = x_t.shape[1]
        temb = self._time_embedding(t)  # (B, 1, d)
        chunk = self.chunk_in(x_t) + cond.audio + temb
        if self.config.state_prefix:
            if cond.state_kv is not None:
                h = self._chunk_inference(chunk, cond.state_kv, cond.key_mask)
            else:
                seq = torch.cat([cond.state, chunk], dim=1)  # (B, S / p + n, d)
                h = self.blocks(seq, mask=self._prefix_mask(cond.state.shape[1], n, seq))[:, -n:]
        else:
            seq = torch.cat([cond.state + temb, chunk], dim=1)  # (B, S / p + n, d)
            if torch.is_grad_enabled() or self.training:
                h = self.blocks(seq)[:, -n:]
            else:
                h = self._blocks_inference(seq, n)
        out: Tensor = self.out(self.out_norm(h))  # (B, n, D)
        return out

    def _time_embedding(self, t: Tensor) -> Tensor:
        """(B,) flow times -> (B, 1, d) embeddings.

        When sampling, every row of an ODE step shares one time, and a solver's grid has few
        distinct times: the embedding (nine small ops, ~40 us) is computed once per time and
        kept (at most ``_TEMB_CACHE`` times; a dict read or write is atomic, so lanes in other
        threads may share it). The key holds the weights' version counters, so weights changed
        in place (loading, an EMA update) are never served a stale embedding.
        """
        first = float(t[0])
        if torch.is_grad_enabled() or self.training or bool((t != first).any()):
            full: Tensor = self.time_mlp(time_features(t))
            return full[:, None, :]
        key = (first, t.dtype, t.device, *(p._version for p in self.time_mlp.parameters()))
        emb = self._temb.get(key)
        if emb is None:
            if len(self._temb) >= _TEMB_CACHE:
                self._temb.clear()
            one: Tensor = self.time_mlp(time_features(t[:1]))
            emb = self._temb[key] = one[:, None, :]
        return emb.expand(len(t), 1, emb.shape[-1])

    @staticmethod
    def _prefix_mask(prefix: int, n: int, like: Tensor) -> Tensor:
        """(L, L) attention mask, True = hidden: the ``prefix`` state rows see only each other."""
        mask = torch.zeros(prefix + n, prefix + n, dtype=torch.bool, device=like.device)
        mask[:prefix, prefix:] = True
        return mask

    def _prefix_kv(self, x: Tensor) -> tuple[tuple[Tensor, Tensor], ...]:
        """The state tokens ``x: (B, P, d)`` through every layer on their own (a prefix sees only
        itself): each layer's keys and values, ``(B, heads, P, d / heads)`` each."""
        layers = list(self.blocks.layers)
        kv = []
        for i, layer in enumerate(layers):
            q, k, v = self._qkv(layer, x)
            kv.append((k, v))
            if i < len(layers) - 1:  # the last layer's outputs are never read
                x = self._attend(layer, x, q, k, v)
        return tuple(kv)

    def _chunk_inference(
        self,
        x: Tensor,
        state_kv: tuple[tuple[Tensor, Tensor], ...],
        key_mask: Tensor | None = None,
    ) -> Tensor:
        """The chunk tokens ``x: (B, n, d)`` through the layers, attending to the cached state
        keys and values and to each other (those ``key_mask`` keeps): ``self.blocks`` over
        ``[state ; chunk]`` with the prefix mask, rows of the chunk only (checked against it in
        the tests)."""
        for layer, (ks, vs) in zip(self.blocks.layers, state_kv, strict=True):
            q, k, v = self._qkv(layer, x)
            k, v = torch.cat([ks, k], 2), torch.cat([vs, v], 2)
            x = self._attend(layer, x, q, k, v, key_mask)
        return x

    def _qkv(self, layer: nn.TransformerEncoderLayer, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values of ``x: (B, L, d)`` in a pre-norm layer: (B, heads, L, dh)."""
        b, length, d = x.shape
        attn = layer.self_attn
        h = F.layer_norm(x, (d,), layer.norm1.weight, layer.norm1.bias, layer.norm1.eps)
        qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.view(b, length, 3, self.config.n_heads, -1).permute(2, 0, 3, 1, 4)
        return q, k, v

    @staticmethod
    def _attend(
        layer: nn.TransformerEncoderLayer,
        x: Tensor,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        key_mask: Tensor | None = None,
    ) -> Tensor:
        """The rest of a pre-norm layer for the rows of ``x: (B, L, d)`` that ``q`` holds:
        attention over ``k, v`` (the keys ``key_mask`` keeps, all without it), the residual,
        the feed-forward block and its residual."""
        b, length, d = x.shape
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)  # (B, heads, L, d / h)
        x = x + layer.self_attn.out_proj(a.transpose(1, 2).reshape(b, length, d))
        h = F.layer_norm(x, (d,), layer.norm2.weight, layer.norm2.bias, layer.norm2.eps)
        out: Tensor = x + layer.linear2(F.gelu(layer.linear1(h)))
        return out

    def _blocks_inference(self, x: Tensor, keep: int) -> Tensor:
        """``self.blocks(x)[:, -keep:]`` as plain functional ops: (B, L, d) -> (B, keep, d).

        The same maths as the layers built in ``__init__`` (pre-norm, GELU, no dropout), for
        sampling only, checked against them in the tests. Why: at serving sizes (1-16 sessions
        of 9-10 tokens) ``nn.TransformerEncoderLayer`` spends ~50 us a layer in Python choosing
        its fast path (0.6-0.9 ms of a batch's 4 ODE steps x 3 layers), and only the chunk
        tokens' outputs are used: the last layer needs the state tokens' keys and values, not
        their queries, projections or feed-forward (a fifth of the FLOPs for one-frame jobs).
        """
        layers = list(self.blocks.layers)
        for i, layer in enumerate(layers):
            q, k, v = self._qkv(layer, x)
            if i == len(layers) - 1:  # only the kept rows go on from here
                q, x = q[:, :, -keep:], x[:, -keep:]
            x = self._attend(layer, x, q, k, v)
        return x

    def forward(
        self,
        x_t: Tensor,
        t: Tensor,
        audio: Tensor,
        state: Tensor,
        lookahead: Tensor,
        fps_index: Tensor,
    ) -> Tensor:
        """Velocity of noisy chunks x_t (B, n, D) at t (B,); see ``encode_condition``."""
        return self.velocity(x_t, t, self.encode_condition(audio, state, lookahead, fps_index))

    def sample_batch(self, requests: list[Any]) -> list[Any]:
        """Batched sampling of ``ChunkRequest``s; see ``lpm_bridge.mapper.stream.sample_batch``."""
        from lpm_bridge.mapper.stream import sample_batch

        return sample_batch(self, requests)
