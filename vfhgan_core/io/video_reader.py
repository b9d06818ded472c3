"""Decoding video frames: :func:`iter_video_chunks` streams, :func:`read_video` reads into memory.

Frames come out as upright RGB ``uint8`` arrays in :class:`VideoChunk` objects, with the
presentation time of each frame (0 at the first frame of the file) and its frame number.
:func:`iter_video_chunks` holds one chunk of bounded size at a time, seeks to a start time,
and can shrink the frames on the way (``max_side``); :func:`read_video` gathers a short
segment into one chunk.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from .containers import _check_segment, _open_input, _video_stream
from .probe import VideoInfo, probe_video

__all__ = ["VideoChunk", "iter_video_chunks", "read_video"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- reading frames


@dataclass
class VideoChunk:
    """Consecutive decoded frames of one video.

    Attributes:
        frames: uint8 array (N, H, W, 3), RGB, upright (rotation applied), C-contiguous.
        timestamps: float64 array (N,), presentation time of each frame in seconds;
            0 is the first video frame of the file (the origin shared with :func:`~vfhgan_core.io.audio_reader.read_audio`).
        indices: int64 array (N,), frame numbers counted from 0 at the first frame of the file.
        scale: ``frames`` width / display width (1.0 unless ``max_side`` shrank the frames).
            A point ``(x, y)`` in ``frames`` lies at ``(x / scale, y / scale)`` in the full-size
            upright video (to within half a pixel of rounding of the output size).
    """

    frames: np.ndarray
    timestamps: np.ndarray
    indices: np.ndarray
    scale: float = 1.0

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def _output_size(info: VideoInfo, max_side: int | None) -> tuple[int, int, float]:
    """(width, height, scale) of the frames returned for ``max_side`` (display orientation)."""
    if max_side is not None and (not isinstance(max_side, int) or max_side < 2):
        raise ValueError(f"max_side must be an integer >= 2 (pixels) or None, got {max_side!r}")
    longest = max(info.width, info.height)
    if max_side is None or longest <= max_side:
        return info.width, info.height, 1.0
    scale = max_side / longest
    return max(1, round(info.width * scale)), max(1, round(info.height * scale)), scale


def _decoded_frames(container, stream, path: Path) -> Iterator[av.VideoFrame]:
    """Decode ``stream`` from the container's current position, skipping packets that fail."""
    bad = 0
    last: Exception | None = None
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            bad += 1
            last = exc
            continue
        yield from frames
    if bad:
        logger.warning("%s: %d damaged video packet(s) skipped (%s)", path, bad, last)


def _count_packets_before(path: Path, stream_index: int, pts_limit: int) -> int:
    """Number of video packets presented before ``pts_limit`` (reads, does not decode)."""
    count = 0
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams[stream_index]):
            if packet.size and packet.pts is not None and packet.pts < pts_limit:
                count += 1
    return count


