"""One restoration job of the app: check the segment, restore, score, write the videos.

Everything here orchestrates :mod:`vfhgan_core`; the app holds no model or
signal-processing code of its own. The models come from :class:`~app.model_store.ModelStore`.

* :func:`plan_segment` checks the requested segment against the clip and the server's limit.
* :func:`run_job` restores one clip segment with one or two variants, scores
  it (simulate mode) and writes the videos, reporting honest progress and
  stopping between chunks when its cancel flag is set.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vfhgan_core.data.degradations import DegradationConfig
from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.io import VideoInfo, probe_video
from vfhgan_core.metrics.clip_scores import ClipScores, score_frames
from vfhgan_core.pipelines.face_restorer import FaceRestorer
from vfhgan_core.pipelines.restore import RestoreCancelled, RestoreOptions, RestoreResult

from .model_store import ModelStore
from .settings import SettingsError

log = logging.getLogger(__name__)

#: what each progress stage is called in the UI
STAGE_LABELS = {
    "load": "Loading the models",
    "faces": "Decoding frames and finding the face",
    "crops": "Cropping the face",
    "audio": "Reading the speech",
    "restore": "Restoring",
    "metrics": "Scoring PSNR-Y, SSIM-Y, ERQA",
    "encode": "Encoding the videos",
}

#: relative cost of each stage per frame (ms on 2 CPU cores, 3 s GRID clip), for the
#: progress bar; "restore" and "metrics" are per method, "encode" per video written
_COST_MS = {"load": 1.0, "faces": 30.0, "crops": 2.0, "audio": 1.0, "restore": 6.0, "metrics": 13.0,
            "encode_face": 3.0, "encode_comparison": 10.0, "encode_pasted": 11.0}


@dataclass
class Segment:
    """The part of a clip one run restores (seconds)."""

    start: float
    duration: float


def plan_segment(info: VideoInfo, start: float | None, length: float | None, max_seconds: float) -> Segment:
    """Check the requested segment against the clip and the server's limit.

    Raises:
        SettingsError: with a message for the user (start past the end, too long, not positive).
    """
    start = 0.0 if start is None else float(start)
    length = min(max_seconds, info.duration) if length is None else float(length)
    if not np.isfinite(start) or start < 0:
        raise SettingsError(f"The start ({start:g} s) must be 0 or more seconds.")
    if start >= info.duration - 0.04:
        raise SettingsError(f"The start ({start:g} s) is at or after the end of the clip ({info.duration:.2f} s). "
                         "Choose an earlier start.")
    if not np.isfinite(length) or length <= 0:
        raise SettingsError(f"The segment length must be positive, got {length:g} s.")
    if length > max_seconds + 1e-6:
        raise SettingsError(f"The segment ({length:g} s) is longer than this server's limit of {max_seconds:g} s. "
                         "Choose a shorter length (and a start), or restore the whole video with the "
                         "command line: python -m vfhgan_core enhance.")
    return Segment(start=start, duration=min(length, info.duration - start))


@dataclass
class JobResult:
    """What one run produced: the restoration, its scores and its videos."""

    result: RestoreResult
    variants: list[str]
    mode: str
    scores: dict[str, ClipScores] | None
    restored_video: Path
    comparison_video: Path
    source_name: str
    segment: Segment
    info: VideoInfo
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def methods(self) -> list[str]:
        """Scored methods in table order: bicubic, then the variants."""
        return ["bicubic", *self.variants]


class _ProgressPlan:
    """Maps the library's progress reports onto one bar for the whole job, weighted by expected cost."""

    def __init__(self, frames: int, n_variants: int, mode: str,
                 report: Callable[[str, float], None] | None) -> None:
        n = max(1, frames)
        costs = {"load": _COST_MS["load"] * n, "faces": _COST_MS["faces"] * n, "crops": _COST_MS["crops"] * n,
                 "audio": _COST_MS["audio"] * n, "restore": _COST_MS["restore"] * n * n_variants,
                 "metrics": _COST_MS["metrics"] * n * (n_variants + 1) if mode == "simulate" else 0.0}
        # in the order FaceRestorer.write runs them: the comparison, then the main video
        costs["encode_comparison"] = _COST_MS["encode_comparison"] * n
        if mode == "simulate":
            costs["encode_face"] = _COST_MS["encode_face"] * n
        else:
            costs["encode_pasted"] = _COST_MS["encode_pasted"] * n
        total = sum(costs.values())
        self.spans: dict[str, tuple[float, float]] = {}
        at = 0.0
        for name, cost in costs.items():
            self.spans[name] = (at / total, (at + cost) / total)
            at += cost
        self.report = report
        self.last = 0.0

    def __call__(self, stage: str, local: float) -> None:
        """Report ``local`` ∈ [0, 1] of ``stage`` done."""
        lo, hi = self.spans[stage]
        value = max(self.last, lo + (hi - lo) * min(max(local, 0.0), 1.0))  # never moves backwards
        self.last = value
        if self.report is not None:
            label = STAGE_LABELS["encode" if stage.startswith("encode") else stage]
            self.report(label, value)



