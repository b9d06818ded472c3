"""Tests of vfhgan_core.losses.lipreading: the lip-reading loss (eq. 4-5).

Frames are real: 128x128 face crops of a GRID clip with a hand-given mouth box
(``media_fixtures.s1_face_crops``; the crop itself is tested in test_faces_mouths.py).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from media_fixtures import S1_MOUTH_BOX, crops_to_tensor
from vfhgan_core.losses.lipreading import (
    DEFAULT_FEATURES,
    LipReadingLoss,
    crop_mouths,
)
from vfhgan_core.models.lipreading import MOUTH_CROP, MOUTH_ROI, LipReader, LipReaderConfig


@pytest.fixture(scope="module")
def sequences(s1_face_crops) -> tuple[torch.Tensor, torch.Tensor]:
    """Two real 5-frame sequences (2, 5, 3, 128, 128) in [0, 1] and their mouth boxes (2, 5, 4)."""
    frames = crops_to_tensor(s1_face_crops[1]).reshape(2, 5, 3, 128, 128)
    boxes = torch.tensor(S1_MOUTH_BOX, dtype=torch.float32).expand(2, 5, 4).clone()
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
    x1, y1, x2, y2 = S1_MOUTH_BOX
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
