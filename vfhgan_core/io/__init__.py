"""Video and audio in and out, with PyAV (FFmpeg bundled in the wheel).

Everything the project does with media files goes through this package: dataset
preparation, the command line and the app. One module per job:

- :mod:`~vfhgan_core.io.containers`: opening a file, telling what it is, finding its streams;
- :mod:`~vfhgan_core.io.probe`: :func:`probe_video` reads the headers (and decodes one frame)
  and returns a :class:`VideoInfo`;
- :mod:`~vfhgan_core.io.video_reader`: :func:`iter_video_chunks` streams RGB frames in chunks
  of bounded size, :func:`read_video` reads a short segment into memory;
- :mod:`~vfhgan_core.io.audio_reader`: :func:`read_audio` returns the speech track as 16 kHz
  mono float32;
- :mod:`~vfhgan_core.io.video_writer`: :class:`VideoWriter` (and :func:`write_video`) encode
  H.264 + AAC mp4 files with the speech kept aligned to the frames.

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
from vfhgan_core.io.audio_reader import read_audio
from vfhgan_core.io.containers import SUPPORTED_FORMATS, VideoNotFoundError
from vfhgan_core.io.probe import AudioInfo, VideoInfo, probe_video
from vfhgan_core.io.video_reader import VideoChunk, iter_video_chunks, read_video
from vfhgan_core.io.video_writer import VideoWriter, partial_files, write_video

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
