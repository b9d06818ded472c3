"""Restoring faces in a video with a trained generator (the ``enhance`` command and the app).

Two modes:

* ``simulate``: the face is cropped at 128×128 (the ground truth), degraded
  to 32×32 as in training, and restored; bicubic ×4 and the ground truth are
  kept for comparison, so the result can be scored. With
  ``RestoreOptions.simulated_degradation`` the 32×32 input is made by one fixed
  draw of the real-video chain (blur, noise, JPEG or H.264;
  :mod:`vfhgan_core.data.degradations`) instead of clean bicubic downsampling,
  the case the ``-real`` variants are trained for.
* ``real``: the face in the video is taken as genuinely low-resolution. Its
  crop is brought to 32×32, restored to 128×128, and pasted back (soft mask)
  into the full frame, which is upscaled so the face lands at its restored
  size (at most ×4).

Both keep the clip's audio. Work is streamed chunk by chunk (decode, crop,
restore, paste, encode) and reports progress through a callback; a
``should_stop`` callback cancels it between batches.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vfhgan_core.data.degradations import DegradationConfig, DegradationParams, degrade_clip, occlude_mouth
from vfhgan_core.faces.clip import FaceClip, PipelineConfig, extract_face_clip
from vfhgan_core.faces.crops import degrade, paste_back
from vfhgan_core.faces.detection import FaceDetector
from vfhgan_core.io import VideoWriter, iter_video_chunks

log = logging.getLogger(__name__)

#: progress callback: ``(stage, fraction of that stage done in [0, 1])``. The stages of
#: :func:`restore_clip` are, in order, :data:`RESTORE_STAGES`; each video writer reports its own
#: (``encode_face``, ``encode_comparison``, ``encode_pasted``). One bar for a whole job:
#: :class:`vfhgan_core.pipelines.face_restorer.JobProgress`.
Progress = Callable[[str, float], None]
MODES = ("simulate", "real")
#: decode + detect faces, decode + crop, speech, generators
RESTORE_STAGES = ("faces", "crops", "audio", "restore")


class RestoreCancelled(Exception):
    """The caller asked to stop (``should_stop`` returned True)."""


@dataclass(frozen=True)
class RestoreOptions:
    """How to restore a clip."""

    mode: str = "simulate"
    #: segment of the clip, in seconds
    start: float = 0.0
    duration: float | None = None
    #: generator batch size (frames)
    batch_size: int = 32
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    #: simulate mode: make the 32×32 input with this real-video chain (one draw per clip,
    #: fixed by ``degradation_seed``) instead of clean downsampling; ``None``: clean
    simulated_degradation: DegradationConfig | None = None
    degradation_seed: int = 0
    #: simulate mode: blur the mouth of every 32×32 input frame beyond reading
    #: (:func:`vfhgan_core.data.degradations.occlude_mouth`), so that only the speech can tell
    #: an audio-conditioned generator its shape
    occlude_mouth: bool = False
    #: also restore the mirrored input and average it, mirrored back, with the plain output
    #: (:func:`restore_windows`): twice the compute, for fidelity
    self_ensemble: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.occlude_mouth and self.mode != "simulate":
            raise ValueError("occluding the mouth only applies in simulate mode, where the 32×32 input is made "
                             "from the video's face")
        if self.simulated_degradation is not None and self.mode != "simulate":
            raise ValueError("a simulated degradation only applies in simulate mode: in real mode the video's own "
                             "quality is the input")
        if self.simulated_degradation is not None and self.simulated_degradation.scale != self.pipeline.crop.scale:
            raise ValueError(f"the simulated degradation shrinks x{self.simulated_degradation.scale}, the crops "
                             f"x{self.pipeline.crop.scale}")


@dataclass
class RestoreResult:
    """Everything a restoration produced, frame-aligned (T frames).

    ``sr`` maps each generator's name to its uint8 (T, 128, 128, 3) output.
    ``gt`` is the 128×128 ground truth in simulate mode and ``None`` in real mode.
    """

    clip: FaceClip
    mode: str
    lr: np.ndarray
    bicubic: np.ndarray
    sr: dict[str, np.ndarray]
    gt: np.ndarray | None
    timings: dict[str, float] = field(default_factory=dict)
    #: the real-video chain applied to make ``lr`` (simulate mode with a simulated degradation)
    degradation: DegradationParams | None = None
    #: for each routed generator (the real-world variant), the weight of its degraded-input
    #: expert per frame, float (T,) in [0, 1] (0: the clean-input expert restored the frame alone)
    route_weights: dict[str, np.ndarray] = field(default_factory=dict)
    #: whether ``sr`` is the flip self-ensemble (:func:`restore_windows`)
    self_ensemble: bool = False

    @property
    def num_frames(self) -> int:
        return int(len(self.lr))

    @property
    def fps(self) -> float:
        return float(self.clip.info.fps)


def _report(progress: Progress | None, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, min(max(float(fraction), 0.0), 1.0))


def _check_stop(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise RestoreCancelled("restoration cancelled")


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) → float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [0, 1] → uint8 (N, H, W, 3) (rounded, clipped)."""
    return images.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def frame_windows(frames: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Windows of ``num_frames`` consecutive frames centred on each frame, edge-padded.

    ``frames``: (T, C, H, W) → (T, num_frames, C, H, W); window t holds frames
    ``t − j … t + j`` with indices clamped to the clip.
    """
    t = frames.shape[0]
    j = num_frames // 2
    idx = (torch.arange(t)[:, None] + torch.arange(-j, j + 1)[None, :]).clamp_(0, t - 1)
    return frames[idx]


def bicubic_x4(lr: np.ndarray, scale: int = 4) -> np.ndarray:
    """The bicubic baseline: uint8 (T, h, w, 3) → (T, scale·h, scale·w, 3)."""
    up = F.interpolate(to_tensor(lr), scale_factor=scale, mode="bicubic", align_corners=False)
    return to_uint8(up)


def restore_windows(generator: torch.nn.Module, windows: torch.Tensor, mel: torch.Tensor | None,
                    self_ensemble: bool = False) -> torch.Tensor:
    """The restored centre frames ``(B, 3, 4h, 4w)`` of LR windows ``(B, T, 3, h, w)``.

    With ``self_ensemble`` the generator also restores the windows mirrored left to right, and
    the result is the mean of the plain output and the mirrored one flipped back: the flip
    self-ensemble of EDSR ("+" models, Lim et al. 2017), restricted to the one transform a face
    keeps (faces are upright, and training mirrors them at random). The speech is the same for
    both passes. Errors the two passes do not share partly cancel: on the unseen validation
    speakers it adds about 0.3 dB PSNR-Y at twice the compute (README, Results).
    """
    sr = generator(windows, mel).sr.float()
    if self_ensemble:
        mirrored = generator(windows.flip(-1), mel).sr.float().flip(-1)
        sr = (sr + mirrored) / 2
    return sr


@torch.inference_mode()
def run_generator(
    generator: torch.nn.Module,
    lr: np.ndarray,
    mel_windows: torch.Tensor | None,
    batch_size: int = 32,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    self_ensemble: bool = False,
) -> np.ndarray:
    """Restore every frame of a clip: uint8 LR (T, 32, 32, 3) → uint8 (T, 128, 128, 3).

    Each frame is restored from the window of its neighbours and its mel window
    (ignored by generators built without audio); ``self_ensemble``: see :func:`restore_windows`.
    """
    generator.eval()
    config = generator.config
    device = next(generator.parameters()).device
    lr_t = to_tensor(lr)
    windows = frame_windows(lr_t, config.num_frames)
    out = []
    t = len(lr)
    for s in range(0, t, batch_size):
        _check_stop(should_stop)
        batch = windows[s : s + batch_size].to(device)
        mel = mel_windows[s : s + batch_size].to(device) if config.use_audio else None
        out.append(to_uint8(restore_windows(generator, batch, mel, self_ensemble).cpu()))
        if progress is not None:
            progress(min(1.0, (s + batch_size) / t))
    return np.concatenate(out) if out else np.zeros((0, 128, 128, 3), np.uint8)


@torch.inference_mode()
def clip_route_weights(generator: torch.nn.Module, lr: np.ndarray, batch_size: int = 256) -> np.ndarray | None:
    """Per frame, the weight a routed generator gives its degraded-input expert (``None`` without a router)."""
    if getattr(generator, "router", None) is None:
        return None
    device = next(generator.parameters()).device
    windows = frame_windows(to_tensor(lr), generator.config.num_frames)
    parts = [generator.route_weights(windows[s:s + batch_size].to(device)).float().cpu()
             for s in range(0, len(windows), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros(0, np.float32)


def restore_clip(
    path: str | Path,
    generators: Mapping[str, torch.nn.Module],
    detector: FaceDetector,
    options: RestoreOptions = RestoreOptions(),
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RestoreResult:
    """Find the face track, crop, degrade (simulate) and restore with each generator.

    ``progress(stage, fraction)`` is called after every chunk of frames with the
    fraction of that stage done (stages :data:`RESTORE_STAGES`); ``should_stop`` is
    checked at the same points (between chunks of the face passes and between
    generator batches) and raises :class:`RestoreCancelled` when it returns True.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _report(progress, "faces", 0.0)

    def pipeline_progress(stage: str, fraction: float) -> None:
        _check_stop(should_stop)
        _report(progress, stage, fraction)

    clip = extract_face_clip(
        str(path), detector, options.pipeline, start=options.start, duration=options.duration,
        require_audio=False, progress=pipeline_progress,
    )
    timings["faces"] = time.perf_counter() - t0
    _check_stop(should_stop)

    crop = options.pipeline.crop
    applied = None
    if options.simulated_degradation is not None:
        lr, applied = degrade_clip(clip.hr, options.simulated_degradation, seed=options.degradation_seed)
    else:
        lr = degrade(clip.hr, scale=crop.scale, method=crop.degradation)
    if options.occlude_mouth:
        lr = occlude_mouth(lr, clip.mouth_boxes, crop.scale)
    t1 = time.perf_counter()
    sr: dict[str, np.ndarray] = {}
    n = max(1, len(generators))
    for k, (name, gen) in enumerate(generators.items()):
        sr[name] = run_generator(
            gen,
            lr,
            clip.mel_windows,
            options.batch_size,
            progress=lambda f, k=k: _report(progress, "restore", (k + f) / n),
            should_stop=should_stop,
            self_ensemble=options.self_ensemble,
        )
    timings["restore"] = time.perf_counter() - t1
    routes = {name: w for name, gen in generators.items() if (w := clip_route_weights(gen, lr)) is not None}
    return RestoreResult(
        clip=clip,
        mode=options.mode,
        lr=lr,
        bicubic=bicubic_x4(lr, crop.scale),
        sr=sr,
        gt=clip.hr if options.mode == "simulate" else None,
        timings=timings,
        degradation=applied,
        route_weights=routes,
        self_ensemble=options.self_ensemble,
    )


# --------------------------------------------------------------------------- videos


def label_tile(tile: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` in the top-left corner of a tile (white on a dark band)."""
    tile = tile.copy()
    scale = max(0.35, tile.shape[1] / 400)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(tile, (0, 0), (w + 6, h + base + 6), (0, 0, 0), -1)
    cv2.putText(tile, text, (3, h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def comparison_panels(result: RestoreResult) -> list[tuple[str, np.ndarray]]:
    """The labelled columns of the side-by-side view: LR (nearest ×4), bicubic, each SR, GT."""
    size = result.bicubic.shape[1]
    lr_big = np.repeat(np.repeat(result.lr, size // result.lr.shape[1], axis=1), size // result.lr.shape[2], axis=2)
    panels = [("LR 32x32", lr_big), ("bicubic", result.bicubic)]
    panels += [(name, frames) for name, frames in result.sr.items()]
    if result.gt is not None:
        panels.append(("ground truth", result.gt))
    return panels


def mouth_zooms(result: RestoreResult, index: int, zoom: int = 4, margin: int = 2) -> list[tuple[str, np.ndarray]]:
    """Enlarged mouth crops of frame ``index`` from every panel of :func:`comparison_panels`.

    The crop is the frame's mouth box (``result.clip.mouth_boxes``, the box the lip
    loss and :func:`vfhgan_core.faces.mouths.crop_mouths` use) widened by
    ``margin`` pixels and snapped outwards to the LR pixel grid (multiples of the
    scale, 4), so every LR pixel is shown whole. The same pixels are cut from each
    panel and enlarged ``zoom`` times by pixel repetition (nearest neighbour), so
    the pixels stay visible. Returns ``[(label, uint8 (h·zoom, w·zoom, 3))]``:
    LR (nearest ×4), bicubic, each generator, and the ground truth when present.
    """
    if not 0 <= index < result.num_frames:
        raise IndexError(f"frame {index} is outside the clip (0..{result.num_frames - 1})")
    if zoom < 1:
        raise ValueError(f"zoom must be a positive integer, got {zoom}")
    panels = comparison_panels(result)
    size = panels[0][1].shape[1]
    step = max(1, size // result.lr.shape[1])
    x1, y1, x2, y2 = result.clip.mouth_boxes[index].astype(np.float64) + np.array([-margin, -margin, margin, margin])
    x1, y1 = (int(np.floor(max(0.0, v) / step) * step) for v in (x1, y1))
    x2, y2 = (int(np.ceil(min(float(size), v) / step) * step) for v in (x2, y2))
    if x2 <= x1 or y2 <= y1:  # degenerate box (face at the border): show the lower half of the face
        x1, y1, x2, y2 = 0, size // 2, size, size
    return [(name, np.repeat(np.repeat(frames[index, y1:y2, x1:x2], zoom, axis=0), zoom, axis=1))
            for name, frames in panels]


def comparison_frame(result: RestoreResult, index: int, labels: bool = True) -> np.ndarray:
    """One side-by-side frame (uint8 (128, 128·k, 3)) of the comparison view."""
    tiles = [(label_tile(f[index], name) if labels else f[index]) for name, f in comparison_panels(result)]
    return np.concatenate(tiles, axis=1)


def write_face_video(result: RestoreResult, name: str, path: str | Path, progress: Progress | None = None) -> Path:
    """The restored 128×128 face track of generator ``name`` as a video with the clip's audio."""
    frames = result.sr[name]
    with VideoWriter(path, result.fps, audio=result.clip.audio, crf=16, preset="veryfast") as writer:
        for s in range(0, len(frames), 64):
            writer.write(frames[s : s + 64])
            _report(progress, "encode_face", (s + 64) / max(1, len(frames)))
    return Path(path)


def write_comparison_video(result: RestoreResult, path: str | Path, progress: Progress | None = None) -> Path:
    """Side-by-side video (LR | bicubic | SR… | GT), labelled, with the clip's audio."""
    with VideoWriter(path, result.fps, audio=result.clip.audio, crf=16, preset="veryfast") as writer:
        for i in range(result.num_frames):
            writer.write(comparison_frame(result, i))
            if i % 16 == 0:
                _report(progress, "encode_comparison", i / max(1, result.num_frames))
    _report(progress, "encode_comparison", 1.0)
    return Path(path)


def paste_scale(result: RestoreResult, max_scale: float = 4.0, max_side: int = 1920) -> float:
    """Upscaling of the full frame in real mode: the face crop lands at 128 px, at most ×4."""
    # the crop matrices scale frame pixels by hr_size / crop side
    scale = float(np.clip(np.median(np.hypot(result.clip.crop_matrices[:, 0, 0], result.clip.crop_matrices[:, 0, 1])), 1.0, max_scale))
    longest = max(result.clip.info.width, result.clip.info.height)
    return max(1.0, min(scale, max_side / longest))


def write_pasted_video(
    result: RestoreResult,
    name: str,
    source: str | Path,
    path: str | Path,
    options: RestoreOptions = RestoreOptions(),
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Real mode: the full frames, upscaled by :func:`paste_scale`, with the restored face pasted in."""
    faces = result.sr[name]
    scale = paste_scale(result)
    to_crop = result.clip.crop_matrices.astype(np.float64).copy()
    to_crop[:, :, :2] /= scale  # output pixel → source pixel → crop pixel
    written = 0
    with VideoWriter(path, result.fps, audio=result.clip.audio, crf=18, preset="veryfast") as writer:
        for chunk in iter_video_chunks(str(source), chunk_frames=32, start=options.start, duration=options.duration):
            _check_stop(should_stop)
            for frame in chunk.frames:
                if written >= len(faces):
                    break
                h, w = frame.shape[:2]
                size = (int(round(w * scale)) // 2 * 2, int(round(h * scale)) // 2 * 2)
                big = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC) if scale != 1.0 else frame
                writer.write(paste_back(big, faces[written], to_crop[written]))
                written += 1
            _report(progress, "encode_pasted", written / max(1, len(faces)))
    return Path(path)
