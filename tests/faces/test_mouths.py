"""Tests of vfhgan_core.faces.mouths: the differentiable mouth crop, its gray and its normalisation.

Frames are real: 128x128 face crops of a GRID clip (decoded with PyAV, cut at a fixed
square around speaker s1's face, ``media_fixtures.s1_face_crops``). The mouth box is
given by hand and checked against the SCRFD detector's mouth keypoints; the crop is
checked against OpenCV.
"""
from __future__ import annotations

import cv2
import insightface
import numpy as np
import pytest
import torch

from media_fixtures import S1_FACE, S1_MOUTH_BOX, crops_to_tensor
from vfhgan_core.faces.mouths import MOUTH_MEAN, MOUTH_ROI, MOUTH_STD, crop_mouths, normalise_mouths, rgb_to_gray


def test_hand_given_box_is_on_the_mouth(s1_face_crops, detector_model):
    """The SCRFD mouth corners of the original frame fall inside the hand-given box of the crop."""
    detector = insightface.model_zoo.get_model(str(detector_model), providers=["CPUExecutionProvider"])
    detector.prepare(ctx_id=-1, input_size=(640, 640), det_thresh=0.5)
    _, keypoints = detector.detect(np.ascontiguousarray(s1_face_crops[0][0][:, :, ::-1]), input_size=(640, 640))
    scale = 128 / (S1_FACE[2] - S1_FACE[0])
    corners = (keypoints[0][3:5] - np.array(S1_FACE[:2])) * scale  # mouth corners in crop pixels
    x1, y1, x2, y2 = S1_MOUTH_BOX
    assert np.all((corners[:, 0] > x1) & (corners[:, 0] < x2) & (corners[:, 1] > y1) & (corners[:, 1] < y2))
    centre = corners.mean(0)
    assert abs(centre[0] - (x1 + x2) / 2) < 6 and abs(centre[1] - (y1 + y2) / 2) < 6


def test_crop_matches_opencv_on_real_face_crop(s1_face_crops):
    crops = s1_face_crops[1][:2]
    frames = crops_to_tensor(crops)[None]  # (1, 2, 3, 128, 128)
    boxes = torch.tensor(S1_MOUTH_BOX, dtype=torch.float32).expand(1, 2, 4)
    ours = crop_mouths(frames, boxes, MOUTH_ROI)
    assert ours.shape == (1, 2, MOUTH_ROI, MOUTH_ROI)
    x1, y1, x2, y2 = S1_MOUTH_BOX
    for t in range(2):
        gray = cv2.cvtColor(crops[t].astype(np.float32) / 255.0, cv2.COLOR_RGB2GRAY)
        ref = cv2.resize(gray[y1:y2, x1:x2], (MOUTH_ROI, MOUTH_ROI), interpolation=cv2.INTER_LINEAR)
        got = ours[0, t].numpy()
        # OpenCV replicates the sub-image's edge; we sample the real neighbours: only the
        # outermost ring of output pixels may differ
        assert np.abs(got[1:-1, 1:-1] - ref[1:-1, 1:-1]).max() < 1e-5
        assert np.abs(got - ref).mean() < 2e-3
    # and it is not the same as a crop somewhere else in the face
    shifted = crop_mouths(frames, boxes - torch.tensor([0.0, 30.0, 0.0, 30.0]), MOUTH_ROI)
    assert (shifted - ours).abs().mean() > 0.03


def test_gray_is_bt601():
    rgb = torch.rand(2, 3, 4, 5)
    expected = cv2.cvtColor(rgb[1].permute(1, 2, 0).numpy(), cv2.COLOR_RGB2GRAY)
    assert np.allclose(rgb_to_gray(rgb)[1].numpy(), expected, atol=1e-5)


def test_crop_validation():
    frames = torch.rand(1, 2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"\(B, T, 4\)"):
        crop_mouths(frames, torch.zeros(1, 3, 4), 8)
    with pytest.raises(ValueError, match="x2 > x1"):
        crop_mouths(frames, torch.tensor([[[4.0, 4, 4, 9], [1, 1, 9, 9]]]), 8)
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        crop_mouths(frames[:, :, :1], torch.zeros(1, 2, 4), 8)


def test_normalised_lrw_pixels_have_zero_mean_and_unit_spread():
    assert float(normalise_mouths(torch.tensor(MOUTH_MEAN))) == pytest.approx(0.0, abs=1e-7)
    assert float(normalise_mouths(torch.tensor(MOUTH_MEAN + MOUTH_STD))) == pytest.approx(1.0, abs=1e-6)
