"""Tests of vfhgan_core.media on the real clips and on re-encodings of them.

The re-encoded files (other containers, rotation, odd and variable frame rates,
1080p, damaged files) are made by ``tests/media_fixtures.py`` in pytest's temporary
folders; nothing is written into the repository.
"""
from __future__ import annotations

import logging
import os
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from media_fixtures import copy_to, decode_audio, decode_rgb, streamless_mp4, transcode, truncate_copy, zero_frame_mkv
from vfhgan_core import config
from vfhgan_core.errors import (
    CorruptVideoError,
    EmptyVideoError,
    MediaError,
    NoAudioStreamError,
    NotAVideoError,
    VFHGANError,
)
from vfhgan_core.io import (
    AudioInfo,
    VideoInfo,
    VideoNotFoundError,
    VideoWriter,
    iter_video_chunks,
    probe_video,
    read_audio,
    read_video,
    write_video,
)

SR = 16000


def best_lag(reference: np.ndarray, signal: np.ndarray, max_lag: int = 800) -> tuple[int, float]:
    """Lag (samples) at which ``signal`` best matches ``reference`` (signal[i + lag] ~ reference[i]),
    and the correlation coefficient there."""
    n = min(reference.size, signal.size) - 2 * max_lag
    assert n > SR // 2, "signals too short to compare"
    ref = reference[max_lag: max_lag + n]
    scores = [np.dot(ref, signal[max_lag + lag: max_lag + lag + n]) for lag in range(-max_lag, max_lag + 1)]
    lag = int(np.argmax(scores)) - max_lag
    return lag, float(np.corrcoef(ref, signal[max_lag + lag: max_lag + lag + n])[0, 1])


@pytest.fixture(scope="module")
def grid(data_dir: Path) -> Path:
    return data_dir / "grid_s1" / "video" / "bbaf2n.mp4"


@pytest.fixture(scope="module")
def grid_frames(grid: Path) -> np.ndarray:
    """The 75 frames of the GRID clip, decoded independently of vfhgan_core.media."""
    frames, _ = decode_rgb(grid)
    return np.stack(frames)


@pytest.fixture(scope="module")
def grid_speech(grid: Path) -> np.ndarray:
    """The GRID clip's speech at 16 kHz, decoded independently of vfhgan_core.media."""
    return decode_audio(grid, SR)


@pytest.fixture(scope="module")
def made(tmp_path_factory, grid: Path) -> dict[str, Path]:
    """Re-encodings of the GRID clip in other containers and timings (3 s each)."""
    d = tmp_path_factory.mktemp("made")
    return {
        "avi": transcode(grid, d / "clip.avi"),
        "mov": transcode(grid, d / "clip.mov"),
        "webm": transcode(grid, d / "clip.webm"),
        "mkv": transcode(grid, d / "clip.mkv"),
        "mpg": transcode(grid, d / "clip.mpg"),
        "fps2213": transcode(grid, d / "fps2213.mp4", fps=Fraction(2213, 100)),
        "fps2997": transcode(grid, d / "fps2997.mp4", fps=Fraction(30000, 1001)),
        "fps2997mkv": transcode(grid, d / "fps2997.mkv", fps=Fraction(30000, 1001)),
    }


@pytest.fixture(scope="module")
def hd_clip(tmp_path_factory, data_dir: Path) -> Path:
    """1.2 s of the 720p interview clip upscaled to 1920x1080 (30 frames)."""
    d = tmp_path_factory.mktemp("hd")
    return transcode(data_dir / "multi_face" / "interview.mp4", d / "hd1080.mp4", seconds=1.2,
                     size=(1920, 1080))


# ----------------------------------------------------------------------------- probe


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


# ----------------------------------------------------------------------------- streaming


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


# ----------------------------------------------------------------------------- audio


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


# ----------------------------------------------------------------------------- bad input


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


def test_damaged_packets_are_skipped(tmp_path: Path, grid: Path) -> None:
    data = bytearray(grid.read_bytes())
    data[60000:62000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(data))
    video = read_video(path)
    assert 60 <= len(video) <= 75
    assert read_audio(path).size == 48000


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


# ----------------------------------------------------------------------------- writing


def test_write_keeps_fps_frames_and_aligned_audio(tmp_path: Path, grid: Path, grid_frames, grid_speech) -> None:
    info = probe_video(grid)
    speech = read_audio(grid)
    out = write_video(tmp_path / "out.mp4", read_video(grid).frames, info.fps, audio=speech)
    back = probe_video(out)
    assert (back.container, back.codec, back.width, back.height) == ("mp4", "h264", 360, 288)
    assert back.fps == pytest.approx(25.0) and back.frame_count == 75
    assert back.audio is not None and back.audio.codec == "aac" and back.audio.sample_rate == SR
    assert abs(back.audio.duration - 75 / 25) < 1 / 25
    assert np.abs(read_video(out).frames.astype(np.int16) - grid_frames).mean() < 3.0
    lag, corr = best_lag(grid_speech, read_audio(out))
    assert lag == 0 and corr > 0.95
    with av.open(str(out)) as c:  # tagged BT.601 like the conversion used
        assert c.streams.video[0].codec_context.colorspace == 6


