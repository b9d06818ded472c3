"""Make test videos from the real clips, with PyAV, in a temporary folder.

Other test files may import these helpers (``from media_fixtures import transcode``;
``tests/`` is on ``sys.path``: ``pythonpath`` in pyproject.toml).
Nothing here is written into the repository: every function takes the output
path, and the tests pass paths under pytest's ``tmp_path``.

The helpers re-encode real frames and real speech; only the container, codecs,
frame timing, size and display rotation change. Encoders are chosen for speed
(``ultrafast`` x264, realtime VP8) because the machine has 2 cores.

The end of the file holds what the ``tests/io/`` files share: ``best_lag`` and the
fixtures ``grid`` (a GRID clip), ``grid_frames``, ``grid_speech`` and ``made`` (its re-encodings
in other containers and frame rates), which ``tests/conftest.py`` registers for every test file.
"""
from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import cv2
import numpy as np
import pytest

#: (video codec, audio codec, audio sample rate or None to keep the source rate) per extension
CODECS: dict[str, tuple[str, str, int | None]] = {
    ".mp4": ("libx264", "aac", None),
    ".mov": ("libx264", "aac", None),
    ".mkv": ("libx264", "flac", None),
    ".webm": ("libvpx", "libopus", 48000),
    ".avi": ("mpeg4", "pcm_s16le", None),
    ".mpg": ("mpeg1video", "mp2", None),
}


