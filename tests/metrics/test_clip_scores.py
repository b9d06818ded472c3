"""Scoring restored clips against the ground truth, on real GRID frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vfhgan_core.faces.crops import degrade
from vfhgan_core.io import read_video
from vfhgan_core.metrics.clip_scores import score_frames
from vfhgan_core.pipelines.restore import bicubic_x4


@pytest.fixture(scope="module")
def gt(grid_clip: Path) -> np.ndarray:
    frames = read_video(grid_clip, duration=0.4).frames  # 10 frames
    return np.ascontiguousarray(frames[:, 100:228, 116:244])  # the face region, 128x128


def test_bicubic_scores_below_identity(gt: np.ndarray) -> None:
    boxes = np.tile([40.0, 80.0, 90.0, 120.0], (len(gt), 1))
    bicubic = bicubic_x4(degrade(gt))
    scores = score_frames(bicubic, gt, boxes)
    means = scores.means()
    assert set(means) == {"psnr_y", "ssim_y", "erqa", "mouth_psnr_y", "flicker"}
    assert all(len(v) == len(gt) for v in scores.per_frame.values())
    assert 22 < means["psnr_y"] < 45 and 0.5 < means["ssim_y"] < 1 and 0 < means["erqa"] < 1
    perfect = score_frames(gt, gt, boxes).means()
    assert perfect["psnr_y"] == float("inf") and perfect["ssim_y"] == pytest.approx(1.0)
    assert perfect["flicker"] == 0.0 and perfect["erqa"] == pytest.approx(1.0)
    assert means["flicker"] > 0
