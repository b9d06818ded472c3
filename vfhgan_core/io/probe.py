"""What a video file holds, from its headers and one decoded frame: :func:`probe_video`.

:func:`probe_video` returns a :class:`VideoInfo` (size after rotation, frame rate and
whether it varies, frame count and duration, codecs, the :class:`AudioInfo` of the
speech track, and the time of the first frame, which is the origin of every timestamp
the readers return). It decodes only the first frame; the frame count, duration and
frame-rate constancy come from the container's index or from packets read without
decoding.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import av.error
import numpy as np

from ..errors import CorruptVideoError, EmptyVideoError
from .containers import (
    _audio_duration,
    _container_name,
    _duration_tag,
    _fps_of,
    _open_input,
    _rotation_cw,
    _video_stream,
)

__all__ = ["AudioInfo", "VideoInfo", "probe_video"]

#: How many video packets :func:`probe_video` reads (without decoding most of
#: them) to judge whether the frame rate is constant, when the container has no
#: complete index.
_VFR_SAMPLE_PACKETS = 240

#: How many packets may fail to decode before the first frame before the file is
#: declared corrupt.
_MAX_PACKETS_BEFORE_FIRST_FRAME = 300


# ----------------------------------------------------------------------------- info


@dataclass(frozen=True)
class AudioInfo:
    """The audio stream of a clip, as the container describes it.

    Attributes:
        sample_rate: samples per second of the stored stream (Hz).
        channels: number of channels of the stored stream.
        duration: seconds of audio in the stream.
        codec: FFmpeg decoder name (``"aac"``, ``"mp2"``, ``"opus"``, ...).
    """

    sample_rate: int
    channels: int
    duration: float
    codec: str


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video file.

    Attributes:
        path: the file, as given.
        container: short container name (``"mp4"``, ``"mov"``, ``"mkv"``, ``"webm"``, ``"avi"``,
            ``"mpeg"``, ...).
        codec: FFmpeg decoder name of the video stream (``"h264"``, ``"mpeg1video"``, ``"vp8"``, ...).
        width, height: display size in pixels, after rotation (a portrait phone clip
            stored as 1920x1080 with a 90 degree rotation reports 1080x1920).
        rotation: clockwise rotation in degrees (0, 90, 180 or 270) that the reader
            applies to the stored frames to show them upright.
        fps: average frame rate (frames per second).
        duration: seconds of video, from the first frame's start to the last frame's end.
        frame_count: number of frames; from the container, or ``round(duration * fps)``
            when the container does not store it.
        frame_count_exact: False when ``frame_count`` was estimated.
        variable_frame_rate: True when frame durations differ (judged from the whole
            index in mp4/mov/avi, from the first few hundred packets otherwise).
        audio: the first audio stream, or None when the clip has none.
        start_time: presentation time in seconds, in the container's clock, of the first
            video frame: the origin of every timestamp :mod:`vfhgan_core.io` returns.
    """

    path: str
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    fps: float
    duration: float
    frame_count: int
    frame_count_exact: bool
    variable_frame_rate: bool
    audio: AudioInfo | None
    start_time: float = 0.0

    @property
    def has_audio(self) -> bool:
        """True when the clip has an audio stream."""
        return self.audio is not None


# ----------------------------------------------------------------------------- probe


def _decode_first_frame(container, stream, path: Path, stamps: list[int]) -> tuple[av.VideoFrame, bool]:
    """Demux from the start, decode until the first frame, and record packet times.

    ``stamps`` receives the pts of up to :data:`_VFR_SAMPLE_PACKETS` packets (only the
    packets up to the first frame are decoded; the rest are only read). Returns the first
    frame and whether the whole stream was read (then ``stamps`` has every packet).
    """
    first = None
    n_packets = 0
    n_errors = 0
    last_error: Exception | None = None
    complete = False
    try:
        for packet in container.demux(stream):
            if packet.size:
                n_packets += 1
                if packet.pts is not None:
                    stamps.append(packet.pts)
            if first is None:
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    n_errors += 1
                    last_error = exc
                    frames = []
                if frames:
                    first = frames[0]
                elif n_packets >= _MAX_PACKETS_BEFORE_FIRST_FRAME:
                    break
            if first is not None and len(stamps) >= _VFR_SAMPLE_PACKETS:
                break
        else:
            complete = True
    except av.error.FFmpegError as exc:  # demuxing itself failed
        last_error = exc
    if first is not None:
        return first, complete
    if n_packets == 0 and last_error is None:
        raise EmptyVideoError(f"'{path}' has a video stream with no frames in it. Export or record it again.")
    detail = f" (FFmpeg: {last_error})" if last_error is not None else ""
    raise CorruptVideoError(
        f"'{path}': no frame of the video stream could be decoded ({n_packets} packets read, {n_errors} "
        f"failed){detail}. The file is damaged or was cut short; download or export it again."
    )


