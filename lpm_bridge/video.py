"""MP4 writing: rendered frames (and the dialogue audio) -> an H.264 file a person can watch.

Used by ``lpm-bridge animate`` and by the bridge's ``render``/``stream`` commands to show
the LPM renderer's output. Streams: frames are encoded as they arrive, never held.
Video is libx264 yuv420p (plays everywhere); audio, when given, is AAC muxed on the
same timeline (frame ``i`` starts at ``i / fps`` s, audio sample ``j`` at ``j / rate`` s).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from lpm_bridge.errors import AudioError, ConfigError, InvalidInputError

AUDIO_CODEC: Final[str] = "aac"
VIDEO_CODEC: Final[str] = "libx264"
AUDIO_CHUNK: Final[int] = 1024  # samples per AAC frame


def _audio_float(
    audio: npt.NDArray[Any], sample_rate: int | None
) -> tuple[npt.NDArray[np.float32], int]:
    if sample_rate is None or not 8000 <= sample_rate <= 192000:
        raise AudioError(
            f"audio needs a sample_rate in 8000..192000, got {sample_rate}", field="sample_rate"
        )
    a = np.asarray(audio)
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise AudioError(f"audio must be mono (N,), got shape {a.shape}", field="audio")
    if a.dtype == np.int16:
        return (a.astype(np.float32) / 32768.0), sample_rate
    if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
        raise AudioError("audio must be int16 or finite float samples", field="audio")
    return np.clip(a.astype(np.float32), -1.0, 1.0), sample_rate


def write_mp4(
    path: str | Path,
    frames: Iterable[npt.NDArray[np.uint8]],
    fps: int,
    audio: npt.NDArray[Any] | None = None,
    sample_rate: int | None = None,
    *,
    crf: int = 20,
) -> None:
    """Write ``frames`` (each ``(H, W, 3) uint8`` RGB, even H and W) to an H.264 MP4.

    ``audio``: optional mono int16 or float [-1, 1] samples at ``sample_rate``, muxed
    as AAC so sample 0 plays with frame 0.
    """
    import av

    if not 1 <= fps <= 240:
        raise ConfigError(f"fps must be in 1..240, got {fps}", field="fps")
    pcm = _audio_float(audio, sample_rate) if audio is not None else None
    with av.open(str(path), mode="w") as container:
        vstream: Any = None
        astream: Any = None
        if pcm is not None:
            astream = container.add_stream(AUDIO_CODEC, rate=pcm[1], layout="mono")
        for i, frame in enumerate(frames):
            if vstream is None:
                vstream = _open_video(container, frame, fps, crf)
            if frame.shape[:2] != (vstream.height, vstream.width) or frame.dtype != np.uint8:
                raise InvalidInputError(
                    f"frame {i} is {frame.shape} {frame.dtype}; "
                    f"expected ({vstream.height}, {vstream.width}, 3) uint8",
                    field="frames",
                )
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts = i
            container.mux(vstream.encode(vf))
        if vstream is None:
            raise InvalidInputError("no frames to write", field="frames")
        container.mux(vstream.encode(None))
        if astream is not None and pcm is not None:
            _mux_audio(container, astream, pcm[0], pcm[1])


def _open_video(container: Any, frame: npt.NDArray[np.uint8], fps: int, crf: int) -> Any:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] % 2 or frame.shape[1] % 2:
        raise InvalidInputError(
            f"frames must be (H, W, 3) with even H and W, got {frame.shape}", field="frames"
        )
    stream = container.add_stream(VIDEO_CODEC, rate=fps)
    stream.width, stream.height = frame.shape[1], frame.shape[0]
    stream.pix_fmt = "yuv420p"
    stream.time_base = Fraction(1, fps)
    stream.options = {"crf": str(crf), "preset": "veryfast"}
    return stream


def _mux_audio(container: Any, stream: Any, pcm: npt.NDArray[np.float32], rate: int) -> None:
    import av

    for start in range(0, len(pcm), AUDIO_CHUNK):
        chunk = pcm[start : start + AUDIO_CHUNK]
        af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        af.sample_rate = rate
        af.pts = start
        af.time_base = Fraction(1, rate)
        container.mux(stream.encode(af))
    container.mux(stream.encode(None))


def read_mp4_info(path: str | Path) -> dict[str, Any]:
    """Stream facts of an MP4 (for tests): frame count, size, fps, audio rate and duration."""
    import av

    with av.open(str(path)) as c:
        info: dict[str, Any] = {}
        s: Any
        for s in c.streams:
            if s.type == "video":
                info.update(
                    video_codec=s.codec_context.name, width=s.width, height=s.height,
                    fps=float(s.average_rate or 0), frames=sum(1 for _ in c.decode(s)),
                )  # fmt: skip
        c.seek(0)
        for s in c.streams:
            if s.type == "audio":
                samples = sum(int(f.samples) for f in c.decode(s))
                info.update(
                    audio_codec=s.codec_context.name, sample_rate=s.rate, audio_samples=samples
                )
        return info