def iter_video_chunks(
    path: str | os.PathLike,
    chunk_frames: int = 64,
    start: float = 0.0,
    duration: float | None = None,
    max_side: int | None = None,
    *,
    info: VideoInfo | None = None,
) -> Iterator[VideoChunk]:
    """Decode a video (or the segment ``[start, start + duration)`` seconds of it) chunk by chunk.

    Holds at most one chunk of decoded frames: the caller may keep or drop each chunk.
    A 1080p chunk of 64 frames takes 400 MB; pick ``chunk_frames`` for the memory at hand.

    Args:
        path: the video file.
        chunk_frames: frames per chunk (the last chunk may be shorter).
        start: first time to return, in seconds from the first frame. The reader seeks to
            the key frame before it and decodes (without converting) the frames in between.
        duration: seconds to return; None reads to the end.
        max_side: when given, frames are shrunk (area averaging, aspect ratio kept) so that
            their longer side is at most ``max_side`` pixels; ``chunk.scale`` says by how much.
        info: the :func:`probe_video` result, when the caller already has it.

    Yields:
        :class:`VideoChunk` objects. Frame ``indices`` count from the first frame of the file;
        after a seek (``start > 0``) they are ``round(t * fps)`` for constant frame rate, and the
        number of packets presented earlier (read without decoding) for variable frame rate.

    Raises:
        The errors of :func:`probe_video`; ValueError for invalid arguments.
    """
    if not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a positive integer, got {chunk_frames!r}")
    _check_segment(start, duration)
    info = info if info is not None else probe_video(path)
    out_w, out_h, scale = _output_size(info, max_side)
    turns = (info.rotation // 90) % 4  # clockwise quarter turns
    coded_w, coded_h = (out_h, out_w) if turns % 2 else (out_w, out_h)
    convert = {"format": "rgb24", "width": coded_w, "height": coded_h}
    if scale != 1.0:
        convert["interpolation"] = "AREA"
    reformatter = VideoReformatter()  # keeps its swscale context: 5x faster than frame.to_ndarray(width=...)
    end = start + duration if duration is not None else math.inf

    container, p, sniffed = _open_input(path)
    with container:
        stream = _video_stream(container, p, sniffed)
        stream.thread_type = "AUTO"
        tb = stream.time_base
        origin = int(round(Fraction(info.start_time) / tb))
        fps = Fraction(info.fps).limit_denominator(100000)
        frame_ticks = max(1, int(round(1 / (fps * tb))))
        eps = 1e-6

        frames = _decoded_frames(container, stream, p)
        first: av.VideoFrame | None = None
        index = 0
        if start > 0:
            target = origin + int(math.floor(Fraction(start) / tb))
            back = 0
            while True:
                container.seek(max(0, target - back), stream=stream, backward=True, any_frame=False)
                frames = _decoded_frames(container, stream, p)
                first = next(frames, None)
                if first is None or first.pts is None or first.pts <= target or target - back <= origin:
                    break
                back = max(int(2 / tb), 2 * back)  # the seek landed after the target: go further back
            if first is not None and first.pts is not None:
                if info.variable_frame_rate:
                    index = _count_packets_before(p, stream.index, first.pts)
                else:
                    index = int(round((first.pts - origin) * tb * fps))

        def all_frames() -> Iterator[av.VideoFrame]:
            if first is not None:
                yield first
            yield from frames

        buf = ts = idx = None
        n = 0
        last_pts: int | None = None
        for frame in all_frames():
            pts = frame.pts if frame.pts is not None else (origin if last_pts is None else last_pts + frame_ticks)
            last_pts = pts
            t = float((pts - origin) * tb)
            if t < start - eps:
                index += 1
                continue
            if t >= end - eps:
                break
            if buf is None:
                buf = np.empty((chunk_frames, out_h, out_w, 3), dtype=np.uint8)
                ts = np.empty(chunk_frames, dtype=np.float64)
                idx = np.empty(chunk_frames, dtype=np.int64)
            kwargs = convert
            if frame.color_range:  # full-range (JPEG) sources need it, limited range is the default
                kwargs = {**convert, "src_color_range": frame.color_range}
            rgb = reformatter.reformat(frame, **kwargs).to_ndarray()
            buf[n] = np.rot90(rgb, -turns) if turns else rgb
            ts[n] = t
            idx[n] = index
            n += 1
            index += 1
            if n == chunk_frames:
                chunk = VideoChunk(buf, ts, idx, scale)
                buf = ts = idx = None
                n = 0
                yield chunk
        if n:
            yield VideoChunk(buf[:n], ts[:n], idx[:n], scale)


def read_video(
    path: str | os.PathLike,
    start: float = 0.0,
    duration: float | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
) -> VideoChunk:
    """Decode a whole segment into memory (for short clips; use :func:`iter_video_chunks` otherwise).

    Returns one :class:`VideoChunk` (possibly with 0 frames when ``start`` lies past the end),
    with at most ``max_frames`` frames when given.
    """
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive integer or None, got {max_frames!r}")
    info = probe_video(path)
    chunk_frames = 64 if max_frames is None else min(64, max_frames)
    parts: list[VideoChunk] = []
    total = 0
    gen = iter_video_chunks(path, chunk_frames, start, duration, max_side, info=info)
    try:
        for chunk in gen:
            if max_frames is not None and total + len(chunk) >= max_frames:
                keep = max_frames - total
                parts.append(VideoChunk(chunk.frames[:keep], chunk.timestamps[:keep], chunk.indices[:keep],
                                        chunk.scale))
                break
            parts.append(chunk)
            total += len(chunk)
    finally:
        gen.close()
    if not parts:
        w, h, scale = _output_size(info, max_side)
        return VideoChunk(np.empty((0, h, w, 3), np.uint8), np.empty(0, np.float64), np.empty(0, np.int64), scale)
    if len(parts) == 1:
        return VideoChunk(np.ascontiguousarray(parts[0].frames), parts[0].timestamps.copy(),
                          parts[0].indices.copy(), parts[0].scale)
    return VideoChunk(
        np.concatenate([c.frames for c in parts]),
        np.concatenate([c.timestamps for c in parts]),
        np.concatenate([c.indices for c in parts]),
        parts[0].scale,
    )
