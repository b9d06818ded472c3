"""From a video file to aligned face crops and speech features.

The clip pipeline shared by dataset preparation, ``probe`` and (later)
restoration. It reads the video twice, chunk by chunk, so memory stays bounded
by one chunk of full frames however long the clip is:

1. decode → detect faces → one smoothed :class:`~vfhgan_core.faces.tracking.FaceTrack`;
2. decode again → crop every frame with the track's crop matrices.

The audio is decoded once at 16 kHz and turned into one log-mel window per
frame, indexed by the frames' timestamps.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from vfhgan_core.audio import AudioConfig, log_mel_spectrogram, mel_windows, silent_mel_windows
from vfhgan_core.faces.crops import CropConfig, crop_faces, crop_matrices, mouth_boxes, transform_points
from vfhgan_core.faces.detection import DetectorConfig, FaceDetector
from vfhgan_core.faces.tracking import FaceTrack, detect_face_track
from vfhgan_core.io import VideoInfo, iter_video_chunks, probe_video, read_audio

log = logging.getLogger(__name__)

#: progress callback of the pipeline: ``(stage, fraction of that stage done in [0, 1])``.
#: Stages, in order: ``"faces"`` (pass 1: decode + detect), ``"crops"`` (pass 2: decode +
#: crop), ``"audio"`` (decode the speech + log-mel windows). An exception raised by the
#: callback (e.g. a cancellation) stops the pipeline after the current chunk.
StageProgress = Callable[[str, float], None]


def expected_frames(info: VideoInfo, start: float = 0.0, duration: float | None = None) -> int:
    """Frames the segment ``[start, start + duration)`` is expected to hold (for progress only; ≥ 1)."""
    total = info.frame_count - max(0.0, start) * info.fps
    if duration is not None:
        total = min(total, duration * info.fps)
    return max(1, int(round(total)))


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of the clip pipeline (saved with every prepared dataset)."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    #: run the detector on every k-th frame and interpolate the others
    detect_every: int = 1
    #: frames decoded at a time (bounds memory: one chunk of full frames)
    chunk_frames: int = 64


@dataclass
class FaceClip:
    """A clip after the pipeline: every frame's face crop, keypoints, mouth box and mel window."""

    info: VideoInfo
    track: FaceTrack
    timestamps: np.ndarray      # float64 (T,) seconds from the first frame
    crop_matrices: np.ndarray   # float32 (T, 2, 3) frame px -> crop px
    hr: np.ndarray              # uint8 (T, S, S, 3) RGB crops
    keypoints: np.ndarray       # float32 (T, 5, 2) keypoints in crop px
    mouth_boxes: np.ndarray     # float32 (T, 4) mouth box in crop px
    audio: np.ndarray           # float32 (N,) 16 kHz mono (zeros when the clip has none)
    mel_windows: torch.Tensor   # float32 (T, 1, 80, 16)
    has_audio: bool

    @property
    def num_frames(self) -> int:
        return int(len(self.hr))


def track_clip(
    path: str,
    detector: FaceDetector,
    config: PipelineConfig = PipelineConfig(),
    start: float = 0.0,
    duration: float | None = None,
    info: VideoInfo | None = None,
    progress: StageProgress | None = None,
) -> tuple[VideoInfo, FaceTrack, np.ndarray]:
    """Pass 1: decode in chunks and build the clip's face track.

    Returns the video info, the track and the frames' timestamps. ``progress``
    gets ``("faces", fraction)`` after each chunk is decoded and searched.
    """
    info = info or probe_video(path)
    timestamps: list[np.ndarray] = []
    expected = expected_frames(info, start, duration)

    def frames() -> Iterator[np.ndarray]:
        done = 0
        for chunk in iter_video_chunks(
            path, chunk_frames=config.chunk_frames, start=start, duration=duration, info=info
        ):
            timestamps.append(chunk.timestamps)
            yield chunk.frames  # the detector runs on it before the generator resumes
            done += len(chunk.frames)
            if progress is not None:
                progress("faces", min(1.0, done / expected))

    track = detect_face_track(frames(), detector, detect_every=config.detect_every)
    ts = np.concatenate(timestamps) if timestamps else np.zeros(0)
    return info, track, ts


