"""Video and audio in and out, with PyAV (FFmpeg bundled in the wheel).

Everything the project does with media files goes through this module: dataset
preparation, the command line and the app.

Reading
    :func:`probe_video` reads the headers (and decodes one frame) and returns a
    :class:`VideoInfo`; :func:`iter_video_chunks` streams RGB frames in chunks of
    bounded size; :func:`read_video` reads a short segment into memory;
    :func:`read_audio` returns the speech track as 16 kHz mono float32.

Writing
    :class:`VideoWriter` (and :func:`write_video`) encode H.264 + AAC mp4 files
    with the speech kept aligned to the frames.

Conventions
    * Frames are ``uint8`` RGB arrays of shape ``(H, W, 3)``, already rotated
      upright (the container's display matrix is applied).
    * Time is in seconds, and time 0 is the presentation time of the *first video
      frame* of the file. Frame timestamps and audio samples share this origin,
      so audio sample ``round(t * sample_rate)`` is heard when the frame at time
      ``t`` is shown.
    * Problems with the user's file raise the classes of :mod:`vfhgan_core.errors`
      (:class:`NotAVideoError`, :class:`CorruptVideoError`, :class:`EmptyVideoError`,
      :class:`NoAudioStreamError`) or :class:`VideoNotFoundError`, with a message
      that says what is wrong and what to do.
"""
from __future__ import annotations

import glob
import logging
import math
import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Literal

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from .errors import (
    CorruptVideoError,
    EmptyVideoError,
    MediaError,
    NoAudioStreamError,
    NotAVideoError,
)

__all__ = [
    "SUPPORTED_FORMATS",
    "AudioInfo",
    "VideoInfo",
    "VideoChunk",
    "VideoNotFoundError",
    "probe_video",
    "iter_video_chunks",
    "read_video",
    "read_audio",
    "VideoWriter",
    "partial_files",
    "write_video",
]

logger = logging.getLogger(__name__)

#: File types the project is tested with. Anything FFmpeg can demux that holds a
#: video stream is accepted; this list is what error messages advertise.
SUPPORTED_FORMATS: tuple[str, ...] = ("mp4", "mov", "m4v", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "flv", "wmv")

_SUPPORTED_TEXT = ", ".join(SUPPORTED_FORMATS)

#: FFmpeg demuxers that open single images or text, not videos.
_NON_VIDEO_DEMUXERS = {"image2", "tty", "apng"}

#: How many video packets :func:`probe_video` reads (without decoding most of
#: them) to judge whether the frame rate is constant, when the container has no
#: complete index.
_VFR_SAMPLE_PACKETS = 240

#: Audio frame times that disagree with the running sample count by more than this
#: many seconds mark a real gap (filled with zeros) or overlap in the audio stream.
_AUDIO_RESYNC_S = 0.03

#: How many packets may fail to decode before the first frame before the file is
#: declared corrupt.
_MAX_PACKETS_BEFORE_FIRST_FRAME = 300


class VideoNotFoundError(MediaError, FileNotFoundError):
    """The path does not exist (a :class:`FileNotFoundError` and a :class:`MediaError`)."""

    reason = "not_found"


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
            video frame: the origin of every timestamp this module returns.
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


# ----------------------------------------------------------------------------- opening


