"""Speech fingerprints (vfhgan_core.data.fingerprints) on real prepared clips.

The shared data holds one recording twice: GRID speaker s1's ``bbaf2n`` (``grid_s1/video``,
H.264 + AAC) is also ``grid_speakers/bbaf2n.mpg`` (the original MPEG-1 + MP2 file).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vfhgan_core.data.fingerprints import (
    FINGERPRINT_BITS,
    MAX_DIFFERING_BITS,
    clip_fingerprint,
    differing_bits,
    find_same_recordings,
    shard_fingerprint,
)
from vfhgan_core.data.prepare import prepare_dataset
from vfhgan_core.data.shards import load_shard
from vfhgan_core.data.windows import find_clip_shards
from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.detection import DetectorConfig

CLIPS = {
    "s1": ("grid_s1/video/bbaf2n.mp4",),
    "twin": ("grid_speakers/bbaf2n.mpg",),
    "others": ("grid_speakers/lbax4n.mpg", "grid_speakers/swiz3n.mpg", "grid_s1/video/bbaf3s.mp4"),
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory, data_dir: Path, detector_model: Path) -> dict[str, dict[str, Path]]:
    """``{group: {clip id: shard}}`` of the clips above, prepared by the real pipeline."""
    root = tmp_path_factory.mktemp("fingerprints")
    config = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
    out = {}
    for group, names in CLIPS.items():
        summary = prepare_dataset([data_dir / n for n in names], root / group, config, workers=1, progress=False)
        assert len(summary.ok) == len(names), summary.records
        out[group] = find_clip_shards(root / group)
    return out


def test_the_same_recording_under_two_names_matches(shards) -> None:
    (s1_id, s1), = shards["s1"].items()
    (twin_id, twin), = shards["twin"].items()
    assert s1_id != twin_id
    a, b = shard_fingerprint(s1), shard_fingerprint(twin)
    assert a is not None and len(a) == FINGERPRINT_BITS // 4 and int(a, 16) >= 0
    assert a == clip_fingerprint(load_shard(s1).mel_windows)   # the shard reader and the array agree
    assert differing_bits(a, b) <= MAX_DIFFERING_BITS
    others = {cid: shard_fingerprint(p) for cid, p in shards["others"].items()}
    for cid, fp in others.items():  # other sentences, other speakers: far apart
        assert differing_bits(a, fp) > 2 * MAX_DIFFERING_BITS, cid
    found = find_same_recordings({twin_id: b, **others}, {s1_id: a})
    assert found == {twin_id: s1_id}


def test_clip_fingerprint_inputs() -> None:
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(75, 1, 80, 16)).astype(np.float16)
    fp = clip_fingerprint(mel)
    assert fp == clip_fingerprint(mel[:, 0]) == clip_fingerprint(mel.astype(np.float32))
    assert clip_fingerprint(np.full((75, 80, 16), -4.0)) is None          # silence: no fingerprint
    assert clip_fingerprint(mel[:1]) is None                             # one frame: no envelope
    with pytest.raises(ValueError, match="mel_windows must be"):
        clip_fingerprint(np.zeros((75, 80)))


def test_find_same_recordings_threshold_and_choice() -> None:
    base = int("0123456789abcdef", 16)

    def flipped(bits: int) -> str:  # ``base`` with its lowest ``bits`` bits flipped
        return f"{base ^ ((1 << bits) - 1):016x}"

    ref = {"train/a": flipped(0), "train/silent": None}
    cands = {"x/near": flipped(MAX_DIFFERING_BITS), "x/far": flipped(MAX_DIFFERING_BITS + 1),
             "x/none": None, "train/a": flipped(0)}
    assert differing_bits(flipped(0), flipped(MAX_DIFFERING_BITS + 1)) == MAX_DIFFERING_BITS + 1
    # within the threshold only; no fingerprint matches nothing; a reference id is not reported
    assert find_same_recordings(cands, ref) == {"x/near": "train/a"}
    # of two references within the threshold, the nearer is named
    assert find_same_recordings({"x": flipped(2)}, {"train/a": flipped(0), "train/b": flipped(3)}) == {"x": "train/b"}
    assert find_same_recordings({"x": flipped(0)}, {"only": None}) == {}
