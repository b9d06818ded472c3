"""Tests of vfhgan_core.losses.lipreading: the differentiable mouth crop and the lip-reading loss.

Frames are real: 128x128 face crops of a GRID clip (decoded with PyAV, cut at a fixed
square around speaker s1's face). The mouth box is given by hand and checked against
the SCRFD detector's mouth keypoints; the crop is checked against OpenCV.
"""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import insightface
import numpy as np
import pytest
import torch
from torch import nn

from vfhgan_core.losses.lipreading import (
    DEFAULT_FEATURES,
    LipReadingLoss,
    crop_mouths,
    rgb_to_gray,
)
from vfhgan_core.models.lipreading import MOUTH_CROP, MOUTH_ROI, LipReader, LipReaderConfig

#: square face region of speaker s1 in the 360x288 GRID frames (x1, y1, x2, y2), 160 px
FACE = (75, 95, 235, 255)
#: hand-given mouth box in the 128x128 face crop (x1, y1, x2, y2)
MOUTH_BOX = (44, 72, 92, 120)


@pytest.fixture(scope="module")
def grid_frames(grid_clip: Path) -> tuple[np.ndarray, np.ndarray]:
    """First 10 frames of a GRID clip: the original RGB frames and their 128x128 face crops."""
    originals, crops = [], []
    x1, y1, x2, y2 = FACE
    with av.open(str(grid_clip)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            originals.append(rgb)
            crops.append(cv2.resize(rgb[y1:y2, x1:x2], (128, 128), interpolation=cv2.INTER_AREA))
            if len(crops) == 10:
                break
    return np.stack(originals), np.stack(crops)


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """(N, 128, 128, 3) uint8 -> (N, 3, 128, 128) float in [0, 1]."""
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0


@pytest.fixture(scope="module")
def sequences(grid_frames) -> tuple[torch.Tensor, torch.Tensor]:
    """Two real 5-frame sequences (2, 5, 3, 128, 128) in [0, 1] and their mouth boxes (2, 5, 4)."""
    frames = to_tensor(grid_frames[1]).reshape(2, 5, 3, 128, 128)
    boxes = torch.tensor(MOUTH_BOX, dtype=torch.float32).expand(2, 5, 4).clone()
    return frames, boxes


@pytest.fixture(scope="module")
def reader() -> LipReader:
    torch.manual_seed(0)
    return LipReader(LipReaderConfig.grid()).eval()


def blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (B, T, 3, H, W) frames with OpenCV (independent of the code under test)."""
    arr = frames.permute(0, 1, 3, 4, 2).numpy()
    out = np.stack([[cv2.GaussianBlur(f, (0, 0), sigma) for f in seq] for seq in arr])
    return torch.from_numpy(out).permute(0, 1, 4, 2, 3).contiguous()


def test_hand_given_box_is_on_the_mouth(grid_frames, detector_model):
    """The SCRFD mouth corners of the original frame fall inside the hand-given box of the crop."""
    detector = insightface.model_zoo.get_model(str(detector_model), providers=["CPUExecutionProvider"])
    detector.prepare(ctx_id=-1, input_size=(640, 640), det_thresh=0.5)
    _, keypoints = detector.detect(np.ascontiguousarray(grid_frames[0][0][:, :, ::-1]), input_size=(640, 640))
    scale = 128 / (FACE[2] - FACE[0])
    corners = (keypoints[0][3:5] - np.array(FACE[:2])) * scale  # mouth corners in crop pixels
    x1, y1, x2, y2 = MOUTH_BOX
    assert np.all((corners[:, 0] > x1) & (corners[:, 0] < x2) & (corners[:, 1] > y1) & (corners[:, 1] < y2))
    centre = corners.mean(0)
    assert abs(centre[0] - (x1 + x2) / 2) < 6 and abs(centre[1] - (y1 + y2) / 2) < 6


def test_crop_matches_opencv_on_real_face_crop(grid_frames):
    crops = grid_frames[1][:2]
    frames = to_tensor(crops)[None]  # (1, 2, 3, 128, 128)
    boxes = torch.tensor(MOUTH_BOX, dtype=torch.float32).expand(1, 2, 4)
    ours = crop_mouths(frames, boxes, MOUTH_ROI)
    assert ours.shape == (1, 2, MOUTH_ROI, MOUTH_ROI)
    x1, y1, x2, y2 = MOUTH_BOX
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


def test_loss_gradients_reach_sr_only(reader, sequences):
    frames, boxes = sequences
    loss_fn = LipReadingLoss(reader)
    assert loss_fn.feature_names == DEFAULT_FEATURES
    sr = blur(frames, 1.5).requires_grad_(True)
    gt = frames.clone().requires_grad_(True)
    loss = loss_fn(sr, gt, boxes)
    assert loss.dim() == 0 and loss.item() > 0
    loss.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert gt.grad is None
    assert all(p.grad is None and not p.requires_grad for p in reader.parameters())
    # the gradient lives in the mouth box (plus the bilinear support of its edge pixels)
    x1, y1, x2, y2 = MOUTH_BOX
    outside = sr.grad.clone()
    outside[..., y1 - 1:y2 + 1, x1 - 1:x2 + 1] = 0
    assert outside.abs().max() == 0
    inner = sr.grad[..., y1 + 5:y2 - 5, x1 + 5:x2 - 5]
    assert (inner != 0).float().mean() > 0.9


def test_loss_is_zero_for_identical_frames_and_grows_with_blur(reader, sequences):
    frames, boxes = sequences
    loss_fn = LipReadingLoss(reader)
    with torch.no_grad():
        assert loss_fn(frames, frames.clone(), boxes).item() == 0.0
        losses = [loss_fn(blur(frames, s), frames, boxes).item() for s in (0.6, 1.2, 2.5)]
    assert 0 < losses[0] < losses[1] < losses[2]


def test_loss_only_sees_the_mouth(reader, sequences):
    """Changing pixels away from the mouth box does not change the loss; changing the mouth does."""
    frames, boxes = sequences
    loss_fn = LipReadingLoss(reader)
    edited = frames.clone()
    edited[..., :40, :] = 0.0  # forehead and eyes
    mouth = frames.clone()
    mouth[..., 90:100, 55:80] = 0.0  # a black bar over the lips
    with torch.no_grad():
        assert loss_fn(edited, frames, boxes).item() == 0.0
        assert loss_fn(mouth, frames, boxes).item() > 0.0


def test_lip_reader_stays_frozen_in_eval_mode(reader):
    loss_fn = LipReadingLoss(reader)
    parent = nn.ModuleDict({"lip": loss_fn, "other": nn.Linear(2, 2)})
    parent.train()
    assert loss_fn.training and parent["other"].training
    assert not reader.training and not any(m.training for m in reader.modules())
    assert not any(p.requires_grad for p in reader.parameters())
    loss_fn.train(False)
    assert not loss_fn.training and not reader.training


def test_mouth_inputs_are_the_lip_reader_format(reader, sequences):
    frames, boxes = sequences
    loss_fn = LipReadingLoss(reader)
    x = loss_fn.mouth_inputs(frames, boxes)
    assert x.shape == (2, 1, 5, MOUTH_CROP, MOUTH_CROP)
    roi = crop_mouths(frames, boxes, MOUTH_ROI)
    assert torch.allclose(x[:, 0] * 0.165 + 0.421, roi[..., 4:92, 4:92], atol=1e-6)


def test_feature_weights_and_validation(reader, sequences):
    frames, boxes = sequences
    sr = blur(frames, 1.5)
    with torch.no_grad():
        single = [LipReadingLoss(reader, feature_names=(n,))(sr, frames, boxes).item()
                  for n in ("trunk.layer1", "trunk.layer4")]
        mixed = LipReadingLoss(reader, feature_names=("trunk.layer1", "trunk.layer4"),
                               feature_weights=(3.0, 1.0))(sr, frames, boxes).item()
    assert mixed == pytest.approx((3 * single[0] + single[1]) / 4, rel=1e-5)
    with pytest.raises(ValueError, match="unknown feature"):
        LipReadingLoss(reader, feature_names=("trunk.layer9",))
    with pytest.raises(ValueError, match="feature_weights"):
        LipReadingLoss(reader, feature_names=("trunk.layer1",), feature_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="crop_size"):
        LipReadingLoss(reader, roi_size=64, crop_size=88)
    with pytest.raises(ValueError, match="same shape"):
        LipReadingLoss(reader)(sr[:, :3], frames, boxes)
