"""Tests of vfhgan_core.io.video_reader: true frame times, rotation, seeking, bounded-memory streaming.

The clips and re-encodings (``grid``, ``grid_frames``, ``grid_speech``, ``made``) are the
fixtures of ``tests/media_fixtures.py``; nothing is written into the repository.
"""
from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from media_fixtures import transcode
from vfhgan_core.io import iter_video_chunks, probe_video, read_audio, read_video


@pytest.fixture(scope="module")
def hd_clip(tmp_path_factory, data_dir: Path) -> Path:
    """1.2 s of the 720p interview clip upscaled to 1920x1080 (30 frames)."""
    d = tmp_path_factory.mktemp("hd")
    return transcode(data_dir / "multi_face" / "interview.mp4", d / "hd1080.mp4", seconds=1.2,
                     size=(1920, 1080))


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_variable_frame_rate_keeps_true_times(tmp_path: Path, grid: Path, ext: str) -> None:
    times = [0.0, 0.04, 0.10, 0.12, 0.30, 0.33, 0.50, 0.52, 0.54, 0.80]
    path = transcode(grid, tmp_path / f"vfr.{ext}", timestamps=times)
    info = probe_video(path)
    assert info.variable_frame_rate
    assert info.frame_count == 10
    assert info.fps == pytest.approx(10 / info.duration)
    video = read_video(path)
    np.testing.assert_allclose(video.timestamps, times, atol=1e-9)
    np.testing.assert_array_equal(video.indices, np.arange(10))
    part = read_video(path, start=0.11, duration=0.5)  # seek into a VFR stream: indices stay exact
    np.testing.assert_allclose(part.timestamps, [0.12, 0.30, 0.33, 0.50, 0.52, 0.54], atol=1e-9)
    np.testing.assert_array_equal(part.indices, [3, 4, 5, 6, 7, 8])


@pytest.mark.parametrize("ext, rotate", [("mp4", 90), ("mov", 180), ("mkv", 270)])
def test_rotated_video_is_returned_upright(tmp_path: Path, grid: Path, grid_frames, ext, rotate) -> None:
    """A phone-style file: frames stored sideways plus a display matrix to turn them."""
    path = transcode(grid, tmp_path / f"rot{rotate}.{ext}", seconds=0.4, rotate_cw=rotate)
    with av.open(str(path)) as c:  # the stored frames really are sideways
        stored = next(c.decode(video=0))
        assert (stored.width, stored.height) == ((288, 360) if rotate % 180 else (360, 288))
    info = probe_video(path)
    assert info.rotation == rotate
    assert (info.width, info.height) == (360, 288)
    video = read_video(path)
    assert video.frames.shape == (10, 288, 360, 3)
    assert np.abs(video.frames.astype(np.int16) - grid_frames[:10]).mean() < 4.0
    small = read_video(path, max_frames=2, max_side=180)
    assert small.frames.shape == (2, 144, 180, 3) and small.scale == pytest.approx(0.5)


def _rss() -> int:
    """Resident memory of this process in bytes (Linux), or 0 where /proc is missing."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _stream_peak(path: Path, chunk_frames: int, **kwargs) -> tuple[int, int, int]:
    """Iterate a clip keeping only the chunk at hand.

    Returns (frames seen, peak bytes of Python/numpy allocations traced by tracemalloc,
    peak growth of the resident memory in bytes, 0 where it cannot be read).
    """
    rss0 = _rss()
    rss_peak = rss0
    tracemalloc.start()
    try:
        n = 0
        last_t = -1.0
        for chunk in iter_video_chunks(path, chunk_frames, **kwargs):
            assert len(chunk) <= chunk_frames and chunk.frames.flags.c_contiguous
            assert chunk.timestamps[0] > last_t
            np.testing.assert_array_equal(chunk.indices, np.arange(n, n + len(chunk)))
            last_t = chunk.timestamps[-1]
            n += len(chunk)
            rss_peak = max(rss_peak, _rss())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return n, peak, rss_peak - rss0


@pytest.mark.slow
def test_long_clip_streams_with_bounded_memory(data_dir: Path) -> None:
    path = data_dir / "no_audio" / "sun.mp4"
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (576, 768, 550)
    n, peak, rss_growth = _stream_peak(path, 16, info=info)
    chunk_bytes = 16 * 576 * 768 * 3  # 21 MB; the whole clip decoded would take 730 MB
    assert n == 550
    assert peak < 3 * chunk_bytes  # the chunk being filled + the one the caller holds
    assert rss_growth < 10 * chunk_bytes  # decoder buffers included; far below the whole clip


@pytest.mark.slow
def test_1080p_streams_and_downscales(hd_clip: Path) -> None:
    info = probe_video(hd_clip)
    assert (info.width, info.height, info.frame_count) == (1920, 1080, 30)
    n, peak, _ = _stream_peak(hd_clip, 3, info=info)
    assert n == 30 and peak < 3 * (3 * 1920 * 1080 * 3)  # the whole clip would be 10 chunks
    # max_side: smaller frames, same picture, known scale
    small = read_video(hd_clip, max_frames=2, max_side=480)
    assert small.frames.shape == (2, 270, 480, 3) and small.scale == pytest.approx(0.25)
    full = read_video(hd_clip, max_frames=1).frames[0]
    expected = cv2.resize(full, (480, 270), interpolation=cv2.INTER_AREA)
    assert np.abs(small.frames[0].astype(np.int16) - expected).mean() < 2.0


@pytest.mark.parametrize("clip, start, duration, first_index, n", [
    ("no_audio/fear.mp4", 5.0, 0.5, 125, 13),
    ("grid_speakers/bbaf2n.mpg", 1.0, 0.2, 25, 5),
])
def test_segment_seek_matches_sequential_decode(data_dir, clip, start, duration, first_index, n) -> None:
    path = data_dir / clip
    whole = read_video(path)
    part = read_video(path, start=start, duration=duration)
    assert len(part) == n
    np.testing.assert_array_equal(part.indices, np.arange(first_index, first_index + n))
    np.testing.assert_allclose(part.timestamps, whole.timestamps[first_index:first_index + n], atol=1e-9)
    np.testing.assert_array_equal(part.frames, whole.frames[first_index:first_index + n])


def test_read_video_limits_and_empty_segment(grid: Path) -> None:
    assert len(read_video(grid, max_frames=7)) == 7
    past_end = read_video(grid, start=10.0)
    assert past_end.frames.shape == (0, 288, 360, 3) and past_end.timestamps.shape == (0,)
    with pytest.raises(ValueError):
        read_video(grid, start=-1.0)
    with pytest.raises(ValueError):
        next(iter_video_chunks(grid, chunk_frames=0))


def test_damaged_packets_are_skipped(tmp_path: Path, grid: Path) -> None:
    data = bytearray(grid.read_bytes())
    data[60000:62000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(data))
    video = read_video(path)
    assert 60 <= len(video) <= 75
    assert read_audio(path).size == 48000
