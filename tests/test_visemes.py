"""Visemes: names, poses, IPA table, nearest-pose labelling."""

import numpy as np
import pytest

from lpm_bridge.errors import MotionError
from lpm_bridge.motion import NUM_CHANNELS
from lpm_bridge.visemes import (
    NUM_VISEMES,
    VISEME,
    VISEME_NAMES,
    VISEME_POSES,
    viseme_of_ipa,
    visemes_from_motion,
)


def test_names_and_poses() -> None:
    assert VISEME_NAMES == (
        "sil",
        "PP",
        "FF",
        "TH",
        "DD",
        "kk",
        "CH",
        "SS",
        "nn",
        "RR",
        "aa",
        "E",
        "ih",
        "oh",
        "ou",
    )
    assert VISEME_POSES.shape == (NUM_VISEMES, NUM_CHANNELS)
    assert ((VISEME_POSES >= 0) & (VISEME_POSES <= 1)).all()
    assert not VISEME_POSES[VISEME["sil"]].any()


def test_each_pose_is_its_own_viseme() -> None:
    assert visemes_from_motion(VISEME_POSES).tolist() == list(range(NUM_VISEMES))


@pytest.mark.parametrize(
    ("ipa", "name"),
    [("p", "PP"), ("m", "PP"), ("f", "FF"), ("θ", "TH"), ("t", "DD"), ("ɡ", "kk"), ("tʃ", "CH"),
     ("dʑ", "CH"), ("s", "SS"), ("ts", "SS"), ("n", "nn"), ("ɹ", "RR"), ("aː", "aa"), ("ɛ", "E"),
     ("ɪ", "ih"), ("ɔ", "oh"), ("uː", "ou"), ("aʊ", "aa"), ("", "sil"), ("_", "sil")],
)  # fmt: skip
def test_ipa_table(ipa: str, name: str) -> None:
    assert VISEME_NAMES[viseme_of_ipa(ipa)] == name


def test_bad_shape() -> None:
    with pytest.raises(MotionError):
        visemes_from_motion(np.zeros((3, 52)))