def _sniff(head: bytes) -> tuple[str, str]:
    """Guess what a file is from its first bytes.

    Returns ``(kind, description)`` where kind is ``"video"`` (a video container),
    ``"audio"``, ``"image"``, ``"text"``, ``"other"`` or ``"unknown"``.
    """
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        brand = head[8:12]
        if head[4:8] == b"ftyp" and brand in (b"M4A ", b"M4B "):
            return "audio", "an AAC audio file (m4a)"
        if head[4:8] == b"ftyp" and brand in (b"avif", b"heic", b"heix", b"mif1"):
            return "image", "an AVIF/HEIF image"
        return "video", "an MP4/MOV file"
    if head.startswith(b"YUV4MPEG2"):
        return "video", "a raw YUV4MPEG video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "a Matroska/WebM file"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video", "an AVI file"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio", "a WAV audio file"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image", "a WebP image"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "video", "an MPEG program stream (mpg)"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video", "an MPEG transport stream (ts)"
    if head.startswith(b"FLV"):
        return "video", "an FLV file"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video", "an ASF/WMV file"
    if head.startswith(b"OggS"):
        return "video", "an Ogg file"
    if head.startswith(b"\x89PNG"):
        return "image", "a PNG image"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "a JPEG image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image", "a GIF image"
    if head.startswith(b"BM"):
        return "image", "a BMP image"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image", "a TIFF image"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio", "an MP3 audio file"
    if head.startswith(b"fLaC"):
        return "audio", "a FLAC audio file"
    if head.startswith(b"%PDF"):
        return "other", "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "other", "a ZIP archive (or an office document)"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "text", "a text file"
        except UnicodeDecodeError as exc:
            if exc.start > len(head) - 4:  # a multi-byte letter cut by the 4 kB window
                return "text", "a text file"
    return "unknown", "a file of unknown format"


def _not_a_video(path: Path, what: str) -> NotAVideoError:
    return NotAVideoError(
        f"'{path}' is not a video: it looks like {what}. Give a video file with a picture "
        f"track; supported formats: {_SUPPORTED_TEXT} (and most others FFmpeg reads)."
    )


def _open_input(path: str | os.PathLike) -> tuple[av.container.InputContainer, Path, tuple[str, str]]:
    """Open ``path`` for reading, turning every failure into a clear :class:`MediaError`."""
    p = Path(path)
    if not p.exists():
        raise VideoNotFoundError(f"No such file: '{p}'. Check the path (and the current folder: {Path.cwd()}).")
    if p.is_dir():
        raise NotAVideoError(f"'{p}' is a folder, not a video file. Give the path of one video file.")
    size = p.stat().st_size
    if size == 0:
        raise EmptyVideoError(f"'{p}' is empty (0 bytes): the file was not written or not downloaded completely. "
                              "Export or download it again.")
    with open(p, "rb") as fh:
        sniffed = _sniff(fh.read(4096))
    kind, what = sniffed
    if kind in ("text", "image", "other"):
        raise _not_a_video(p, what)
    try:
        container = av.open(str(p), metadata_errors="replace")
    except FileNotFoundError as exc:  # av.error.FileNotFoundError is a FileNotFoundError
        raise VideoNotFoundError(f"No such file: '{p}' ({exc}).") from exc
    except PermissionError as exc:
        raise MediaError(f"Cannot read '{p}': permission denied. Check the file's permissions.") from exc
    except av.error.FFmpegError as exc:
        if kind == "video":
            raise CorruptVideoError(
                f"'{p}' looks like {what} but FFmpeg cannot read it ({exc.strerror or exc}): the file is "
                "damaged or was cut short (an interrupted download or copy). Download or export it again."
            ) from exc
        raise _not_a_video(p, what) from exc
    if container.format.name in _NON_VIDEO_DEMUXERS or container.format.name.endswith("_pipe"):
        container.close()
        raise _not_a_video(p, "a text file" if container.format.name == "tty" else "an image")
    return container, p, sniffed