def _index_truncation(container, path: Path) -> None:
    """Raise :class:`CorruptVideoError` when the container's index points past the end of the file.

    mp4/mov (and avi) store where every packet lies; a download cut short keeps that
    index (when it sits at the start of the file) but loses the data.
    """
    size = path.stat().st_size
    needed = 0
    for stream in container.streams:
        if stream.type not in ("video", "audio"):
            continue
        entries = stream.index_entries
        # packets lie in file order, so the farthest byte is among the last entries
        for k in range(max(0, len(entries) - 64), len(entries)):
            entry = entries[k]
            needed = max(needed, entry.pos + entry.size)
    if needed > size:
        missing = 100.0 * (needed - size) / needed
        raise CorruptVideoError(
            f"'{path}' is truncated: its index refers to {needed} bytes but the file has only {size} "
            f"({missing:.0f}% of the data is missing). The download or copy was cut short; get the file again."
        )


def _is_vfr(stamps: Iterable[int], time_base: Fraction) -> bool:
    """Whether the sorted timestamps (in ``time_base`` ticks) have unequal spacing.

    One tick of difference is rounding (e.g. 29.97 fps in a millisecond clock gives
    33 and 34 ms) unless a tick is itself a large part of a frame (avi counts frames).
    """
    ts = np.unique(np.asarray(list(stamps), dtype=np.int64))
    if ts.size < 3:
        return False
    steps = np.diff(ts)
    spread = int(steps.max() - steps.min())
    median = float(np.median(steps))
    tolerance = 1 if median >= 10 else 0
    return spread > tolerance


def _tail_end(container, stream, est_end: float, frame_ticks: int) -> int | None:
    """Read (without decoding) the packets of the last seconds; return the end of the last one in ticks.

    ``est_end`` is the estimated end in the container's clock (seconds); ``frame_ticks`` the
    duration of a frame used when packets carry none.
    """
    tb = stream.time_base
    target = int(max(0.0, est_end - 3.0) / tb)
    try:
        container.seek(target, stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError:
        return None
    end = None
    try:
        for packet in container.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            stop = packet.pts + (packet.duration or frame_ticks)
            end = stop if end is None else max(end, stop)
    except av.error.FFmpegError:
        pass
    return end


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Describe a video file from its headers (and one decoded frame).

    Reads the container headers, decodes the first frame (to check that the stream
    decodes and to read its rotation), reads the timestamps of the first few hundred
    packets without decoding them (frame-rate constancy) and, for containers that do
    not store the frame count, the packets of the last seconds (exact duration).

    Raises:
        VideoNotFoundError: the path does not exist.
        NotAVideoError: text, image, audio-only or unknown files; the message says what
            the file seems to be and which formats are supported.
        CorruptVideoError: damaged or truncated file (no frame decodes, or the index
            points past the end of the file).
        EmptyVideoError: 0-byte file, or a video stream without frames.
    """
    container, p, sniffed = _open_input(path)
    with container:
        stream = _video_stream(container, p, sniffed)
        _index_truncation(container, p)
        tb = stream.time_base
        stamps: list[int] = []
        first, all_read = _decode_first_frame(container, stream, p, stamps)
        origin = first.pts if first.pts is not None else (stream.start_time or 0)
        rotation = _rotation_cw(first)
        fps = _fps_of(stream)

        entries = stream.index_entries
        if stream.frames > 0 and len(entries) == stream.frames:
            variable = _is_vfr((e.timestamp for e in entries), tb)
        else:
            variable = _is_vfr(stamps, tb)

        if stream.frames > 0:
            frame_count, exact = int(stream.frames), True
            if stream.duration:
                duration = float((stream.start_time or 0) + stream.duration - origin) * float(tb)
                duration = float(stream.duration * tb) if duration <= 0 else duration
            else:
                duration = frame_count / float(fps)
        else:
            est = _duration_tag(stream)
            if est is None and stream.duration:
                est = float(stream.duration * tb)
            if est is None and container.duration:
                est = container.duration / av.time_base
            frame_ticks = max(1, int(round(1 / (fps * tb))))
            end = _tail_end(container, stream, (est or 0.0) + float(origin * tb), frame_ticks)
            if end is not None and end > origin:
                duration = float((end - origin) * tb)
                if duration < 0.5 / float(fps):
                    duration = est or 0.0
            else:
                duration = est or 0.0
            if all_read and stamps:  # short file: every packet was read, count them
                frame_count = len(stamps)
            else:
                if variable and len(stamps) > 2 and max(stamps) > min(stamps):
                    fps = Fraction(len(stamps) - 1) / ((max(stamps) - min(stamps)) * tb)
                frame_count = max(1, int(math.floor(duration * float(fps) + 0.5)))
            exact = False
            if variable and duration > 0:
                fps = Fraction(frame_count) / Fraction(duration)

        audio = None
        if container.streams.audio:
            a = container.streams.audio[0]
            audio = AudioInfo(
                sample_rate=int(a.rate or a.codec_context.sample_rate or 0),
                channels=int(a.codec_context.channels or 0),
                duration=_audio_duration(container, a),
                codec=a.codec_context.name,
            )

        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=str(path),
            container=_container_name(container, p),
            codec=stream.codec_context.name,
            width=int(width),
            height=int(height),
            rotation=rotation,
            fps=float(fps),
            duration=float(duration),
            frame_count=frame_count,
            frame_count_exact=exact,
            variable_frame_rate=bool(variable),
            audio=audio,
            start_time=float(origin * tb),
        )
