"""Visemes: the 15 Oculus/OpenXR mouth shapes that Unity lip-sync tools expect.

Role in the LPM design: the audio performance mapper speaks ARKit-52; game rigs built for
Oculus LipSync want one of 15 visemes per frame. This module holds the viseme names, one ARKit
mouth pose per viseme (used both to build the mapper's training targets from phonemes and to read
visemes back from any motion), the IPA phoneme -> viseme table, and ``visemes_from_motion``, which
labels each frame with the viseme whose pose is nearest over the mouth channels.
"""

from __future__ import annotations

import unicodedata
from typing import Final

import numpy as np
import numpy.typing as npt

from lpm_bridge.errors import MotionError
from lpm_bridge.motion import CH, NUM_CHANNELS

VISEME_NAMES: Final[tuple[str, ...]] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
)  # fmt: skip
NUM_VISEMES: Final[int] = len(VISEME_NAMES)
VISEME: Final[dict[str, int]] = {name: i for i, name in enumerate(VISEME_NAMES)}
SILENCE: Final[int] = VISEME["sil"]
VOWELS: Final[frozenset[int]] = frozenset(VISEME[v] for v in ("aa", "E", "ih", "oh", "ou"))

# The ARKit channels that shape the mouth; visemes are compared over these only.
MOUTH_CHANNELS: Final[tuple[str, ...]] = (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "tongueOut",
)  # fmt: skip
MOUTH_INDEX: Final[tuple[int, ...]] = tuple(CH[c] for c in MOUTH_CHANNELS)

# Per-viseme ARKit mouth poses (unlisted channels are 0). Symmetric shapes set both sides.
_POSE_SPECS: Final[dict[str, dict[str, float]]] = {
    "sil": {},
    "PP": {"jawOpen": 0.06, "mouthClose": 0.06, "mouthPress": 0.45, "mouthRollLower": 0.15},
    "FF": {"jawOpen": 0.10, "mouthRollLower": 0.55, "mouthUpperUp": 0.20, "mouthFunnel": 0.05},
    "TH": {"jawOpen": 0.20, "tongueOut": 0.40, "mouthStretch": 0.10},
    "DD": {"jawOpen": 0.22, "mouthStretch": 0.15, "mouthLowerDown": 0.15},
    "kk": {"jawOpen": 0.28, "mouthStretch": 0.10, "mouthLowerDown": 0.10},
    "CH": {"jawOpen": 0.15, "mouthFunnel": 0.50, "mouthPucker": 0.30, "mouthUpperUp": 0.20},
    "SS": {"jawOpen": 0.08, "mouthStretch": 0.35, "mouthSmile": 0.20, "mouthLowerDown": 0.10},
    "nn": {"jawOpen": 0.18, "mouthStretch": 0.10, "mouthUpperUp": 0.10},
    "RR": {"jawOpen": 0.20, "mouthFunnel": 0.30, "mouthPucker": 0.25},
    "aa": {"jawOpen": 0.65, "mouthLowerDown": 0.30, "mouthUpperUp": 0.15},
    "E": {"jawOpen": 0.42, "mouthStretch": 0.35, "mouthSmile": 0.20, "mouthLowerDown": 0.20},
    "ih": {"jawOpen": 0.32, "mouthSmile": 0.35, "mouthStretch": 0.20},
    "oh": {"jawOpen": 0.50, "mouthFunnel": 0.55, "mouthPucker": 0.20},
    "ou": {"jawOpen": 0.28, "mouthPucker": 0.75, "mouthFunnel": 0.35},
}
_SIDED: Final[tuple[str, ...]] = (
    "mouthSmile", "mouthStretch", "mouthPress", "mouthLowerDown", "mouthUpperUp",
)  # fmt: skip


def _pose(spec: dict[str, float]) -> npt.NDArray[np.float32]:
    pose = np.zeros(NUM_CHANNELS, dtype=np.float32)
    for name, value in spec.items():
        if name in _SIDED:
            pose[CH[name + "Left"]] = pose[CH[name + "Right"]] = value
        else:
            pose[CH[name]] = value
    return pose


#: ``(NUM_VISEMES, 55)``: the full motion frame of each viseme (head and eyes neutral).
VISEME_POSES: Final[npt.NDArray[np.float32]] = np.stack(
    [_pose(_POSE_SPECS[n]) for n in VISEME_NAMES]
)

# IPA symbols by viseme. Affricates and diphthongs are classified by their first telling symbol.
_IPA_TABLE: Final[dict[str, str]] = {
    **dict.fromkeys("pbmɓʙ", "PP"),
    **dict.fromkeys("fvɱʋɸβ", "FF"),
    **dict.fromkeys("θð", "TH"),
    **dict.fromkeys("tdɗʈɖ", "DD"),
    **dict.fromkeys("kgɡqɢxɣχʁhɦʔcɟçʝħʕ", "kk"),
    **dict.fromkeys("ʃʒɕʑʂʐ", "CH"),
    **dict.fromkeys("sz", "SS"),
    **dict.fromkeys("nɲŋɳlɫʎɭɬɮ", "nn"),
    **dict.fromkeys("rɾɹɻʀɽɚɝ", "RR"),
    **dict.fromkeys("aɑɐæʌä", "aa"),
    **dict.fromkeys("eɛəɜɘᵻ", "E"),
    **dict.fromkeys("iɪɨɯj", "ih"),
    **dict.fromkeys("oɔɒøœɤɞ", "oh"),
    **dict.fromkeys("uʊyʏwʉɥ", "ou"),
}
# A sibilant or postalveolar anywhere in a cluster (tʃ, dʒ, ts) decides its viseme.
_CLUSTER_PRIORITY: Final[tuple[str, ...]] = ("CH", "SS")


def viseme_of_ipa(phoneme: str) -> int:
    """Viseme index of one IPA phoneme as libespeak-ng reports it (``""`` or ``"_"`` is silence)."""
    base = [
        ch
        for ch in unicodedata.normalize("NFD", phoneme)
        if not unicodedata.combining(ch) and ch not in "ːˑˈˌʰʲʷˠˤ̃ ._-:'"
    ]
    if not base:
        return SILENCE
    names = [_IPA_TABLE.get(ch) for ch in base]
    for want in _CLUSTER_PRIORITY:
        if want in names:
            return VISEME[want]
    for name in names:
        if name is not None:
            return VISEME[name]
    return VISEME["DD"] if base[0].isascii() else VISEME["E"]


# Jaw opening separates vowels best; weigh it above the finer lip channels.
_MOUTH_WEIGHTS: Final[npt.NDArray[np.float32]] = np.array(
    [2.0 if c == "jawOpen" else 1.0 for c in MOUTH_CHANNELS], dtype=np.float32
)


def visemes_from_motion(frames: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Label each motion frame ``(T, 55)`` with its nearest viseme pose: ``(T,) int``."""
    arr = np.asarray(frames, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != NUM_CHANNELS:
        raise MotionError(
            f"frames must be (T, {NUM_CHANNELS}), got shape {arr.shape}", field="frames"
        )
    mouth = arr[:, MOUTH_INDEX]  # (T, M)
    poses = VISEME_POSES[:, MOUTH_INDEX]  # (V, M)
    dist = (((mouth[:, None, :] - poses[None, :, :]) ** 2) * _MOUTH_WEIGHTS).sum(-1)  # (T, V)
    return np.asarray(np.argmin(dist, axis=1), dtype=np.int64)
