"""Tests of vfhgan_core.io.audio_reader: speech aligned to the first video frame, missing audio.

The clips and re-encodings (``grid``, ``grid_frames``, ``grid_speech``, ``made``) are the
fixtures of ``tests/media_fixtures.py``; nothing is written into the repository.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from media_fixtures import SR, best_lag, transcode
from vfhgan_core.errors import NoAudioStreamError, NotAVideoError
from vfhgan_core.io import probe_video, read_audio


@pytest.mark.parametrize("clip", ["grid_s1/video/bbaf2n.mp4", "grid_speakers/bbaf2n.mpg"])
def test_audio_length_matches_video_and_is_speech(data_dir: Path, clip: str) -> None:
    path = data_dir / clip
    info = probe_video(path)
    raw = read_audio(path, fit="stream")  # what the stream holds, from the first video frame
    assert raw.dtype == np.float32 and raw.ndim == 1
    assert abs(raw.size / SR - info.duration) <= 1 / info.fps
    assert np.abs(raw).max() <= 1.0
    # not constant: speech has loud and quiet 0.1 s windows and many distinct values
    rms = np.sqrt(np.mean(raw[: raw.size // 1600 * 1600].reshape(-1, 1600) ** 2, axis=1))
    assert raw.std() > 0.01 and rms.max() > 5 * np.median(rms) and np.unique(raw).size > 1000
    fitted = read_audio(path)
    assert fitted.size == round(info.duration * SR)
    part = read_audio(path, start=1.0, duration=0.5)
    assert part.size == 8000
    np.testing.assert_allclose(part, fitted[16000:24000], atol=1e-4)


@pytest.mark.parametrize("ext, offset", [("mkv", 0.5), ("mp4", -0.2)])
def test_audio_aligned_to_first_video_frame(tmp_path: Path, grid: Path, grid_speech, ext, offset) -> None:
    """Audio starting after the video gets zeros in front; audio starting before is cut."""
    path = transcode(grid, tmp_path / f"offset.{ext}", audio_offset=offset)
    info = probe_video(path)
    assert info.start_time == pytest.approx(max(0.0, -offset), abs=1e-3)
    speech = read_audio(path, fit="stream")
    shift = int(round(offset * SR))  # where the source's sample 0 lands in our result
    if offset > 0:
        assert np.abs(speech[: shift - 16]).max() == 0.0
    lag, corr = best_lag(grid_speech, speech, max_lag=abs(shift) + 400)
    assert abs(lag - shift) <= 32 and corr > 0.95  # within 2 ms of the container's times


def test_no_audio_stream_error_or_silence(data_dir: Path, caplog) -> None:
    path = data_dir / "no_audio" / "129.mp4"
    with pytest.raises(NoAudioStreamError, match="no audio stream") as err:
        read_audio(path)
    assert err.value.reason == "no_audio"
    with caplog.at_level(logging.WARNING, logger="vfhgan_core.io.audio_reader"):
        silence = read_audio(path, on_missing="silence")
    assert "no audio" in caplog.text
    assert silence.shape == (9 * SR,) and not silence.any()
    assert read_audio(path, start=2.0, duration=1.5, on_missing="silence").shape == (24000,)
    with pytest.raises(ValueError):
        read_audio(path, on_missing="ignore")


def test_audio_only_file_reads_as_audio_but_not_as_video(data_dir: Path) -> None:
    path = data_dir / "voxceleb2" / "Audio_Source_681600002.mp3"
    with pytest.raises(NotAVideoError, match="audio-only"):
        probe_video(path)
    speech = read_audio(path, fit="stream")
    assert speech.size > SR and speech.std() > 0.01
