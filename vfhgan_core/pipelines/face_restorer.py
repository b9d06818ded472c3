"""``FaceRestorer``: the inference facade that the command line, ``enhance-batch`` and the app share.

It holds generators and a face detector, loaded once (:meth:`FaceRestorer.load`) or lent by
the caller (the app's model store), and restores videos with them:

* :meth:`FaceRestorer.restore`: find the face, make the 32×32 input, run every generator
  (:func:`vfhgan_core.pipelines.restore.restore_clip`);
* :meth:`FaceRestorer.write`: the videos of a result (the restored face or the pasted-back
  frame, and optionally the side-by-side comparison), with the clip's audio;
* :meth:`FaceRestorer.enhance`: both, with one progress bar over the whole job
  (:class:`JobProgress`).

Progress callbacks take ``(stage, fraction)``; ``should_stop`` cancels between chunks of frames
(:class:`~vfhgan_core.pipelines.restore.RestoreCancelled`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from vfhgan_core.faces.detection import DetectorConfig, FaceDetector, load_face_detector
from vfhgan_core.pipelines.restore import (
    RESTORE_STAGES,
    Progress,
    RestoreOptions,
    RestoreResult,
    restore_clip,
    write_comparison_video,
    write_face_video,
    write_pasted_video,
)

__all__ = ["EnhancedVideos", "FaceRestorer", "JobProgress"]

#: share of one progress bar per stage of a job: face detection dominates on a CPU (timings of
#: a 3 s GRID clip on 2 cores); the writers of the job split the "encode" share between them
SHARES: dict[str, float] = {"faces": 0.55, "crops": 0.05, "audio": 0.02, "restore": 0.18, "encode": 0.20}


class JobProgress:
    """Turns stage reports ``(stage, fraction of the stage)`` into one bar ``(stage, fraction of the job)``.

    Args:
        report: the bar's callback (``None``: nothing is reported).
        writers: the writer stages the job will run (``encode_face``, ``encode_comparison``,
            ``encode_pasted``), which share the encoding part of the bar equally.
    """

    def __init__(self, report: Progress | None, writers: Sequence[str]) -> None:
        spans = [(stage, SHARES[stage]) for stage in RESTORE_STAGES]
        spans += [(w, SHARES["encode"] / max(1, len(writers))) for w in writers]
        total = sum(share for _, share in spans)
        self.spans: dict[str, tuple[float, float]] = {}
        at = 0.0
        for stage, share in spans:
            self.spans[stage] = (at / total, (at + share) / total)
            at += share
        self.report = report
        self.done = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        lo, hi = self.spans[stage]
        self.done = max(self.done, lo + (hi - lo) * min(max(float(fraction), 0.0), 1.0))  # never backwards
        if self.report is not None:
            self.report(stage, self.done)


@dataclass(frozen=True)
class EnhancedVideos:
    """The files :meth:`FaceRestorer.write` wrote."""

    #: the restored 128×128 face (simulate) or the full frame with the face pasted back (real)
    main: Path
    #: the labelled side-by-side video (LR | bicubic | variants | ground truth), if asked for
    comparison: Path | None = None


class FaceRestorer:
    """Generators and a face detector, ready to restore videos.

    Args:
        generators: name → generator (e.g. ``{"audio-ffl-lip": VFHGANGenerator}``), in eval mode;
            the first is the one whose output :meth:`write` saves as the main video.
        detector: the face detector (one thread at a time uses it).
    """

    def __init__(self, generators: Mapping[str, torch.nn.Module], detector: FaceDetector) -> None:
        if not generators:
            raise ValueError("a FaceRestorer needs at least one generator")
        self.generators = dict(generators)
        self.detector = detector

    @classmethod
    def load(
        cls,
        variants: Sequence[str] | str | None = None,
        weights: str | None = None,
        detector: DetectorConfig = DetectorConfig(),
        device: str = "cpu",
    ) -> FaceRestorer:
        """Load the variants' generators (:func:`vfhgan_core.weights.hub.load_generator`) and a face detector.

        Args:
            variants: variant name(s); ``None``: the default variant (the paper's full model).
            weights: weights source (``None``: the bundled ``assets/weights``; a folder; a Hub repo id).
            detector: how to load the face detector (:func:`~vfhgan_core.faces.detection.load_face_detector`).
            device: where the generators run.

        Raises:
            WeightsNotFoundError, DetectorUnavailableError: with what to do.
        """
        from vfhgan_core.weights.hub import DEFAULT_VARIANT, load_generator

        names = [variants] if isinstance(variants, str) else list(variants or [DEFAULT_VARIANT])
        generators = {name: load_generator(name, weights, device=device) for name in dict.fromkeys(names)}
        return cls(generators, load_face_detector(detector))

    @property
    def variants(self) -> list[str]:
        return list(self.generators)

    def restore(
        self,
        video: str | Path,
        options: RestoreOptions = RestoreOptions(),
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RestoreResult:
        """Restore the face in ``video`` with every generator; ``progress(stage, fraction of the stage)``."""
        return restore_clip(video, self.generators, self.detector, options, progress=progress,
                            should_stop=should_stop)

    def write(
        self,
        result: RestoreResult,
        output: str | Path,
        source: str | Path,
        options: RestoreOptions = RestoreOptions(),
        comparison: str | Path | None = None,
        variant: str | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> EnhancedVideos:
        """Write the videos of ``result`` (restored from ``source`` with ``options``).

        Args:
            output: the main video: the restored face (simulate) or the full frame with the
                restored face pasted back (real).
            comparison: also write the labelled side-by-side video here.
            variant: whose output is the main video (default: the first generator).
            progress: ``(stage, fraction of that stage)`` for ``encode_face`` / ``encode_pasted``
                and ``encode_comparison``.

        The main video is written last: a job killed before it ends leaves no main video behind
        (the writers write under a temporary name and rename when complete).
        """
        name = variant or next(iter(self.generators))
        if name not in result.sr:
            raise ValueError(f"{name!r} is not among the restored variants ({', '.join(result.sr)})")
        written_comparison = None
        if comparison is not None:
            written_comparison = write_comparison_video(result, comparison, progress=progress)
        if result.mode == "simulate":
            main = write_face_video(result, name, output, progress=progress)
        else:
            main = write_pasted_video(result, name, source, output, options, progress=progress,
                                      should_stop=should_stop)
        return EnhancedVideos(main=Path(main), comparison=written_comparison)

    def enhance(
        self,
        video: str | Path,
        output: str | Path,
        options: RestoreOptions = RestoreOptions(),
        comparison: str | Path | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[RestoreResult, EnhancedVideos]:
        """Restore ``video`` and write its videos; ``progress(stage, fraction of the whole job)``."""
        writers = (["encode_comparison"] if comparison is not None else []) + \
            ["encode_face" if options.mode == "simulate" else "encode_pasted"]
        bar = JobProgress(progress, writers)
        result = self.restore(video, options, progress=bar, should_stop=should_stop)
        videos = self.write(result, output, video, options, comparison=comparison, progress=bar,
                            should_stop=should_stop)
        return result, videos
