"""Tests of vfhgan_core.io.containers: every container decodes; what is not a usable video is told apart.

Files of each container, text, images, empty and missing paths, and paths with spaces and
non-ASCII letters, through the public readers (``probe_video``, ``read_video``, ``read_audio``).
The clips and re-encodings (``grid``, ``grid_frames``, ``grid_speech``, ``made``) are the
fixtures of ``tests/media_fixtures.py``; nothing is written into the repository.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from media_fixtures import best_lag, copy_to, streamless_mp4, zero_frame_mkv
from vfhgan_core.errors import EmptyVideoError, MediaError, NotAVideoError, VFHGANError
from vfhgan_core.io import VideoNotFoundError, iter_video_chunks, probe_video, read_audio, read_video, write_video


@pytest.mark.parametrize("kind, container, codec", [
    ("avi", "avi", "mpeg4"), ("mov", "mov", "h264"), ("webm", "webm", "vp8"), ("mkv", "mkv", "h264"),
    ("mpg", "mpeg", "mpeg1video"),
])
def test_containers_decode_frames_and_aligned_speech(made, kind, container, codec, grid_frames,
                                                     grid_speech) -> None:
    path = made[kind]
    info = probe_video(path)
    assert (info.container, info.codec) == (container, codec)
    assert (info.width, info.height) == (360, 288)
    assert info.frame_count == 75 and info.fps == pytest.approx(25.0)
    video = read_video(path)
    assert video.frames.shape == (75, 288, 360, 3) and video.frames.dtype == np.uint8
    assert video.frames.flags.c_contiguous
    np.testing.assert_allclose(video.timestamps, np.arange(75) / 25, atol=1e-9)
    np.testing.assert_array_equal(video.indices, np.arange(75))
    # the same pictures as the source (lossy re-encoding: small mean error)
    assert np.abs(video.frames.astype(np.int16) - grid_frames).mean() < 4.0
    # the same speech, at the same time (mpg's audio starts 11 ms before its video: cut)
    speech = read_audio(path)
    assert speech.dtype == np.float32 and speech.shape == (48000,)
    lag, corr = best_lag(grid_speech, speech)
    assert abs(lag) <= 2 and corr > 0.95


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(NotAVideoError, match="text file") as err:
        probe_video(path)
    assert "mp4" in str(err.value) and "webm" in str(err.value)  # says what is supported
    with pytest.raises(NotAVideoError):
        read_audio(path)
    with pytest.raises(NotAVideoError):
        next(iter_video_chunks(path))


def test_image_is_not_a_video(tmp_path: Path, grid_frames) -> None:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), grid_frames[0][:, :, ::-1])
    with pytest.raises(NotAVideoError, match="PNG image"):
        probe_video(path)


def test_empty_files(tmp_path: Path) -> None:
    zero = tmp_path / "zero.mp4"
    zero.touch()
    with pytest.raises(EmptyVideoError, match="0 bytes"):
        probe_video(zero)
    with pytest.raises(EmptyVideoError, match="no frames"):
        probe_video(zero_frame_mkv(tmp_path / "noframes.mkv"))
    with pytest.raises(EmptyVideoError):
        probe_video(streamless_mp4(tmp_path / "nostreams.mp4"))


def test_missing_path_and_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "clip.mp4"
    with pytest.raises(VideoNotFoundError, match="No such file") as err:
        probe_video(missing)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, MediaError)
    assert isinstance(err.value, VFHGANError)
    with pytest.raises(FileNotFoundError):
        read_audio(missing)
    with pytest.raises(NotAVideoError, match="folder"):
        probe_video(tmp_path)


def test_path_with_spaces_and_unicode(tmp_path: Path, grid: Path, grid_speech) -> None:
    folder = tmp_path / "mes vidéos 视频"
    path = copy_to(grid, folder / "Zoë's clip – 第1.mp4")
    assert probe_video(path).frame_count == 75
    assert len(read_video(path, max_frames=3)) == 3
    np.testing.assert_array_equal(read_audio(path), read_audio(grid))
    out = write_video(folder / "résultat ✓.mp4", read_video(path, max_frames=5).frames, 25)
    assert out.exists() and probe_video(out).frame_count == 5
