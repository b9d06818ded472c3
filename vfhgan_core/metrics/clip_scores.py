"""Scoring restored clips: the paper's metrics per frame and per method.

Used by the ``evaluate`` command (:mod:`vfhgan_core.evaluation.runs`) and by the app's metrics table. A restored
clip (:class:`~vfhgan_core.pipelines.restore.RestoreResult` in simulate mode) is scored
for bicubic and every generator against the 128×128 ground truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .image import erqa, mouth_psnr, psnr_y, ssim_y
from .temporal import temporal_flicker
from .vocabulary import ERQA_VERSION

__all__ = ["ClipScores", "score_frames", "score_result"]


@dataclass
class ClipScores:
    """Per-frame scores of one method on one clip, and the clip-level figures."""

    per_frame: dict[str, np.ndarray]   # metric -> float64 (T,)
    flicker: float                      # temporal_flicker over the clip (lower is better)

    def means(self) -> dict[str, float]:
        """Mean of each per-frame metric (mouth PSNR ignores infinite frames), plus flicker."""
        out = {}
        for name, values in self.per_frame.items():
            finite = values[np.isfinite(values)]
            out[name] = float(finite.mean()) if len(finite) else float("inf")
        out["flicker"] = self.flicker
        return out


def score_frames(sr: np.ndarray, gt: np.ndarray, mouth_boxes: np.ndarray | None = None) -> ClipScores:
    """Score a restored clip ``sr`` against ``gt`` (uint8 (T, H, W, 3) each)."""
    per_frame = {
        "psnr_y": np.asarray(psnr_y(sr, gt, per_frame=True)),
        "ssim_y": np.asarray(ssim_y(sr, gt, per_frame=True)),
        "erqa": np.asarray(erqa(sr, gt, version=ERQA_VERSION, per_frame=True)),
    }
    if mouth_boxes is not None:
        per_frame["mouth_psnr_y"] = np.asarray(mouth_psnr(sr, gt, mouth_boxes, per_frame=True))
    flicker = temporal_flicker(sr, gt) if len(sr) > 1 else 0.0
    return ClipScores(per_frame=per_frame, flicker=flicker)


def score_result(result) -> dict[str, ClipScores]:
    """Scores of bicubic and every generator of a simulate-mode restoration."""
    if result.gt is None:
        raise ValueError("only simulate-mode results have a ground truth to score against")
    methods = {"bicubic": result.bicubic, **result.sr}
    return {name: score_frames(frames, result.gt, result.clip.mouth_boxes) for name, frames in methods.items()}