def _video_stream(container: av.container.InputContainer, path: Path, sniffed: tuple[str, str]):
    """The first real video stream (not an attached cover picture), or a clear error."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if container.streams.audio:
        audio = container.streams.audio[0]
        seconds = _audio_duration(container, audio)
        fmt = container.format.name.split(",")[0]
        raise NotAVideoError(
            f"'{path}' is not a video: it is an audio-only file ({fmt}, {audio.codec_context.name}, "
            f"{seconds:.1f} s) with no picture track. Give a video of a talking face; supported formats: "
            f"{_SUPPORTED_TEXT}."
        )
    if not container.streams:
        raise EmptyVideoError(f"'{path}' holds no video or audio stream: the recording is empty. "
                              "Export or record it again.")
    raise _not_a_video(path, f"{sniffed[1]} without a video stream")


def _container_name(container: av.container.InputContainer, path: Path) -> str:
    """Short container name: the file's extension when FFmpeg's demuxer covers it."""
    names = container.format.name.split(",")
    ext = path.suffix.lower().lstrip(".")
    if ext in names:
        return ext
    if ("mp4" in names and ext in ("m4v", "3gp")) or ("matroska" in names and ext == "mkv"):
        return ext
    return names[0]


def _audio_duration(container: av.container.InputContainer, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = _duration_tag(stream)
    if tag is not None:
        return tag
    return container.duration / av.time_base if container.duration else 0.0


def _duration_tag(stream) -> float | None:
    """Matroska writes a per-track ``DURATION`` tag (``HH:MM:SS.nnnnnnnnn``)."""
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if not tag:
        return None
    try:
        h, m, s = tag.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return None


def _fps_of(stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return Fraction(25)


def _rotation_cw(frame: av.VideoFrame) -> int:
    """Clockwise degrees that show ``frame`` upright (PyAV reports counter-clockwise)."""
    ccw = frame.rotation or 0
    return (-int(round(ccw / 90.0)) * 90) % 360


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


# ----------------------------------------------------------------------------- reading frames


@dataclass
class VideoChunk:
    """Consecutive decoded frames of one video.

    Attributes:
        frames: uint8 array (N, H, W, 3), RGB, upright (rotation applied), C-contiguous.
        timestamps: float64 array (N,), presentation time of each frame in seconds;
            0 is the first video frame of the file (the origin shared with :func:`read_audio`).
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


def _check_segment(start: float, duration: float | None) -> None:
    if not (isinstance(start, (int, float)) and math.isfinite(start) and start >= 0):
        raise ValueError(f"start must be a number of seconds >= 0, got {start!r}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a number of seconds > 0 (or None for 'to the end'), got {duration!r}")


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
    time 0 is the first video frame (the origin of :class:`VideoChunk` timestamps). When
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


# ----------------------------------------------------------------------------- writing

_WRITER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def _as_fps(fps: float | Fraction) -> Fraction:
    """Exact rate for the encoder: 29.97002997 becomes 30000/1001, 22.13 becomes 2213/100."""
    if not (isinstance(fps, (int, float, Fraction)) and math.isfinite(float(fps)) and fps > 0):
        raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
    return Fraction(fps).limit_denominator(1001)


def _as_audio(audio: np.ndarray) -> np.ndarray:
    """Float32 (channels, N) in [-1, 1] from (N,), (N, C) or (C, N) float or int16 input (C = 1 or 2)."""
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[None, :]
    elif a.ndim == 2 and a.shape[1] in (1, 2):
        a = a.T  # (N, C) -> (C, N)
    elif not (a.ndim == 2 and a.shape[0] in (1, 2)):
        raise ValueError(f"audio must be (N,) mono or (N, 2) stereo samples, got shape {a.shape}")
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768.0
    elif not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"audio must be float in [-1, 1] or int16, got dtype {a.dtype}")
    return np.ascontiguousarray(np.clip(a, -1.0, 1.0), dtype=np.float32)


#: infix of the hidden file a :class:`VideoWriter` encodes into before renaming it over its path
_PARTIAL = ".part"


