"""Opening a media file: sniffing what it is, the streams inside, and the shared helpers.

:func:`_open_input` turns every way a path can fail to be a video (missing, a folder,
empty, text, an image, damaged) into a clear :mod:`vfhgan_core.errors` exception before
FFmpeg gets a chance to say something cryptic; :func:`_video_stream` finds the picture
track. The small stream helpers here (frame rate, rotation, durations, container name)
and the argument check of a ``[start, start + duration)`` segment are shared by
:mod:`~vfhgan_core.io.probe`, :mod:`~vfhgan_core.io.video_reader` and
:mod:`~vfhgan_core.io.audio_reader`.
"""
from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import av.error

from ..errors import CorruptVideoError, EmptyVideoError, MediaError, NotAVideoError

__all__ = ["SUPPORTED_FORMATS", "VideoNotFoundError"]

#: File types the project is tested with. Anything FFmpeg can demux that holds a
#: video stream is accepted; this list is what error messages advertise.
SUPPORTED_FORMATS: tuple[str, ...] = ("mp4", "mov", "m4v", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "flv", "wmv")

_SUPPORTED_TEXT = ", ".join(SUPPORTED_FORMATS)

#: FFmpeg demuxers that open single images or text, not videos.
_NON_VIDEO_DEMUXERS = {"image2", "tty", "apng"}


class VideoNotFoundError(MediaError, FileNotFoundError):
    """The path does not exist (a :class:`FileNotFoundError` and a :class:`MediaError`)."""

    reason = "not_found"


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


# ----------------------------------------------------------------------------- arguments


def _check_segment(start: float, duration: float | None) -> None:
    if not (isinstance(start, (int, float)) and math.isfinite(start) and start >= 0):
        raise ValueError(f"start must be a number of seconds >= 0, got {start!r}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a number of seconds > 0 (or None for 'to the end'), got {duration!r}")
