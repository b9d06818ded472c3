"""Encoding video files: :class:`VideoWriter` and :func:`write_video` (H.264 + AAC, atomic).

Frames are encoded with libx264 (BT.601, limited range, tagged so) and the optional speech
track with AAC, cut or padded to the length of the frames so the two stay aligned. The
writer encodes into a hidden temporary file beside the destination and renames it over
the destination only when the file is complete; :func:`partial_files` finds the
temporaries that a killed process left behind.
"""
from __future__ import annotations

import glob
import math
import os
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np

from .video_reader import VideoChunk

__all__ = ["VideoWriter", "partial_files", "write_video"]

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
      ``i / audio_rate`` seconds (the convention of :func:`~vfhgan_core.io.audio_reader.read_audio`).
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
