"""Clip-level metric of temporal consistency: temporal flicker (ours, tOF-like without optical flow).

Mean over frames ``t`` and pixels of ``|(Y_SR[t+1] − Y_SR[t]) − (Y_GT[t+1] − Y_GT[t])|`` in 8-bit Y
levels, with the frames read and the luma taken as in :mod:`vfhgan_core.metrics.image`.
"""
from __future__ import annotations

import numpy as np

from .image import ImageLike, rgb_to_y

__all__ = ["temporal_flicker"]


def temporal_flicker(sr_seq: ImageLike, gt_seq: ImageLike) -> float:
    """Temporal inconsistency of a restored clip relative to the ground truth (lower is better).

    ``mean_{t, x, y} |(Y_SR[t+1] − Y_SR[t]) − (Y_GT[t+1] − Y_GT[t])|`` in 8-bit Y levels (0–255),
    with ``Y`` the BT.601 luma of :func:`rgb_to_y`. It is 0 when the SR clip changes from frame to
    frame exactly as the GT does, even if every frame carries the same static error, and grows
    with frame-to-frame noise (flicker) the GT does not have. Like tOF it compares motion, but
    through plain temporal differences (no optical flow), so real motion errors count too.

    Args:
        sr_seq, gt_seq: clips of equal shape with ``T ≥ 2`` frames: numpy ``(T, H, W, 3)`` or torch
            ``(T, 3, H, W)``.
    """
    if tuple(sr_seq.shape) != tuple(gt_seq.shape):
        raise ValueError(f"sr_seq and gt_seq must have the same shape, got {tuple(sr_seq.shape)} "
                         f"and {tuple(gt_seq.shape)}")
    if sr_seq.ndim != 4 or sr_seq.shape[0] < 2:
        raise ValueError(f"temporal_flicker needs clips of at least 2 frames (T, H, W, 3) or (T, 3, H, W), "
                         f"got shape {tuple(sr_seq.shape)}")
    y_sr, y_gt = rgb_to_y(sr_seq), rgb_to_y(gt_seq)   # (T, H, W) each
    return float(np.mean(np.abs(np.diff(y_sr, axis=0) - np.diff(y_gt, axis=0))))
