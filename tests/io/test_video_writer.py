"""Tests of vfhgan_core.io.video_writer: frame rate, frames and audio kept; atomic, validated writes.

The clips and re-encodings (``grid``, ``grid_frames``, ``grid_speech``, ``made``) are the
fixtures of ``tests/media_fixtures.py``; nothing is written into the repository.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media_fixtures import SR, best_lag
from vfhgan_core.io import VideoWriter, iter_video_chunks, probe_video, read_audio, read_video, write_video


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