def iter_face_crops(
    path: str,
    matrices: np.ndarray,
    config: PipelineConfig = PipelineConfig(),
    start: float = 0.0,
    duration: float | None = None,
    info: VideoInfo | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pass 2: decode again and yield ``(frame indices, crops)`` chunk by chunk."""
    offset = 0
    for chunk in iter_video_chunks(
        path, chunk_frames=config.chunk_frames, start=start, duration=duration, info=info
    ):
        n = len(chunk.frames)
        idx = np.arange(offset, offset + n)
        idx = idx[idx < len(matrices)]
        if len(idx):
            yield idx, crop_faces(chunk.frames[: len(idx)], matrices[idx], config.crop.hr_size)
        offset += n


def speech_windows(
    path: str,
    timestamps: np.ndarray,
    config: AudioConfig = AudioConfig(),
    start: float = 0.0,
    duration: float | None = None,
    require_audio: bool = True,
    info: VideoInfo | None = None,
) -> tuple[np.ndarray, torch.Tensor, bool]:
    """Decode the speech and cut one mel window per frame timestamp.

    ``timestamps`` are seconds from the first frame of the file and ``audio``
    starts at ``start``, so windows are indexed by ``timestamps - start``.
    Returns ``(audio, windows, has_audio)``. A clip without audio raises
    :class:`~vfhgan_core.errors.NoAudioStreamError` when ``require_audio``,
    otherwise it gets silence (and ``has_audio`` is False).
    """
    on_missing = "error" if require_audio else "silence"
    info = info or probe_video(path)
    audio = read_audio(
        path, sample_rate=config.sample_rate, start=start, duration=duration, on_missing=on_missing, info=info
    )
    has_audio = info.has_audio
    if not has_audio:
        return audio, silent_mel_windows(len(timestamps), config), False
    mel = log_mel_spectrogram(audio, config)
    return audio, mel_windows(mel, timestamps - start, config), True


def extract_face_clip(
    path: str,
    detector: FaceDetector,
    config: PipelineConfig = PipelineConfig(),
    start: float = 0.0,
    duration: float | None = None,
    require_audio: bool = True,
    progress: StageProgress | None = None,
) -> FaceClip:
    """Run the whole pipeline on one clip (or a segment of it).

    ``progress`` (optional) is called after every chunk of each pass with the
    stage and the fraction of it done (see :data:`StageProgress`).
    """
    info = probe_video(path)
    if require_audio and not info.has_audio:
        # fail before the expensive face pass
        speech_windows(path, np.zeros(1), config.audio, start, duration, require_audio=True, info=info)
    info, track, timestamps = track_clip(path, detector, config, start, duration, info=info, progress=progress)
    matrices = crop_matrices(track, config.crop)  # FaceTooSmallError for faces under min_face_px
    size = config.crop.hr_size
    hr = np.empty((track.num_frames, size, size, 3), dtype=np.uint8)
    for idx, crops in iter_face_crops(path, matrices, config, start, duration, info=info):
        hr[idx] = crops
        if progress is not None:
            progress("crops", min(1.0, (int(idx[-1]) + 1) / max(1, track.num_frames)))
    keypoints = transform_points(track.keypoints, matrices).astype(np.float32)
    mouths = mouth_boxes(keypoints, crop_size=size).astype(np.float32)
    if progress is not None:
        progress("audio", 0.0)
    audio, windows, has_audio = speech_windows(
        path, timestamps, config.audio, start, duration, require_audio=require_audio, info=info
    )
    if progress is not None:
        progress("audio", 1.0)
    return FaceClip(
        info=info,
        track=track,
        timestamps=timestamps,
        crop_matrices=matrices.astype(np.float32),
        hr=hr,
        keypoints=keypoints,
        mouth_boxes=mouths,
        audio=audio,
        mel_windows=windows,
        has_audio=has_audio,
    )
