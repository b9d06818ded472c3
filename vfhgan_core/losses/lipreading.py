"""Lip-reading loss (the paper's §3.2.1, eq. 4-5).

The mouth region is cut out of the super-resolved and the ground-truth frames with
a differentiable crop, turned to grayscale, normalised, and both sequences go
through a frozen lip reader (:class:`vfhgan_core.models.lipreading.LipReader`). The
loss is the L1 distance between their intermediate feature maps, averaged over the
positions of each map (eq. 5) and then over the chosen layers (weighted).

The crop and the normalisation are those of :mod:`vfhgan_core.faces.mouths`, the
project's single mouth-crop routine: the loss, the lip-reader training data and the
UI's mouth zooms all see exactly the same pixels.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vfhgan_core.faces.mouths import BT601_LUMA, MOUTH_CROP, MOUTH_ROI, crop_mouths, normalise_mouths, rgb_to_gray
from vfhgan_core.models.lipreading import LipReader

__all__ = ["BT601_LUMA", "DEFAULT_FEATURES", "LipReadingLoss", "crop_mouths", "rgb_to_gray"]

#: layers compared by default: the 3D front-end (eq. 4) and the four ResNet stages, all
#: spatial maps, as in eq. 5 (a mean over the x, y positions of each map)
DEFAULT_FEATURES: tuple[str, ...] = ("frontend", "trunk.layer1", "trunk.layer2", "trunk.layer3", "trunk.layer4")


class LipReadingLoss(nn.Module):
    """L1 distance between frozen lip-reader features of SR and ground-truth mouths (eq. 5).

    Args:
        lip_reader: a trained :class:`LipReader`; it is frozen here (no gradients to its
            parameters) and kept in eval mode, also when the parent module is trained.
        feature_names: layers to compare (names from :attr:`LipReader.FEATURE_NAMES`).
        feature_weights: one weight per layer (default: all 1); the loss is
            ``sum(w_l * L1_l) / sum(w_l)``.
        roi_size: side of the mouth crop, in pixels, before the centre crop (96 as in LRW).
        crop_size: side of the centre crop fed to the lip reader (88).
    """

    def __init__(self, lip_reader: LipReader, feature_names: Sequence[str] = DEFAULT_FEATURES,
                 feature_weights: Sequence[float] | None = None, roi_size: int = MOUTH_ROI,
                 crop_size: int = MOUTH_CROP) -> None:
        super().__init__()
        names = tuple(feature_names)
        if not names:
            raise ValueError("feature_names must name at least one layer")
        unknown = [n for n in names if n not in LipReader.FEATURE_NAMES]
        if unknown:
            raise ValueError(f"unknown feature name(s) {unknown}; choose from {LipReader.FEATURE_NAMES}")
        weights = tuple(float(w) for w in feature_weights) if feature_weights is not None else (1.0,) * len(names)
        if len(weights) != len(names):
            raise ValueError(f"got {len(weights)} feature_weights for {len(names)} feature_names")
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"feature_weights must be >= 0 with a positive sum, got {weights}")
        if not 1 <= crop_size <= roi_size:
            raise ValueError(f"crop_size ({crop_size}) must be in [1, roi_size={roi_size}]")
        self.feature_names = names
        self.feature_weights = weights
        self.roi_size = roi_size
        self.crop_size = crop_size
        self.lip_reader = lip_reader
        self.lip_reader.requires_grad_(False)
        self.lip_reader.eval()

    def train(self, mode: bool = True) -> "LipReadingLoss":
        """Set train mode on this module but keep the frozen lip reader in eval mode."""
        super().train(mode)
        self.lip_reader.eval()
        return self

    def mouth_inputs(self, frames: Tensor, mouth_boxes: Tensor) -> Tensor:
        """Lip-reader input from RGB frames: ``(B, T, 3, H, W)`` in [0, 1] -> ``(B, 1, T, crop, crop)``.

        Mouth crop to ``roi_size``, centre crop to ``crop_size``, grayscale, normalised.
        """
        crops = crop_mouths(frames, mouth_boxes, self.roi_size)
        start = (self.roi_size - self.crop_size) // 2
        crops = crops[..., start:start + self.crop_size, start:start + self.crop_size]
        return normalise_mouths(crops).unsqueeze(1)

    def forward(self, sr: Tensor, gt: Tensor, mouth_boxes: Tensor) -> Tensor:
        """Lip-reading loss of a batch of frame sequences.

        Args:
            sr: float ``(B, T, 3, H, W)`` generated frames in [0, 1] (T consecutive frames).
            gt: float ``(B, T, 3, H, W)`` ground-truth frames in [0, 1]; receives no gradient.
            mouth_boxes: float ``(B, T, 4)`` mouth boxes ``x1, y1, x2, y2`` in pixels of the
                frames (the same box is used for ``sr`` and ``gt``).

        Returns:
            scalar: weighted mean over layers of the mean absolute feature difference.
        """
        if sr.shape != gt.shape:
            raise ValueError(f"sr and gt must have the same shape, got {tuple(sr.shape)} and {tuple(gt.shape)}")
        with torch.no_grad():
            target = self.lip_reader.extract_features(self.mouth_inputs(gt, mouth_boxes), self.feature_names)
        output = self.lip_reader.extract_features(self.mouth_inputs(sr, mouth_boxes), self.feature_names)
        total = sr.new_zeros(())
        for name, weight in zip(self.feature_names, self.feature_weights):
            if weight:
                total = total + weight * F.l1_loss(output[name], target[name])
        return total / sum(self.feature_weights)
