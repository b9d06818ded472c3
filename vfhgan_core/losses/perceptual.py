"""Perceptual term of eq. 11: VGG19 feature distance, or discriminator feature matching.

The paper's perceptual loss compares VGG19 activations (ImageNet weights) of
the restored and the ground-truth frames. ImageNet VGG19 weights cannot be
obtained on the project's build machines (DECISIONS.md §1), so two terms exist:

* :class:`PerceptualLoss` — ``Σ_l w_l · mean|φ_l(SR) − φ_l(GT)|`` over VGG19
  layers ``φ_l`` (L1 or L2), used when the user gives a weights file or URL;
* :class:`FeatureMatchingLoss` — ``mean_l mean|D_l(SR) − D_l(GT)|`` over the
  discriminator's intermediate feature maps (pix2pixHD's feature matching),
  which needs no pretrained network: the term we train with here.

:func:`resolve_perceptual` makes the choice explicit so the trainer can write
it into the run's config and log.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsNotFoundError
from ..models.vgg import VGGFeatures, _is_url

__all__ = [
    "PerceptualLossConfig",
    "PerceptualChoice",
    "PerceptualLoss",
    "FeatureMatchingLoss",
    "resolve_perceptual",
]

DEFAULT_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")


@dataclass(frozen=True)
class PerceptualLossConfig:
    """Settings of the perceptual term.

    Attributes:
        vgg_weights: path or URL of torchvision's VGG19 ImageNet weights; ``None`` → discriminator
            feature matching (see :func:`resolve_perceptual`).
        layers: VGG19 layer names compared (see :data:`vfhgan_core.models.vgg.VGG19_LAYER_NAMES`).
        layer_weights: one weight per layer; ``None`` → 1.0 each.
        criterion: ``"l1"`` (mean absolute) or ``"l2"`` (mean squared) feature distance.
    """

    vgg_weights: Optional[str] = None
    layers: tuple[str, ...] = DEFAULT_LAYERS
    layer_weights: Optional[tuple[float, ...]] = None
    criterion: str = "l1"


@dataclass(frozen=True)
class PerceptualChoice:
    """Which perceptual term a run uses, and why (JSON-friendly, for configs and logs).

    Attributes:
        kind: ``"vgg19"`` or ``"feature_matching"``.
        reason: one sentence for the log and the model card.
        vgg_weights: the path or URL the VGG weights come from (``None`` for feature matching).
    """

    kind: str
    reason: str
    vgg_weights: Optional[str] = None


def resolve_perceptual(vgg_weights: Optional[str | os.PathLike[str]]) -> PerceptualChoice:
    """Decide between the VGG19 perceptual loss and discriminator feature matching.

    * ``None`` or ``""`` → ``feature_matching`` (no ImageNet VGG19 weights given);
    * an existing local file → ``vgg19``;
    * an ``http(s)://`` URL → ``vgg19`` (it is downloaded, or taken from the torch hub cache,
      when :class:`PerceptualLoss` is built; an unreachable URL fails there, clearly);
    * a local path that does not exist → :class:`WeightsNotFoundError` (a typo must not
      silently switch the loss).
    """
    if vgg_weights is None or os.fspath(vgg_weights) == "":
        return PerceptualChoice(
            kind="feature_matching",
            reason="no ImageNet VGG19 weights were given, so the perceptual term is the L1 distance "
                   "between the discriminator's intermediate features of SR and GT frames",
        )
    src = os.fspath(vgg_weights)
    if _is_url(src):
        return PerceptualChoice(kind="vgg19", reason=f"VGG19 ImageNet weights from URL {src}",
                                vgg_weights=src)
    path = Path(src).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"VGG19 weights file not found: {path}. Fix the path, or leave the VGG weights unset "
            "to train with discriminator feature matching instead."
        )
    return PerceptualChoice(kind="vgg19", reason=f"VGG19 ImageNet weights from {path}",
                            vgg_weights=str(path))


def _distance(criterion: str):
    if criterion == "l1":
        return F.l1_loss
    if criterion in ("l2", "mse"):
        return F.mse_loss
    raise ValueError(f"criterion must be 'l1' or 'l2', got {criterion!r}")


class PerceptualLoss(nn.Module):
    """VGG19 feature distance ``Σ_l w_l · d(φ_l(pred), φ_l(target))``.

    Args:
        vgg_weights: path or URL of torchvision-layout VGG19 ImageNet weights (required; without
            them use :class:`FeatureMatchingLoss`, see :func:`resolve_perceptual`).
        layers: VGG19 layer names; the network is run only up to the deepest.
        layer_weights: one weight per layer (default 1.0 each).
        criterion: ``"l1"`` (mean absolute difference) or ``"l2"`` (mean squared difference),
            averaged over all elements of each layer.

    ``forward(pred, target)``: float RGB ``(B, 3, H, W)`` in ``[0, 1]`` (ImageNet normalisation
    is applied inside) → scalar. ``target`` features are computed without gradient; the VGG
    weights are frozen, so only ``pred`` receives gradients.
    """

    def __init__(
        self,
        vgg_weights: Optional[str | os.PathLike[str]],
        layers: Sequence[str] = DEFAULT_LAYERS,
        layer_weights: Optional[Sequence[float]] = None,
        criterion: str = "l1",
    ) -> None:
        super().__init__()
        if vgg_weights is None or os.fspath(vgg_weights) == "":
            raise WeightsNotFoundError(
                "PerceptualLoss needs VGG19 ImageNet weights (a path or URL); without them use "
                "FeatureMatchingLoss (resolve_perceptual(None) chooses it)"
            )
        layers = tuple(layers)
        weights = tuple(float(w) for w in layer_weights) if layer_weights is not None else (1.0,) * len(layers)
        if len(weights) != len(layers):
            raise ValueError(f"{len(layers)} layers but {len(weights)} layer weights were given")
        self.criterion = criterion
        self._distance = _distance(criterion)
        self.layer_weights = dict(zip(layers, weights))
        self.vgg_weights = os.fspath(vgg_weights)
        self.vgg = VGGFeatures(layers=layers, weights=vgg_weights)

    @classmethod
    def from_config(cls, config: PerceptualLossConfig) -> "PerceptualLoss":
        """Build from a :class:`PerceptualLossConfig` (``vgg_weights`` must be set)."""
        return cls(config.vgg_weights, config.layers, config.layer_weights, config.criterion)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                             f"and {tuple(target.shape)}")
        pred_feats = self.vgg(pred)
        with torch.no_grad():
            target_feats = self.vgg(target.detach())
        total = pred.new_zeros(())
        for name, w in self.layer_weights.items():
            total = total + w * self._distance(pred_feats[name], target_feats[name])
        return total


class FeatureMatchingLoss(nn.Module):
    """Discriminator feature matching: ``Σ_l w_l · mean|D_l(SR) − D_l(GT)|`` (L1).

    Args:
        layer_weights: one weight per feature map; ``None`` → ``1 / L`` each (the mean over
            layers).

    ``forward(sr_features, gt_features)``: two equally long sequences of tensors (the
    discriminator's intermediate activations for the SR and the GT frames, same shapes pairwise;
    leave out the final logits). GT features are detached, so gradients reach the generator
    through the SR features only. Returns a scalar.
    """

    def __init__(self, layer_weights: Optional[Sequence[float]] = None) -> None:
        super().__init__()
        self.layer_weights = tuple(float(w) for w in layer_weights) if layer_weights is not None else None

    def forward(self, sr_features: Sequence[torch.Tensor], gt_features: Sequence[torch.Tensor]) -> torch.Tensor:
        sr_features, gt_features = list(sr_features), list(gt_features)
        if not sr_features or len(sr_features) != len(gt_features):
            raise ValueError(f"need the same, non-zero number of SR and GT feature maps, got "
                             f"{len(sr_features)} and {len(gt_features)}")
        weights = self.layer_weights or (1.0 / len(sr_features),) * len(sr_features)
        if len(weights) != len(sr_features):
            raise ValueError(f"{len(weights)} layer weights for {len(sr_features)} feature maps")
        total = sr_features[0].new_zeros(())
        for i, (sr, gt, w) in enumerate(zip(sr_features, gt_features, weights)):
            if sr.shape != gt.shape:
                raise ValueError(f"feature map {i}: SR {tuple(sr.shape)} and GT {tuple(gt.shape)} differ in shape")
            total = total + w * F.l1_loss(sr, gt.detach())
        return total
