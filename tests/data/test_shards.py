"""Shards: atomic writes, complete-file checks, version checks."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vfhgan_core.data.shards import (
    ClipShard,
    ShardError,
    is_abandoned_temporary,
    is_complete_shard,
    load_shard,
    read_shard_meta,
)


def _shard(t: int = 5) -> ClipShard:
    rng = np.random.default_rng(0)
    return ClipShard(
        clip_id="set/clip",
        hr=rng.integers(0, 255, (t, 128, 128, 3), dtype=np.uint8),
        timestamps=np.arange(t) / 25.0,
        mel_windows=rng.normal(size=(t, 1, 80, 16)).astype(np.float32),
        mouth_boxes=np.tile(np.array([40, 80, 88, 120], np.float32), (t, 1)),
        keypoints=rng.uniform(0, 128, (t, 5, 2)).astype(np.float32),
        crop_matrices=np.tile(np.eye(2, 3, dtype=np.float32), (t, 1, 1)),
        detected=np.ones(t, bool),
        meta={"fps": 25.0, "words": [["bin", 0.1, 0.3]]},
    )


def test_round_trip_keeps_arrays_and_meta(tmp_path: Path) -> None:
    shard = _shard()
    path = shard.save(tmp_path / "a" / "clip.npz")
    back = load_shard(path)
    assert back.clip_id == "set/clip" and back.num_frames == 5
    np.testing.assert_array_equal(back.hr, shard.hr)
    assert back.mel_windows.dtype == np.float16
    np.testing.assert_allclose(back.mel_windows, shard.mel_windows, atol=2e-3)
    assert back.words == [("bin", 0.1, 0.3)]
    assert read_shard_meta(path)["fps"] == 25.0
    assert list(tmp_path.joinpath("a").iterdir()) == [path]  # no temporary file left


def test_truncated_or_foreign_files_are_not_complete(tmp_path: Path) -> None:
    path = _shard().save(tmp_path / "clip.npz")
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    assert is_complete_shard(path)
    assert not is_complete_shard(cut)
    assert not is_complete_shard(tmp_path / "missing.npz")
    with pytest.raises(ShardError, match="run prepare again|unreadable"):
        load_shard(cut)
    other = tmp_path / "other.npz"
    np.savez(other, hr=np.zeros(3))
    assert not is_complete_shard(other)


def test_mismatched_lengths_are_refused() -> None:
    shard = _shard()
    with pytest.raises(ShardError, match="mouth_boxes"):
        ClipShard(**{**shard.__dict__, "mouth_boxes": shard.mouth_boxes[:3]})


def test_temporary_files_of_running_writers_are_not_abandoned(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    gone = tmp_path / f".a.npz.{int(ended.stdout)}.tmp"
    running = tmp_path / f".b.npz.{os.getppid()}.tmp"  # our parent process is alive
    ours = tmp_path / f".c.npz.{os.getpid()}.tmp"      # this process is not writing it now
    unnamed = tmp_path / ".d.npz.tmp"
    for path in (gone, running, ours, unnamed):
        path.write_bytes(b"partial")
    assert is_abandoned_temporary(gone)
    assert not is_abandoned_temporary(running)
    assert is_abandoned_temporary(ours)
    assert is_abandoned_temporary(unnamed)
    old = time.time() - 7 * 3600  # untouched for hours: abandoned whoever holds the id
    os.utime(running, (old, old))
    assert is_abandoned_temporary(running)