def decode_rgb(path: str | Path, seconds: float | None = None) -> tuple[list[np.ndarray], float]:
    """Decode the first ``seconds`` of video of ``path`` as RGB uint8 (H, W, 3) frames.

    Returns the frames (as stored, no rotation applied) and the stream's average fps.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        frames = []
        for frame in container.decode(stream):
            if seconds is not None and len(frames) >= round(seconds * fps):
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    return frames, fps


def read_frames(path: str | Path, count: int = 1, step: int = 1) -> np.ndarray:
    """The first ``count`` frames (every ``step``-th) as uint8 RGB (N, H, W, 3), decoded with PyAV."""
    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % step == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return np.stack(frames)


def decode_audio(path: str | Path, rate: int = 16000) -> np.ndarray:
    """Decode all audio of ``path`` straight from the stream: float32 mono (N,) at ``rate`` Hz.

    Independent of :mod:`vfhgan_core.io` (no alignment to the video), so tests can
    compare the library's output with it.
    """
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


def transcode(src: str | Path, dst: str | Path, *, seconds: float | None = None,
              fps: Fraction | float | None = None, timestamps: Sequence[float] | None = None,
              size: tuple[int, int] | None = None, rotate_cw: int = 0, audio: bool = True,
              faststart: bool = False, audio_offset: float = 0.0, vcodec: str | None = None,
              acodec: str | None = None) -> Path:
    """Re-encode the real clip ``src`` into ``dst`` (container chosen by ``dst``'s extension).

    Args:
        seconds: keep only the first ``seconds`` of the source (video and audio).
        fps: relabel the frames with this rate (e.g. ``Fraction(2213, 100)``); the frames
            are not dropped or duplicated, so the clip gets longer or shorter.
        timestamps: explicit presentation time in seconds of each frame (variable frame
            rate); frames beyond ``len(timestamps)`` are dropped.
        size: (width, height) of the stored frames (bilinear resize).
        rotate_cw: store the frames rotated by ``rotate_cw`` degrees counter-clockwise
            and write a display matrix telling players to rotate them ``rotate_cw``
            degrees clockwise, like a phone camera does. A correct reader shows the
            original upright frames.
        audio: copy the source's speech (re-encoded) when True and the source has audio.
        faststart: put the mp4 index at the start of the file (``movflags=+faststart``).
        audio_offset: seconds by which the audio track starts after the first video frame
            (> 0), or the video starts after the audio (< 0; rounded to whole frames).

    Returns ``dst`` as a Path.
    """
    dst = Path(dst)
    default_v, default_a, a_rate = CODECS[dst.suffix.lower()]
    vcodec = vcodec or default_v
    acodec = acodec or default_a
    frames, src_fps = decode_rgb(src, seconds)
    if timestamps is not None:
        frames = frames[: len(timestamps)]
    if size is not None:
        frames = [_resize(f, size) for f in frames]
    k = (rotate_cw // 90) % 4
    frames = [np.ascontiguousarray(np.rot90(f, k)) for f in frames]
    height, width = frames[0].shape[:2]

    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(dst), "w", options=options) as out:
        if timestamps is not None:
            tb = Fraction(1, 1000)
            vs = out.add_stream(vcodec, rate=round(len(timestamps) / max(timestamps[-1], 1e-3)))
        else:
            rate = Fraction(fps if fps is not None else src_fps).limit_denominator(1001)
            vs = out.add_stream(vcodec, rate=rate)
            tb = 1 / rate
        vs.width, vs.height = width, height
        vs.pix_fmt = "yuv420p"
        vs.time_base = tb
        vs.codec_context.time_base = tb
        if vcodec == "libx264":
            vs.options = {"preset": "ultrafast", "crf": "18"}
        elif vcodec == "libvpx":
            vs.options = {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "2M"}
        elif vcodec in ("mpeg4", "mpeg1video"):
            vs.codec_context.qscale = 3  # constant quality, fine enough for pixel comparisons
        if rotate_cw:
            vs.set_display_rotation(-rotate_cw)  # PyAV: counter-clockwise degrees

        a_stream = None
        with av.open(str(src)) as probe:
            has_audio = bool(probe.streams.audio)
        if audio and has_audio:
            with av.open(str(src)) as probe:
                src_rate = probe.streams.audio[0].rate
            a_stream = out.add_stream(acodec, rate=a_rate or src_rate, layout="mono")
            if acodec == "mp2" and a_stream.rate not in (44100, 48000, 32000):
                a_stream.rate = 44100

        shift = int(round(-audio_offset / tb)) if audio_offset < 0 else 0
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if timestamps is not None:
                vf.pts = shift + int(round(timestamps[i] * 1000))
            else:
                vf.pts = shift + i
            vf.time_base = tb
            for packet in vs.encode(vf):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)

        if a_stream is not None:
            _copy_audio(src, out, a_stream, seconds, max(audio_offset, 0.0))
    return dst


def _copy_audio(src: str | Path, out, a_stream, seconds: float | None, delay: float) -> None:
    """Decode ``src``'s audio, resample it to ``a_stream``'s format and encode it into ``out``,
    starting ``delay`` seconds into the file."""
    resampler = av.AudioResampler(format=a_stream.codec_context.codec.audio_formats[0].name,
                                  layout="mono",
                                  rate=a_stream.rate, frame_size=a_stream.codec_context.frame_size or None)
    limit = None if seconds is None else int(round(seconds * a_stream.rate))
    written = 0
    start = int(round(delay * a_stream.rate))
    with av.open(str(src)) as inp:
        for frame in inp.decode(audio=0):
            if limit is not None and written >= limit:
                break
            frame.pts = None
            for rf in resampler.resample(frame):
                rf.pts = start + written
                written += rf.samples
                for packet in a_stream.encode(rf):
                    out.mux(packet)
    for rf in resampler.resample(None):
        rf.pts = start + written
        written += rf.samples
        for packet in a_stream.encode(rf):
            out.mux(packet)
    for packet in a_stream.encode():
        out.mux(packet)


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an RGB uint8 frame to (width, height)."""
    return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


def truncate_copy(src: str | Path, dst: str | Path, fraction: float) -> Path:
    """Write the first ``fraction`` of ``src``'s bytes to ``dst`` (a download cut short)."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def zero_frame_mkv(dst: str | Path, width: int = 64, height: int = 64) -> Path:
    """Write a valid Matroska file with an H.264 video track holding no frame (and 64 ms of silence)."""
    dst = Path(dst)
    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        a_stream = out.add_stream("aac", rate=16000, layout="mono")
        out.start_encoding()
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        silence.sample_rate, silence.pts = 16000, 0
        for packet in [*vs.encode(), *a_stream.encode(silence), *a_stream.encode()]:
            out.mux(packet)
    return dst


def streamless_mp4(dst: str | Path) -> Path:
    """Write an mp4 container with no stream at all (what an encoder that got no frame leaves)."""
    dst = Path(dst)
    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()
        for packet in vs.encode():
            out.mux(packet)
    return dst


def copy_to(src: str | Path, dst: str | Path) -> Path:
    """Copy a real clip to ``dst`` (e.g. a path with spaces and non-ASCII letters)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


# ----------------------------------------------------------------------------- the io tests' clips
# Shared by tests/io/; tests/conftest.py registers these fixtures (module-scoped: each
# test file gets its own copies).

#: sample rate (Hz) the io tests read speech at
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
    """The 75 frames of the GRID clip, decoded independently of vfhgan_core.io."""
    frames, _ = decode_rgb(grid)
    return np.stack(frames)


@pytest.fixture(scope="module")
def grid_speech(grid: Path) -> np.ndarray:
    """The GRID clip's speech at 16 kHz, decoded independently of vfhgan_core.io."""
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


# ----------------------------------------------------------------------------- a fixed face and mouth of speaker s1
# Shared by tests/faces/test_mouths.py and tests/losses/test_lipreading.py (registered in conftest.py).

#: square face region of speaker s1 in the 360x288 GRID frames (x1, y1, x2, y2), 160 px
S1_FACE = (75, 95, 235, 255)
#: hand-given mouth box in the 128x128 face crop of S1_FACE (x1, y1, x2, y2)
S1_MOUTH_BOX = (44, 72, 92, 120)


@pytest.fixture(scope="module")
def s1_face_crops(grid_clip: Path) -> tuple[np.ndarray, np.ndarray]:
    """First 10 frames of a GRID s1 clip: the original RGB frames and their 128x128 crops of S1_FACE."""
    originals, crops = [], []
    x1, y1, x2, y2 = S1_FACE
    with av.open(str(grid_clip)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            originals.append(rgb)
            crops.append(cv2.resize(rgb[y1:y2, x1:x2], (128, 128), interpolation=cv2.INTER_AREA))
            if len(crops) == 10:
                break
    return np.stack(originals), np.stack(crops)


def crops_to_tensor(crops: np.ndarray):
    """(N, 128, 128, 3) uint8 -> (N, 3, 128, 128) float in [0, 1]."""
    import torch

    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
