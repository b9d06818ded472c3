"""Decoding the speech track: :func:`read_audio`, mono float32 at 16 kHz, aligned to the video.

Time 0 of the result is the first video frame (the origin of the frame timestamps of
:mod:`~vfhgan_core.io.video_reader`): audio that starts later is preceded by zeros, audio
that starts earlier is cut, and gaps inside the stream are filled with silence, so sample
``round(t * sample_rate)`` is heard when the frame at time ``t`` is shown.
"""
from __future__ import annotations

import logging
import os
from typing import Literal

import av
import av.error
import numpy as np

from ..errors import NoAudioStreamError
from .containers import _audio_duration, _check_segment, _open_input
from .probe import VideoInfo, probe_video

__all__ = ["read_audio"]

logger = logging.getLogger(__name__)

#: Audio frame times that disagree with the running sample count by more than this
#: many seconds mark a real gap (filled with zeros) or overlap in the audio stream.
_AUDIO_RESYNC_S = 0.03


# ----------------------------------------------------------------------------- reading audio


def read_audio(
    path: str | os.PathLike,
    sample_rate: int = 16000,
    start: float = 0.0,
    duration: float | None = None,
    on_missing: Literal["error", "silence"] = "error",
    fit: Literal["video", "stream"] = "video",
    *,
    info: VideoInfo | None = None,
) -> np.ndarray:
    """Decode the speech track as mono float32 at ``sample_rate``, aligned to the video.

    Sample ``i`` of the result is heard at time ``start + i / sample_rate`` seconds, where
    time 0 is the first video frame (the origin of :class:`~vfhgan_core.io.video_reader.VideoChunk` timestamps). When
    the audio stream starts after the first frame, zeros fill the gap; when it starts
    before, the earlier samples are cut. Decoding resamples with FFmpeg's resampler
    (channels are mixed down to mono).

    Args:
        path: a video file (or an audio-only file: then time 0 is its first sample).
        sample_rate: output rate in Hz.
        start: seconds from the first video frame where the result begins.
        duration: seconds to return (zeros pad the end if the stream is shorter).
        on_missing: what to do when the file has no audio stream: ``"error"`` raises
            :class:`NoAudioStreamError`; ``"silence"`` logs a warning and returns zeros
            covering the requested segment of the video.
        fit: without ``duration``: ``"video"`` returns exactly the video's length from
            ``start`` (``round((video_duration - start) * sample_rate)`` samples, cut or
            zero-padded at the end); ``"stream"`` returns the samples the stream has.
        info: the :func:`probe_video` result, when the caller already has it.

    Returns:
        float32 array (N,), values in [-1, 1].
    """
    if on_missing not in ("error", "silence"):
        raise ValueError(f"on_missing must be 'error' or 'silence', got {on_missing!r}")
    if fit not in ("video", "stream"):
        raise ValueError(f"fit must be 'video' or 'stream', got {fit!r}")
    if not isinstance(sample_rate, int) or sample_rate < 1000:
        raise ValueError(f"sample_rate must be an integer number of Hz >= 1000, got {sample_rate!r}")
    _check_segment(start, duration)

    container, p, sniffed = _open_input(path)
    with container:
        has_video = any(not s.disposition & av.stream.Disposition.attached_pic for s in container.streams.video)
        if has_video or not container.streams.audio:
            info = info if info is not None else probe_video(p)  # validates the video, gives the origin
            origin = info.start_time
            total = info.duration
        else:
            a = container.streams.audio[0]
            origin = float((a.start_time or 0) * a.time_base)
            total = _audio_duration(container, a)

        first_sample = int(round(start * sample_rate))
        if duration is not None:
            end_sample: int | None = first_sample + int(round(duration * sample_rate))
        elif fit == "video":
            end_sample = max(first_sample, int(round(total * sample_rate)))
        else:
            end_sample = None

        if not container.streams.audio:
            if on_missing == "error":
                raise NoAudioStreamError(
                    f"'{p}' has no audio stream, so there is no speech to guide the restoration. Use the "
                    "clip with its sound track, or accept silent input explicitly (on_missing='silence')."
                )
            logger.warning("%s has no audio stream: using silence", p)
            if end_sample is None:
                end_sample = max(first_sample, int(round(total * sample_rate)))
            return np.zeros(end_sample - first_sample, dtype=np.float32)

        stream = container.streams.audio[0]
        tb = stream.time_base
        if start > 1.0:
            try:
                container.seek(int((origin + start - 0.5) / tb), stream=stream, backward=True)
            except av.error.FFmpegError:
                container.seek(0)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        origin_sample = origin * sample_rate
        pieces: list[tuple[int, np.ndarray]] = []
        next_pos: int | None = None

        # Samples are laid end to end from the first frame's time. Frame times only move
        # the position when they disagree by more than _AUDIO_RESYNC_S (a real gap or
        # overlap): containers with millisecond clocks (Matroska) round every frame's time,
        # and following those rounded times would tear the waveform.
        resync = int(_AUDIO_RESYNC_S * sample_rate)

        def place(frames: list[av.AudioFrame]) -> None:
            nonlocal next_pos
            for out in frames:
                data = out.to_ndarray().reshape(-1)
                pos = next_pos
                if out.pts is not None:
                    stamped = int(round(float(out.pts * out.time_base) * sample_rate - origin_sample)) - first_sample
                    if pos is None or abs(stamped - pos) > resync:
                        pos = stamped
                elif pos is None:
                    pos = -first_sample
                pieces.append((pos, data))
                next_pos = pos + data.size

        bad = 0
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                bad += 1
                continue
            for frame in decoded:
                place(resampler.resample(frame))
            if end_sample is not None and next_pos is not None and next_pos >= end_sample - first_sample + sample_rate:
                break
        place(resampler.resample(None))
        if bad:
            logger.warning("%s: %d damaged audio packet(s) skipped", p, bad)

    if end_sample is not None:
        n = end_sample - first_sample
    else:
        n = max([pos + data.size for pos, data in pieces], default=0)
    out = np.zeros(max(n, 0), dtype=np.float32)
    for pos, data in pieces:
        lo, hi = max(pos, 0), min(pos + data.size, n)
        if hi > lo:
            out[lo:hi] = data[lo - pos: hi - pos]
    np.clip(out, -1.0, 1.0, out=out)
    return out