#: how simulate mode makes its 32×32 input: clean bicubic ×4, or the real-video chain
SIMULATED_INPUTS = ("clean", "degraded")


def run_job(
    store: ModelStore,
    video: str | Path,
    variants: list[str],
    mode: str,
    segment: Segment,
    out_dir: Path,
    info: VideoInfo | None = None,
    batch_size: int = 32,
    progress: Callable[[str, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    simulated_input: str = "clean",
    degradation_seed: int = 0,
    self_ensemble: bool = False,
) -> JobResult:
    """Restore ``segment`` of ``video`` with ``variants`` (1 or 2), score it and write the videos.

    ``simulated_input`` (simulate mode): ``"clean"`` shrinks the face by bicubic ×4, ``"degraded"``
    by the draw ``degradation_seed`` of the real-video chain (blur, noise, JPEG or H.264).
    ``self_ensemble``: restore every frame also mirrored and average the two (twice the time).

    Raises:
        VFHGANError subclasses for the user's input, RestoreCancelled when ``should_stop``
        turns True (checked between chunks of frames and between stages).
    """
    if not variants:
        raise SettingsError("Pick at least one variant.")
    if simulated_input not in SIMULATED_INPUTS:
        raise SettingsError(f"Simulated input must be one of {', '.join(SIMULATED_INPUTS)}, got {simulated_input!r}.")
    degraded = simulated_input == "degraded" and mode == "simulate"   # real mode: the video's own quality
    t0 = time.perf_counter()
    info = info or probe_video(video)
    plan = _ProgressPlan(int(round(segment.duration * info.fps)), len(variants) * (2 if self_ensemble else 1), mode,
                         progress)
    stop = should_stop or (lambda: False)

    def check() -> None:
        if stop():
            raise RestoreCancelled("cancelled")

    plan("load", 0.0)
    generators = {v: store.generator(v) for v in dict.fromkeys(variants)}
    options = RestoreOptions(mode=mode, start=segment.start, duration=segment.duration, batch_size=batch_size,
                             pipeline=PipelineConfig(detector=store.detector_config),
                             simulated_degradation=DegradationConfig() if degraded else None,
                             degradation_seed=int(degradation_seed), self_ensemble=bool(self_ensemble))
    timings: dict[str, float] = {}
    with store.detector() as detector:
        plan("load", 1.0)
        timings["load"] = time.perf_counter() - t0
        restorer = FaceRestorer(generators, detector)
        result = restorer.restore(video, options, progress=plan, should_stop=stop)
    timings.update(result.timings)

    scores = None
    if mode == "simulate":
        t = time.perf_counter()
        scores = {}
        methods = {"bicubic": result.bicubic, **result.sr}
        for k, (name, frames) in enumerate(methods.items()):
            check()
            scores[name] = score_frames(frames, result.gt, result.clip.mouth_boxes)
            plan("metrics", (k + 1) / len(methods))
        timings["metrics"] = time.perf_counter() - t

    t = time.perf_counter()
    stem = _stem(video)
    main = next(iter(generators))
    check()
    suffix = "face" if mode == "simulate" else "restored"
    videos = restorer.write(result, out_dir / f"{stem}_{main}_{suffix}.mp4", video, options,
                            comparison=out_dir / f"{stem}_comparison.mp4", variant=main, progress=plan,
                            should_stop=stop)
    check()
    restored, comparison = videos.main, videos.comparison
    timings["encode"] = time.perf_counter() - t
    return JobResult(result=result, variants=list(generators), mode=mode, scores=scores, restored_video=restored,
                     comparison_video=comparison, source_name=Path(video).name, segment=segment, info=info,
                     seconds=time.perf_counter() - t0, stage_seconds=timings)


def _stem(video: str | Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(video).stem)[:40]
    return stem or "video"
