"""Held-out, phoneme-level evaluation of the audio performance mapper, offline and live (JSON out).

Voice groups, none used in training, each with phoneme timing:
  espeak_heldout  espeak-ng held-out voices, languages and rates (as bench/motion_eval.py)
  mbrola          MBROLA diphone voices mb-de4 mb-es3 mb-nl2 mb-it4 mb-fr4 (exact phonemes)
  flite           flite slt kal awb rms (English; flite's own phone timing, -psdur)
  real_en         a professional human speaker, en_US Allison, 8 kHz (pocketsphinx-aligned)
Per group and mode: /p b m/ closed, open vowels open, /u o w/ rounded, /f v/ lip to teeth,
mouth at rest in pauses >= 300 ms, mouth-to-sound lag, jitter; beside them the training
targets' own scores on the same phonemes (the ceiling the thresholds are set against).
  offline  push all, flush, generate_ready in 16-frame chunks, the model's maximum lookahead
           (what ``lpm-bridge motion`` does)
  live     20 ms pushes at the session's default lookahead (40 ms), every ready frame generated
           after each push (mostly one-frame chunks), as the server does
Bad input: very short clips, clipping, long silence, music without speech, 8 and 48 kHz input.
``--server`` also streams a few clips through a real daemon at real-time pace.

Usage: python bench/voice_eval.py [--model DIR] [--clips N] [--groups ...] [--server]
Needs ~/.cache/lpm-dev-speech (../shared/datasets/fetch_speech.sh), flite, pocketsphinx.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr
import torch
from motion_eval import FLITE_TEXTS, heldout_clips

from lpm_bridge.audio import read_wav
from lpm_bridge.mapper import MotionStream, load_motion_net
from lpm_bridge.mapper.io import DEFAULT_MODEL_DIR, WEIGHTS_FILE
from lpm_bridge.mapper.net import MapperNet
from lpm_bridge.motion import CH, DEFAULT_FPS
from lpm_bridge.session_types import DEFAULT_LOOKAHEAD_MS
from lpm_bridge.training.align import ARPABET_IPA, AlignmentError, EnglishAligner
from lpm_bridge.training.espeak import ESPEAK_DATA_ENV, Phoneme
from lpm_bridge.training.evaluate import at_fps
from lpm_bridge.training.mbrola import SPEECH_CACHE, MbrolaRequest, mbrola_paths, synth_isolated
from lpm_bridge.training.phoneme_metrics import (
    ClipScore,
    Span,
    jitter,
    open_fraction,
    phonemes_from_visemes,
    score_clip,
    spans_from_phonemes,
    summarize,
    target_mouth,
)
from lpm_bridge.visemes import SILENCE, VOWELS

Pcm = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float32]
PAD_S = 0.6  # silence around each synthesised or recorded line, as a TTS line arrives
LIVE_PUSH_MS = 20
LIVE_MAX_CHUNK = 16
MBROLA_VOICES = ("mb-de4", "mb-es3", "mb-nl2", "mb-it4", "mb-fr4")
# Lines each voice has every diphone for: mbrola replaces a missing one with silence ("unknown,
# replaced with _-_"), which would leave phonemes with no sound (mb-es3 lacks many: no diphthongs,
# r clusters or ll here).
MBROLA_TEXTS: dict[str, tuple[str, ...]] = {
    "de": (
        "Guten Morgen, Wanderer. Der Pass im Norden ist seit dem Sturm gesperrt.",
        "Bring mir bitte drei Pfund Brot und eine Flasche Wein vom Markt.",
        "Wo warst du? Wir haben lange auf dich gewartet, mein Freund.",
        "Vorsicht! Die Brücke ist morsch, und das Wasser ist sehr tief.",
    ),
    "es": (
        "Por favor, dame pan, vino y un poco de queso.",
        "¿Dónde estabas? Te hemos buscado todo el día.",
        "El lobo come uvas por la mañana.",
        "Mi amigo Pablo come pan con queso.",
    ),
    "nl": (
        "Goedemorgen, reiziger. De bergpas in het noorden is gesloten sinds de storm.",
        "Breng me alsjeblieft brood, boter en een fles wijn van de markt.",
        "Waar was je? We hebben overal in het dorp naar je gezocht.",
        "Pas op voor de brug, vriend. Het water is erg diep.",
    ),
    "it": (
        "Buongiorno, viaggiatore. La strada a nord è chiusa dalla tempesta.",
        "Per favore, portami del pane, del vino e un po' di formaggio dal mercato.",
        "Dove sei stato? Ti abbiamo cercato per tutto il paese.",
        "Attento al ponte, amico mio. L'acqua è molto profonda.",
    ),
    "fr": (
        "Bonjour, voyageur. Le passage du nord est fermé depuis la tempête.",
        "S'il vous plaît, apportez-moi du pain, du vin et un peu de fromage.",
        "Où étais-tu? Nous t'avons cherché partout dans le village.",
        "Attention au pont, mon ami. L'eau est très profonde.",
    ),
}
FLITE_EVAL_VOICES = ("slt", "kal", "awb", "rms")
FLITE_EVAL_TEXTS = (
    "Well met, traveller. The northern pass is closed since the storm.",
    *FLITE_TEXTS,
)
REAL_EN = "en_US_f_Allison"
REAL_SECONDS = (1.5, 6.0)  # clip lengths taken from the real prompts


@dataclass(frozen=True)
class VoiceClip:
    """Held-out speech with its phoneme spans and 100 Hz target motion (T, 55)."""

    group: str
    voice: str
    audio: Pcm
    sample_rate: int
    spans: list[Span]
    target: FloatArray


# ---- voice groups -----------------------------------------------------------------------------
def padded(audio: Pcm, sr: int, phonemes: Sequence[Phoneme]) -> tuple[Pcm, list[Phoneme]]:
    """``PAD_S`` of silence on both sides; phonemes moved along."""
    pad = np.zeros(int(PAD_S * sr), dtype=np.int16)
    moved = [Phoneme(p.symbol, p.start_s + PAD_S, p.end_s + PAD_S) for p in phonemes]
    return np.concatenate([pad, audio, pad]), moved


def clip_from_phonemes(
    group: str, voice: str, audio: Pcm, sr: int, phonemes: Sequence[Phoneme]
) -> VoiceClip:
    duration = len(audio) / sr
    spans = spans_from_phonemes(phonemes, duration)
    return VoiceClip(group, voice, audio, sr, spans, target_mouth(phonemes, duration))


def espeak_group(n: int) -> list[VoiceClip]:
    """The corpus's held-out clips (formant voices: ``LPM_ESPEAK_DATA`` is ignored here, the
    MBROLA voices are their own group). Truth from the clips' viseme tracks."""
    return [
        clip_from_phonemes("espeak_heldout", "espeak", c.audio, c.sample_rate,
                           phonemes_from_visemes(c.visemes))
        for c in heldout_clips(None, n)
    ]  # fmt: skip