def partial_files(path: str | Path) -> list[Path]:
    """Hidden temporary files that :class:`VideoWriter` runs for ``path`` left behind (a killed process's)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.stem)}.*{_PARTIAL}{path.suffix.lower()}"))


class VideoWriter:
    """Encode RGB frames (and an optional speech track) into an H.264 + AAC video file.

    Use as a context manager::

        with VideoWriter("out.mp4", fps=info.fps, audio=read_audio(src)) as writer:
            for chunk in iter_video_chunks(src):
                writer.write(process(chunk.frames))

    * Video: libx264, yuv420p by default or yuv444p (``pix_fmt``; full-resolution colour, for
      small crops kept as data), BT.601 matrix, limited range, tagged as such, ``crf`` and
      ``preset`` as in x264. The frame size is fixed by the first frame. yuv420p needs even
      sizes: an odd width or height is padded by one pixel on the right or bottom, copying
      the last column or row (see :attr:`size`), so no input pixel is lost.
    * Audio: AAC (FFmpeg's native encoder), encoded as frames arrive so the file stays
      interleaved; on :meth:`close` it is cut or zero-padded to exactly the length of the
      frames written (``n_frames / fps`` seconds). Sample ``i`` plays with the frame at
      ``i / audio_rate`` seconds (the convention of :func:`read_audio`).
    * Safety: frames go to a hidden temporary file in the destination folder, which is
      renamed over ``path`` by :meth:`close`; on an exception inside the ``with`` block (or
      :meth:`abort`) the temporary file is removed and ``path`` is left untouched.

    Args:
        path: destination, ``.mp4`` (default choice), ``.m4v``, ``.mov`` or ``.mkv``.
        fps: frame rate (frames per second); pass the source's rate to keep its timing.
        audio: float (N,) or (N, 2) samples in [-1, 1] (or int16) at ``audio_rate``, or None.
        audio_rate: sample rate of ``audio`` in Hz.
        crf: x264 constant rate factor (0 lossless ... 51 worst; 18 is visually lossless).
        preset: x264 speed preset ("ultrafast" ... "veryslow").
        audio_bitrate: AAC bit rate in bits per second.
        pix_fmt: ``"yuv420p"`` (plays everywhere) or ``"yuv444p"`` (keeps the colour detail).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | Fraction,
        audio: np.ndarray | None = None,
        audio_rate: int = 16000,
        crf: int = 18,
        preset: str = "medium",
        audio_bitrate: int = 128000,
        pix_fmt: str = "yuv420p",
    ) -> None:
        self.path = Path(path)
        if pix_fmt not in ("yuv420p", "yuv444p"):
            raise ValueError(f"pix_fmt must be 'yuv420p' or 'yuv444p', got {pix_fmt!r}")
        self.pix_fmt = pix_fmt
        suffix = self.path.suffix.lower()
        if suffix not in _WRITER_FORMATS:
            raise ValueError(f"VideoWriter writes {', '.join(_WRITER_FORMATS)} files, not '{self.path.name}'")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"Output folder does not exist: '{self.path.parent}'")
        self.fps = _as_fps(fps)
        self.audio = None if audio is None else _as_audio(audio)
        if not isinstance(audio_rate, int) or audio_rate < 1000:
            raise ValueError(f"audio_rate must be an integer number of Hz >= 1000, got {audio_rate!r}")
        self.audio_rate = audio_rate
        self.crf = int(crf)
        self.preset = preset
        self.audio_bitrate = int(audio_bitrate)
        self._format = _WRITER_FORMATS[suffix]
        self._tmp = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}{_PARTIAL}{suffix}")
        self._container = None
        self._vstream = None
        self._astream = None
        self._input_size: tuple[int, int] | None = None  # (width, height) of the frames given
        self.size: tuple[int, int] | None = None  #: (width, height) encoded, even
        self.frames_written = 0
        self._samples_written = 0
        self._closed = False

    # -- context manager
    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- set-up on the first frame
    def _open(self, width: int, height: int) -> None:
        self._input_size = (width, height)
        self.size = (width + width % 2, height + height % 2)
        options = {"movflags": "+faststart"} if self._format in ("mp4", "mov") else {}
        self._container = av.open(str(self._tmp), "w", format=self._format, options=options)
        vs = self._container.add_stream("libx264", rate=self.fps)
        vs.width, vs.height = self.size
        vs.pix_fmt = self.pix_fmt
        vs.time_base = 1 / self.fps
        vs.codec_context.time_base = 1 / self.fps
        vs.options = {"crf": str(self.crf), "preset": self.preset}
        cc = vs.codec_context
        cc.colorspace = 6  # AVCOL_SPC_SMPTE170M (BT.601), the matrix swscale uses below
        cc.color_primaries = 6  # AVCOL_PRI_SMPTE170M
        cc.color_trc = 6  # AVCOL_TRC_SMPTE170M
        cc.color_range = 1  # AVCOL_RANGE_MPEG (limited)
        self._vstream = vs
        if self.audio is not None:
            layout = "mono" if self.audio.shape[0] == 1 else "stereo"
            a = self._container.add_stream("aac", rate=self.audio_rate, layout=layout)
            a.bit_rate = self.audio_bitrate
            a.time_base = Fraction(1, self.audio_rate)
            self._astream = a

    # -- frames
    def write(self, frames: np.ndarray) -> None:
        """Encode one frame (H, W, 3) or a batch (N, H, W, 3) of uint8 RGB frames."""
        if self._closed:
            raise RuntimeError("VideoWriter is closed")
        arr = np.asarray(frames)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise ValueError(f"frames must be (H, W, 3) or (N, H, W, 3) RGB, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (0..255), got {arr.dtype}; convert with "
                             "np.clip(x, 0, 255).astype(np.uint8)")
        if arr.shape[0] == 0:
            return
        h, w = arr.shape[1:3]
        if self._container is None:
            if w < 2 or h < 2:
                raise ValueError(f"frames must be at least 2x2 pixels, got {w}x{h}")
            self._open(w, h)
        elif (w, h) != self._input_size:
            raise ValueError(f"all frames must have the size of the first one ({self._input_size[0]}x"
                             f"{self._input_size[1]}), got {w}x{h}")
        pad_w, pad_h = self.size[0] - w, self.size[1] - h
        for rgb in arr:
            if pad_w or pad_h:
                rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(format=self.pix_fmt, dst_colorspace="ITU601", dst_color_range="MPEG")
            frame.pts = self.frames_written
            frame.time_base = self._vstream.codec_context.time_base
            for packet in self._vstream.encode(frame):
                self._container.mux(packet)
            self.frames_written += 1
        self._write_audio(int(self.frames_written * self.audio_rate / self.fps))

    def _write_audio(self, until: int, final: bool = False) -> None:
        """Encode audio samples up to sample ``until`` (zeros past the end of the given audio)."""
        if self._astream is None:
            return
        frame_size = self._astream.codec_context.frame_size or 1024
        channels = self.audio.shape[0]
        layout = "mono" if channels == 1 else "stereo"
        while self._samples_written < until:
            n = min(frame_size, until - self._samples_written)
            if n < frame_size and not final:
                break  # keep partial frames for later (only the very last frame may be short)
            lo = self._samples_written
            block = np.zeros((channels, n), dtype=np.float32)
            have = self.audio[:, lo: lo + n]
            block[:, : have.shape[1]] = have
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = self.audio_rate
            frame.pts = lo
            frame.time_base = Fraction(1, self.audio_rate)
            for packet in self._astream.encode(frame):
                self._container.mux(packet)
            self._samples_written += n

    def close(self) -> Path:
        """Finish the file and move it to ``path``; returns ``path``.

        Raises ValueError when no frame was written (nothing is created then).
        """
        if self._closed:
            return self.path
        if self._container is None:
            self._closed = True
            raise ValueError(f"no frames were written to '{self.path}'; nothing to save")
        try:
            for packet in self._vstream.encode():
                self._container.mux(packet)
            if self._astream is not None:
                total = int(round(self.frames_written * self.audio_rate / self.fps))
                self._write_audio(total, final=True)
                for packet in self._astream.encode():
                    self._container.mux(packet)
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the temporary file; ``path`` is not touched."""
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the file is discarded anyway
                pass
            self._container = None
        try:
            self._tmp.unlink()
        except FileNotFoundError:
            pass


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float | Fraction,
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
    **options,
) -> Path:
    """Write frames (an (N, H, W, 3) uint8 array, or an iterable of frames or batches) to ``path``.

    ``options`` go to :class:`VideoWriter` (``crf``, ``preset``, ``audio_bitrate``). Returns ``path``.
    """
    with VideoWriter(path, fps, audio=audio, audio_rate=audio_rate, **options) as writer:
        if isinstance(frames, np.ndarray):
            writer.write(frames)
        else:
            for item in frames:
                writer.write(item.frames if isinstance(item, VideoChunk) else item)
    return writer.path