def test_write_keeps_ntsc_rate_and_fits_audio(tmp_path: Path, made, grid_speech) -> None:
    info = probe_video(made["fps2997"])
    frames = read_video(made["fps2997"]).frames
    short = grid_speech[SR: 2 * SR]  # 1 s of speech for 2.5 s of video: padded with silence
    out = write_video(tmp_path / "ntsc.mp4", frames, info.fps, audio=short)
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == Fraction(30000, 1001)
    back = read_audio(out)
    assert abs(back.size / SR - 75 / info.fps) < 1 / info.fps
    assert np.sqrt(np.mean(back[: SR - 2000] ** 2)) > 0.02
    assert np.abs(back[SR + 2000:]).max() < 0.01
    long = np.concatenate([grid_speech, grid_speech])  # 6 s for 2.5 s: cut
    out2 = write_video(tmp_path / "ntsc2.mp4", frames, info.fps, audio=long)
    assert abs(probe_video(out2).audio.duration - 75 / info.fps) < 1 / info.fps


def test_writer_pads_odd_sizes(tmp_path: Path, grid_frames) -> None:
    odd = np.ascontiguousarray(grid_frames[:5, :287, :359])
    with VideoWriter(tmp_path / "odd.mp4", 25) as writer:
        for frame in odd:
            writer.write(frame)
    assert writer.size == (360, 288) and writer.frames_written == 5
    back = read_video(tmp_path / "odd.mp4").frames
    assert back.shape == (5, 288, 360, 3)
    assert np.abs(back[:, :287, :359].astype(np.int16) - odd).mean() < 3.0
    assert np.abs(back[:, :287, 359].astype(np.int16) - odd[:, :, 358]).mean() < 6.0  # copied edge


def test_writer_is_atomic(tmp_path: Path, grid_frames) -> None:
    path = tmp_path / "result.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(path, 25) as writer:
            writer.write(grid_frames[:10])
            assert path.read_bytes() == b"previous result"  # not touched while writing
            raise RuntimeError("boom")
    assert path.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4"]  # no temporary file left
    with VideoWriter(path, 25) as writer:
        writer.write(grid_frames[:10])
    assert probe_video(path).frame_count == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4"]


def test_writer_rejects_bad_input(tmp_path: Path, grid_frames) -> None:
    with pytest.raises(ValueError, match="no frames"):
        VideoWriter(tmp_path / "none.mp4", 25).close()
    assert not (tmp_path / "none.mp4").exists()
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "f.mp4", grid_frames[:2].astype(np.float32), 25)
    with pytest.raises(ValueError, match="size of the first"):
        write_video(tmp_path / "s.mp4", [grid_frames[:2], grid_frames[:2, :100, :100]], 25)
    with pytest.raises(ValueError, match="mp4"):
        VideoWriter(tmp_path / "x.gif", 25)
    assert sorted(os.listdir(tmp_path)) == []


def test_write_video_streams_chunks(tmp_path: Path, grid: Path) -> None:
    """Re-encode chunk by chunk (the CLI's path), with the audio kept."""
    chunks = iter_video_chunks(grid, chunk_frames=16)
    out = write_video(tmp_path / "chunks.mp4", chunks, 25, audio=read_audio(grid), audio_rate=SR)
    back = probe_video(out)
    assert back.frame_count == 75 and back.has_audio


def test_partial_files_are_the_writers_hidden_temporaries(tmp_path) -> None:
    from vfhgan_core.io import partial_files

    out = tmp_path / "clip [1].mp4"                      # glob characters in the name are taken literally
    (tmp_path / "other.mp4").write_bytes(b"x")
    writer = VideoWriter(out, fps=25)
    writer.__enter__()
    writer.write(np.zeros((100, 32, 32, 3), dtype=np.uint8))   # enough for x264 to hand out packets
    partial, = partial_files(out)                         # what a process killed now would leave
    assert partial.parent == tmp_path and partial.name.startswith(".clip [1].") and not out.exists()
    writer.abort()
    assert partial_files(out) == [] and not out.exists()
    with VideoWriter(out, fps=25) as w:
        w.write(np.zeros((4, 32, 32, 3), dtype=np.uint8))
    assert out.is_file() and partial_files(out) == []


def test_writer_444_keeps_the_colour_detail_420_halves(tmp_path: Path, grid_frames) -> None:
    """pix_fmt="yuv444p" (data/packed.py stores face crops so) comes back closer than yuv420p."""
    frames = grid_frames[:10]

    def psnr(pix_fmt: str) -> float:
        path = tmp_path / f"{pix_fmt}.mp4"
        with VideoWriter(path, fps=25, crf=14, pix_fmt=pix_fmt) as w:
            w.write(np.ascontiguousarray(frames))
        back = read_video(path).frames.astype(np.float64)
        return float(10 * np.log10(255 ** 2 / np.mean((back - frames) ** 2)))

    assert psnr("yuv444p") > psnr("yuv420p") + 0.5   # on face crops: 41.2 against 39.0 dB
    with pytest.raises(ValueError, match="pix_fmt"):
        VideoWriter(tmp_path / "x.mp4", fps=25, pix_fmt="rgb24")
