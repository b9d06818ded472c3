"""vfhgan_core/data/packed.py on real prepared GRID clips: what a pack keeps, and what it refuses."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vfhgan_core.data.packed import PackError, PackSettings, pack_prepared, read_pack_index, unpack
from vfhgan_core.data.shards import load_shard
from vfhgan_core.data.windows import find_clip_shards


@pytest.fixture(scope="module")
def prepared(prepare_grid_s1) -> Path:
    return prepare_grid_s1(("bbaf2n", "bbaf3s"), tag="grid_s1")


@pytest.fixture(scope="module")
def packed(prepared: Path, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pack") / "pack"
    return out, pack_prepared([prepared], out)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def test_a_pack_is_small_and_unpacks_to_the_same_clips(prepared: Path, packed, tmp_path: Path) -> None:
    pack, index = packed
    originals = find_clip_shards(prepared)
    source_bytes = sum(p.stat().st_size for p in originals.values())
    assert index["bytes"] < source_bytes / 10, (index["bytes"], source_bytes)
    assert index["frames"] == sum(load_shard(p).num_frames for p in originals.values())

    folders = unpack(pack, tmp_path / "out", workers=2, compress=False)
    restored = find_clip_shards(folders[prepared.name])
    assert restored.keys() == originals.keys()
    for clip_id, path in originals.items():
        a, b = load_shard(path), load_shard(restored[clip_id])
        assert b.hr.shape == a.hr.shape and b.hr.dtype == np.uint8
        assert _psnr(a.hr, b.hr) > 38.0          # CRF 14, 4:4:4: far closer than any ×4 restoration
        # the speech to the quantisation step (8/255), every other array exactly
        assert np.abs(a.mel_windows.astype(np.float32) - b.mel_windows.astype(np.float32)).max() <= 4 / 255 + 1e-3
        for key in ("timestamps", "mouth_boxes", "keypoints", "crop_matrices", "detected"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        assert b.words == a.words and b.meta["packed"] is True
    # rerunning finds the folder complete and leaves it alone
    shard = next(iter(restored.values()))
    mtime = shard.stat().st_mtime_ns
    unpack(pack, tmp_path / "out")
    assert shard.stat().st_mtime_ns == mtime


def test_a_lower_crf_is_closer_and_larger(prepared: Path, packed, tmp_path: Path) -> None:
    _, index = packed
    fine = pack_prepared([prepared], tmp_path / "fine", PackSettings(crf=6))
    assert fine["bytes"] > index["bytes"]
    a = load_shard(next(iter(find_clip_shards(prepared).values())))
    coarse_hr = load_shard(next(iter(find_clip_shards(unpack(tmp_path / "fine", tmp_path / "f")[prepared.name])
                                     .values()))).hr
    assert _psnr(a.hr, coarse_hr) > 42.0


def test_refuses_what_it_cannot_use(prepared: Path, packed, tmp_path: Path) -> None:
    pack, _ = packed
    with pytest.raises(PackError, match="not empty"):
        pack_prepared([prepared], pack)
    with pytest.raises(PackError, match="the filter left none"):
        pack_prepared([prepared], tmp_path / "none", keep=lambda cid: False)
    with pytest.raises(PackError, match="not a pack"):
        read_pack_index(tmp_path)
    index = json.loads((pack / "pack.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    (other / "pack.json").write_text(json.dumps(dict(index, pack_version=99)))
    with pytest.raises(PackError, match="version 99"):
        unpack(other, tmp_path / "x")
    with pytest.raises(ValueError, match="crf"):
        PackSettings(crf=60)