def mbrola_group(n: int, cache: Path) -> list[VoiceClip]:
    if not mbrola_paths(cache)[0].is_dir():
        return []
    reqs = []
    for i in range(n):
        voice = MBROLA_VOICES[i % len(MBROLA_VOICES)]
        texts = MBROLA_TEXTS[voice[3:5]]
        reqs.append(MbrolaRequest(texts[(i // len(MBROLA_VOICES)) % len(texts)], voice))
    out = []
    for req, utt in zip(reqs, synth_isolated(reqs, cache), strict=True):
        audio, ph = padded(utt.audio, utt.sample_rate, utt.phonemes)
        out.append(clip_from_phonemes("mbrola", req.voice, audio, utt.sample_rate, ph))
    return out


def flite_phonemes(psdur: str) -> list[Phoneme]:
    """flite's own phone timing (``-psdur``: ``ph:end_s`` tokens) as IPA phoneme spans."""
    out, start = [], 0.0
    for token in psdur.split():
        name, _, end = token.rpartition(":")
        out.append(Phoneme(ARPABET_IPA.get(name.upper(), ""), start, float(end)))
        start = float(end)
    return out


def flite_group(n: int) -> list[VoiceClip]:
    if shutil.which("flite") is None:
        return []
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            voice = FLITE_EVAL_VOICES[i % len(FLITE_EVAL_VOICES)]
            text = FLITE_EVAL_TEXTS[(i // len(FLITE_EVAL_VOICES)) % len(FLITE_EVAL_TEXTS)]
            wav = Path(tmp) / f"{i}.wav"
            cmd = ["flite", "-voice", voice, "-psdur", "-t", text, "-o", str(wav)]
            psdur = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            pcm, sr = read_wav(wav)
            audio, ph = padded(pcm, sr, flite_phonemes(psdur))
            out.append(clip_from_phonemes("flite", voice, audio, sr, ph))
    return out


def read_transcripts(folder: Path) -> dict[str, str]:
    """``name: text`` lines of a prompt set's transcripts.txt (``;`` comments skipped)."""
    out = {}
    for line in (folder / "transcripts.txt").read_text(encoding="utf-8-sig").splitlines():
        name, sep, text = line.partition(":")
        if sep and not line.startswith(";") and (folder / f"{name.strip()}.wav").is_file():
            out[name.strip()] = text.strip()
    return out


def real_group(n: int, aligner: EnglishAligner, cache: Path) -> list[VoiceClip]:
    folder = cache / "real" / REAL_EN
    if not folder.is_dir():
        return []
    usable = []
    for name, text in sorted(read_transcripts(folder).items()):
        pcm, sr = read_wav(folder / f"{name}.wav")
        if REAL_SECONDS[0] <= len(pcm) / sr <= REAL_SECONDS[1] and not aligner.unknown_words(text):
            usable.append((pcm, sr, text))
    out = []
    for i in np.linspace(0, len(usable) - 1, min(n, len(usable))).round().astype(int):
        pcm, sr, text = usable[i]
        audio, _ = padded(pcm, sr, ())
        try:
            ph = aligner.align(audio, sr, text)
        except AlignmentError:
            continue
        out.append(clip_from_phonemes("real_en", "Allison", audio, sr, ph))
    return out


# ---- running the mapper -----------------------------------------------------------------------
Runner = Callable[[MapperNet, Pcm, int], FloatArray]


def offline_motion(model: MapperNet, audio: Pcm, sr: int) -> FloatArray:
    """The whole clip at once, then 16-frame chunks (``lpm-bridge motion``): (K, 55)."""
    stream = MotionStream(model, sr, max_chunk=LIVE_MAX_CHUNK)
    stream.push_audio(audio)
    stream.flush()
    return stream.generate_ready()


def live_motion(model: MapperNet, audio: Pcm, sr: int, lead_in: int = 0) -> FloatArray:
    """20 ms pushes at the session's default lookahead, every ready frame generated after each
    push (as the server's engine does when it keeps up): (K, 55). ``lead_in``: samples of
    silence before the audio (a session's idle time), whose frames are left out."""
    stream = MotionStream(model, sr, lookahead_ms=DEFAULT_LOOKAHEAD_MS)
    step = max(1, sr * LIVE_PUSH_MS // 1000)
    parts = [np.zeros((0, 55), dtype=np.float32)]
    audio = np.concatenate([np.zeros(lead_in, dtype=np.int16), audio])
    for i in range(0, len(audio), step):
        stream.push_audio(audio[i : i + step])
        while stream.frames_ready:
            parts.append(stream.generate(min(LIVE_MAX_CHUNK, stream.frames_ready)))
    stream.flush()
    parts.append(stream.generate_ready())
    return np.concatenate(parts)[round(lead_in * DEFAULT_FPS / sr) :]


MODES: dict[str, Runner] = {"offline": offline_motion, "live": live_motion}


def evaluate_group(model: MapperNet, clips: list[VoiceClip]) -> dict[str, object]:
    """The targets' own scores, then per mode the model's: pooled phoneme scores, lag, jitter,
    and a line per voice."""
    fps = DEFAULT_FPS
    targets = [at_fps(c.target, n_frames(c), fps) for c in clips]
    own = summarize(
        [score_clip(t, fps, c.spans, t) for c, t in zip(clips, targets, strict=True)], fps
    )
    own["jitter_jaw"] = round(float(np.mean([jitter(t) for t in targets])), 4)
    out: dict[str, object] = {
        "clips": len(clips),
        "audio_s": round(sum(len(c.audio) / c.sample_rate for c in clips), 1),
        "truth_check": truth_check(clips),
        "targets": own,
    }
    for mode, run in MODES.items():
        scores, jit = [], []
        by_voice: dict[str, list[ClipScore]] = {}
        for c, t in zip(clips, targets, strict=True):
            g = run(model, c.audio, c.sample_rate)[: len(t)]
            scores.append(score_clip(g, fps, c.spans, t[: len(g)]))
            jit.append(jitter(g))
            by_voice.setdefault(c.voice, []).append(scores[-1])
        report = summarize(scores, fps)
        report["jitter_jaw"] = round(float(np.mean(jit)), 4)
        if len(by_voice) > 1:
            report["by_voice"] = {v: _brief(summarize(ss, fps)) for v, ss in by_voice.items()}
        out[mode] = report
    return out


def truth_check(clips: list[VoiceClip]) -> dict[str, float]:
    """Is the phoneme timing on the audio? Median level (dB below each clip's loudest 10 ms) of
    the 10 ms frames inside pauses >= 300 ms and inside vowels: pauses should be far quieter."""
    pause: list[float] = []
    vowel: list[float] = []
    for c in clips:
        x = c.audio.astype(np.float64)
        hop = c.sample_rate // 100
        db = 10 * np.log10(np.add.reduceat(x**2, np.arange(0, len(x), hop)) / hop + 1.0)
        db -= db.max()
        for s in c.spans:
            frames = db[int(s.start_s * 100) + 2 : int(s.end_s * 100) - 2]
            if s.viseme == SILENCE and s.end_s - s.start_s >= 0.3:
                pause.extend(frames)
            elif s.viseme in VOWELS:
                vowel.extend(frames)
    return {"pause_db": round(float(np.median(pause)), 1) if pause else 0.0,
            "vowel_db": round(float(np.median(vowel)), 1) if vowel else 0.0}  # fmt: skip


def n_frames(clip: VoiceClip, fps: int = DEFAULT_FPS) -> int:
    return int(np.ceil(len(clip.audio) / clip.sample_rate * fps))


def _brief(report: object) -> dict[str, object]:
    """A short line of a summary: its rates, lag and jitter."""
    keep = ("bilabial_closed", "bilabial_closing", "open_vowel_jaw", "rounded_lips",
            "labiodental_lip", "pause_at_rest_frames", "lag_frames", "jitter_jaw")  # fmt: skip
    assert isinstance(report, dict)
    return {k: (v["rate"] if isinstance(v, dict) else v) for k, v in report.items() if k in keep}


# ---- bad input ----------------------------------------------------------------------------------
def music_bed(seconds: float, sr: int, seed: int = 0) -> Pcm:
    """Instrumental music with no voice: chords of harmonic sines, each note with an attack and
    an exponential decay, a new chord every beat (about -20 dBFS RMS)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for start in np.arange(0.0, seconds, 60.0 / 96.0):
        root = 110.0 * 2 ** (int(rng.integers(0, 12)) / 12)
        since = np.maximum(t - start, 0.0)
        env = np.where(t >= start, np.exp(-since / 0.6) * np.minimum(since / 0.02, 1.0), 0.0)
        for semis in (0, 4, 7, 12):
            for h in (1, 2, 3):
                f = root * 2 ** (semis / 12) * h
                if f < sr / 2:
                    x += env * np.sin(2 * np.pi * f * t) / h
    x *= 0.1 / (np.sqrt((x**2).mean()) + 1e-12)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


def quiet_stats(model: MapperNet, audio: Pcm, sr: int) -> dict[str, object]:
    """No speech in ``audio``: the mouth should stay closed and still, in both modes."""
    out: dict[str, object] = {"seconds": round(len(audio) / sr, 3), "sample_rate": sr}
    for mode, run in MODES.items():
        try:
            g = run(model, audio, sr)
        except Exception as e:  # the figure is whether anything raises
            out[mode] = {"error": repr(e)}
            continue
        jaw = g[:, CH["jawOpen"]]
        out[mode] = {"frames": len(g), "mouth_open_fraction": round(open_fraction(g), 4),
                     "jaw_max": round(float(jaw.max()) if len(g) else 0.0, 3),
                     "jitter_jaw": round(jitter(g), 4)}  # fmt: skip
    return out


def short_stats(model: MapperNet, clip: VoiceClip) -> dict[str, object]:
    """Very short pieces of speech (1 sample to 250 ms): frames come out, nothing raises."""
    out: dict[str, object] = {}
    mid = len(clip.audio) // 2
    for ms in (0.0625, 10, 30, 100, 250):  # 0.0625 ms: one sample at 16 kHz
        n = max(1, int(clip.sample_rate * ms / 1000))
        out[f"{ms:g}ms"] = quiet_stats(model, clip.audio[mid : mid + n], clip.sample_rate)
    return out


def resampled(clip: VoiceClip, sr: int) -> VoiceClip:
    x = soxr.resample(clip.audio.astype(np.float32) / 32768.0, clip.sample_rate, sr)
    audio = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
    return VoiceClip(clip.group, clip.voice, audio, sr, clip.spans, clip.target)


def clipped(clip: VoiceClip, gain: float = 8.0) -> VoiceClip:
    """Hard clipping: the voice driven ``gain`` times past full scale."""
    peak = max(int(np.abs(clip.audio.astype(np.int32)).max()), 1)
    x = np.clip(clip.audio.astype(np.float64) * (32767 * gain / peak), -32767, 32767)
    return VoiceClip(clip.group, clip.voice, x.astype(np.int16), clip.sample_rate, clip.spans,
                     clip.target)  # fmt: skip


def bad_input(model: MapperNet, speech: list[VoiceClip]) -> dict[str, object]:
    """The issue's bad input: short clips, clipping, long silence, music, 8 and 48 kHz."""
    sr = 16000
    hiss = np.random.default_rng(0).normal(0, 32767 * 10 ** (-60 / 20), 10 * sr)
    out: dict[str, object] = {
        "silence_30s": quiet_stats(model, np.zeros(30 * sr, dtype=np.int16), sr),
        "hiss_minus60dBFS_10s": quiet_stats(model, hiss.astype(np.int16), sr),
        "music_10s_44k1": quiet_stats(model, music_bed(10.0, 44100), 44100),
        "music_10s_8k": quiet_stats(model, music_bed(10.0, 8000), 8000),
    }
    if speech:
        out["short"] = short_stats(model, speech[0])
        out["clipped_x8"] = _speech_brief(evaluate_group(model, [clipped(c) for c in speech]))
        for rate in (8000, 48000):
            rs = [resampled(c, rate) for c in speech]
            out[f"at_{rate // 1000}k"] = _speech_brief(evaluate_group(model, rs))
    return out


def _speech_brief(report: dict[str, object]) -> dict[str, object]:
    return {m: _brief(report[m]) for m in MODES}


# ---- through a real daemon ----------------------------------------------------------------------
async def _served(target: str, audio: Pcm, sr: int) -> tuple[FloatArray, int]:
    """Stream ``audio`` live (20 ms messages at real-time pace, default lookahead, seed 0) and
    read the frames' blendshapes from the utterance's start on: (K, 55), head left at 0; and
    the utterance's start on the session timeline (samples of idle before it)."""
    from lpm_bridge._proto import bridge_pb2 as pb
    from lpm_bridge.client import BridgeClient, session_config

    config = session_config(sr, seed=0, blendshapes=True, encoding=pb.FRAME_ENCODING_NONE)
    step = max(1, sr * LIVE_PUSH_MS // 1000)
    frames: dict[int, list[float]] = {}
    start_pts = 0
    async with BridgeClient(target) as client:
        perf = client.perform(config)
        await perf.start()

        async def send() -> None:
            t0 = time.monotonic()
            for i, off in enumerate(range(0, len(audio), step)):
                await asyncio.sleep(max(0.0, t0 + i * step / sr - time.monotonic()))
                await perf.send_audio(audio[off : off + step])
            await perf.end_utterance()
            await perf.close_input()

        sender = asyncio.create_task(send())
        async for msg in perf:
            kind = msg.WhichOneof("response")
            if kind == "frame":
                frames[msg.frame.pts_samples] = list(msg.frame.blendshapes)
            elif kind == "event" and msg.event.type == pb.EVENT_TYPE_UTTERANCE_START:
                start_pts = msg.event.pts_samples
        await sender
    out = np.zeros((len(frames), 55), dtype=np.float32)
    for k, pts in enumerate(p for p in sorted(frames) if p >= start_pts):
        out[k, : len(frames[pts])] = frames[pts]
    return out[: len([p for p in frames if p >= start_pts])], start_pts


def server_check(
    model_dir: Path | None, model: MapperNet, clips: list[VoiceClip]
) -> dict[str, object]:
    """The live simulation against a real daemon on the same clips: jawOpen agreement (frames
    until they first differ by 0.01, correlation) and both sets of phoneme scores."""
    from bridge_common import DaemonProcess

    fps, out = DEFAULT_FPS, dict[str, object]()
    args = ("--model", str(model_dir)) if model_dir else ()
    with DaemonProcess(*args) as daemon:
        for c in clips:
            t = at_fps(c.target, n_frames(c), fps)
            served, idle = asyncio.run(_served(daemon.target, c.audio, c.sample_rate))
            served = served[: len(t)]
            sim = live_motion(model, c.audio, c.sample_rate, lead_in=idle)[: len(served)]
            a, b = served[:, CH["jawOpen"]], sim[:, CH["jawOpen"]]
            apart = np.flatnonzero(np.abs(a - b) > 0.01)
            out[f"{c.group}/{c.voice}"] = {
                "frames": len(served),
                "idle_frames_before": round(idle * fps / c.sample_rate),
                "same_jaw_first_frames": int(apart[0]) if len(apart) else len(served),
                "jaw_corr_server_vs_sim": round(float(np.corrcoef(a, b)[0, 1]), 3),
                "jaw_mean_abs_diff": round(float(np.abs(a - b).mean()), 4),
                "server": _brief(
                    summarize([score_clip(served, fps, c.spans, t[: len(served)])], fps)
                ),
                "simulated": _brief(summarize([score_clip(sim, fps, c.spans, t[: len(sim)])], fps)),
            }
    return out


def weights_digest(model_dir: Path | None) -> str:
    """First 12 hex digits of the checkpoint's weights file: which model these figures are of."""
    path = (model_dir or DEFAULT_MODEL_DIR) / WEIGHTS_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# ---- main ---------------------------------------------------------------------------------------
GROUPS = ("espeak_heldout", "mbrola", "flite", "real_en")


def load_groups(names: Sequence[str], n: int, cache: Path) -> dict[str, list[VoiceClip]]:
    aligner = EnglishAligner() if "real_en" in names else None
    loaders: dict[str, Callable[[], list[VoiceClip]]] = {
        "espeak_heldout": lambda: espeak_group(n),
        "mbrola": lambda: mbrola_group(n, cache),
        "flite": lambda: flite_group(n),
        "real_en": lambda: real_group(n, aligner, cache) if aligner else [],
    }
    return {name: loaders[name]() for name in names}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--model", type=Path, default=None, help="checkpoint dir (default: shipped)")
    p.add_argument("--clips", type=int, default=8, help="clips per voice group")
    p.add_argument("--groups", nargs="*", choices=GROUPS, default=list(GROUPS))
    p.add_argument("--cache", type=Path, default=SPEECH_CACHE, help="fetched speech")
    p.add_argument("--no-bad-input", action="store_true")
    p.add_argument("--server", action="store_true", help="also stream clips through a daemon")
    p.add_argument("--server-clips", type=int, default=2, help="clips streamed with --server")
    a = p.parse_args()
    os.environ.pop(ESPEAK_DATA_ENV, None)  # espeak_heldout is formant voices; MBROLA has its group
    torch.set_num_threads(1)
    start = time.time()
    model = load_motion_net(a.model)
    groups = load_groups(a.groups, a.clips, a.cache)
    report: dict[str, object] = {
        "model": str(a.model or "shipped"),
        "weights_sha256": weights_digest(a.model),
        "machine": f"{platform.processor() or platform.machine()}, torch threads 1",
        "fps": DEFAULT_FPS,
        "offline": "push all, flush, 16-frame chunks, lookahead = model max",
        "live": f"{LIVE_PUSH_MS} ms pushes, every ready frame after each, lookahead "
        f"{DEFAULT_LOOKAHEAD_MS} ms",
        "lag_sign": "frames, > 0: mouth trails the sound; target = training targets, no lead",
        "load_s": round(time.time() - start, 1),
    }
    for name, clips in groups.items():
        report[name] = evaluate_group(model, clips) if clips else {"skipped": "no data"}
    if a.server:
        firsts = [cs[0] for cs in groups.values() if cs]
        report["server"] = server_check(a.model, model, firsts[: a.server_clips])
    if not a.no_bad_input:
        speech = groups.get("mbrola") or next((c for c in groups.values() if c), [])
        report["bad_input"] = bad_input(model, speech[:3])
    report["eval_s"] = round(time.time() - start, 1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
