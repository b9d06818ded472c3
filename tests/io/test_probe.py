"""Tests of vfhgan_core.io.probe: sizes, frame rates, frame counts, durations and truncated files.

The clips and re-encodings (``grid``, ``grid_frames``, ``grid_speech``, ``made``) are the
fixtures of ``tests/media_fixtures.py``; nothing is written into the repository.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media_fixtures import transcode, truncate_copy
from vfhgan_core import config
from vfhgan_core.errors import CorruptVideoError
from vfhgan_core.io import AudioInfo, VideoInfo, iter_video_chunks, probe_video, read_video


def test_probe_grid_mp4(grid: Path) -> None:
    info = probe_video(grid)
    assert (info.container, info.codec) == ("mp4", "h264")
    assert (info.width, info.height, info.rotation) == (360, 288, 0)
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == 75 and info.frame_count_exact
    assert info.duration == pytest.approx(3.0, abs=1e-6)
    assert not info.variable_frame_rate
    assert info.has_audio and info.audio == AudioInfo(44100, 1, pytest.approx(2.98, abs=0.02), "aac")
    assert info.start_time == 0.0


def test_probe_mpg_estimates_frame_count(data_dir: Path) -> None:
    """MPEG-1 program streams store no frame count: it is estimated, and right."""
    path = data_dir / "grid_speakers" / "bbaf2n.mpg"
    info = probe_video(path)
    assert (info.container, info.codec) == ("mpeg", "mpeg1video")
    assert not info.frame_count_exact
    assert info.fps == pytest.approx(25.0)
    decoded = sum(len(c) for c in iter_video_chunks(path, info=info))
    assert info.frame_count == decoded == 75
    assert info.duration == pytest.approx(decoded / 25, abs=1e-6)
    assert info.audio is not None and info.audio.codec == "mp2" and info.audio.channels == 2


def test_video_info_round_trips_through_config(grid: Path) -> None:
    info = probe_video(grid)
    assert config.from_dict(VideoInfo, config.to_dict(info)) == info


def test_unusual_frame_rates(made, data_dir: Path) -> None:
    ntsc = 30000 / 1001
    for key, fps, tol in [("fps2213", 22.13, 1e-6), ("fps2997", ntsc, 1e-6), ("fps2997mkv", ntsc, 5e-4)]:
        info = probe_video(made[key])
        assert info.fps == pytest.approx(fps, abs=1e-3), key
        assert info.frame_count == 75, key
        assert info.duration == pytest.approx(75 / fps, abs=2e-3), key
        t = read_video(made[key]).timestamps
        np.testing.assert_allclose(t, np.arange(75) / fps, atol=tol)
        assert not info.variable_frame_rate
    info = probe_video(data_dir / "no_audio" / "129.mp4")
    assert info.fps == pytest.approx(30.0) and info.frame_count == 270 and not info.has_audio


@pytest.mark.parametrize("faststart", [True, False])
def test_truncated_mp4_is_corrupt(tmp_path: Path, grid: Path, faststart: bool) -> None:
    """The first 10 % of an mp4: index at the start (cut data) or at the end (no index)."""
    full = transcode(grid, tmp_path / "full.mp4", faststart=faststart)
    cut = truncate_copy(full, tmp_path / "cut.mp4", 0.10)
    with pytest.raises(CorruptVideoError) as err:
        probe_video(cut)
    assert err.value.reason == "corrupt"
    assert ("index refers to" in str(err.value)) == faststart  # index kept: the exact diagnosis
    assert "cut short" in str(err.value) and "again" in str(err.value)


def test_truncated_real_file(tmp_path: Path, grid: Path) -> None:
    cut = truncate_copy(grid, tmp_path / "bbaf2n_cut.mp4", 0.10)
    with pytest.raises(CorruptVideoError, match="is truncated: its index refers to"):
        read_video(cut)
