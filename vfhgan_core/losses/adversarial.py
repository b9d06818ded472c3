"""Adversarial term of eq. 11 and the discriminator's objective.

Three formulations, all on raw discriminator logits (no sigmoid applied by the
caller); ``r`` = logits of real (GT) frames, ``f`` = logits of generated frames,
means over all elements:

=========  ==================================  ===========================================
kind       generator loss                      discriminator loss
=========  ==================================  ===========================================
vanilla    ``mean softplus(−f)`` = BCE(f, 1)   ``mean softplus(−r) + mean softplus(f)``
lsgan      ``mean (f − 1)²``                   ``mean (r − 1)² + mean f²``
hinge      ``−mean f``                         ``mean relu(1 − r) + mean relu(1 + f)``
=========  ==================================  ===========================================

The discriminator loss is the plain sum of its real and fake parts (no 1/2).
Multi-scale discriminators may pass a list of logit tensors: the loss is then
the mean over the list. :func:`r1_penalty` is the gradient penalty on real
frames of Mescheder et al. (2018).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AdversarialLossConfig", "AdversarialLoss", "r1_penalty", "ADVERSARIAL_KINDS"]

ADVERSARIAL_KINDS = ("vanilla", "lsgan", "hinge")

Logits = Union[torch.Tensor, Sequence[torch.Tensor]]


@dataclass(frozen=True)
class AdversarialLossConfig:
    """Settings of the adversarial term.

    Attributes:
        kind: ``"vanilla"`` (non-saturating BCE), ``"lsgan"`` or ``"hinge"``.
        r1_gamma: weight γ of the R1 penalty ``γ/2 · E‖∇_x D(x)‖²`` on real frames (0 = off).
    """

    kind: str = "vanilla"
    r1_gamma: float = 0.0


def _as_list(logits: Logits, name: str) -> list[torch.Tensor]:
    items = [logits] if isinstance(logits, torch.Tensor) else list(logits)
    if not items:
        raise ValueError(f"{name}: got an empty list of logits")
    for t in items:
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name}: logits must be float tensors")
    return items


class AdversarialLoss(nn.Module):
    """GAN losses on discriminator logits (see the module docstring for the formulas).

    Args:
        kind: ``"vanilla"``, ``"lsgan"`` or ``"hinge"``.

    Methods take logits of any shape (``(B, 1)``, patch maps ``(B, 1, h, w)``, or a list of such
    tensors for multi-scale discriminators) and return a scalar tensor.
    """

    def __init__(self, kind: str = "vanilla") -> None:
        super().__init__()
        if kind not in ADVERSARIAL_KINDS:
            raise ValueError(f"unknown adversarial loss {kind!r}; choose one of {', '.join(ADVERSARIAL_KINDS)}")
        self.kind = kind

    def _generator_term(self, f: torch.Tensor) -> torch.Tensor:
        if self.kind == "vanilla":
            return F.softplus(-f).mean()
        if self.kind == "lsgan":
            return (f - 1.0).square().mean()
        return -f.mean()

    def _discriminator_term(self, r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        if self.kind == "vanilla":
            return F.softplus(-r).mean() + F.softplus(f).mean()
        if self.kind == "lsgan":
            return (r - 1.0).square().mean() + f.square().mean()
        return F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()

    def generator_loss(self, fake_logits: Logits) -> torch.Tensor:
        """Loss of the generator: push the discriminator's logits of generated frames to "real"."""
        fakes = _as_list(fake_logits, "fake_logits")
        return torch.stack([self._generator_term(f) for f in fakes]).mean()

    def discriminator_loss(self, real_logits: Logits, fake_logits: Logits) -> torch.Tensor:
        """Loss of the discriminator (pass logits of *detached* generated frames)."""
        reals = _as_list(real_logits, "real_logits")
        fakes = _as_list(fake_logits, "fake_logits")
        if len(reals) != len(fakes):
            raise ValueError(f"{len(reals)} real but {len(fakes)} fake logit tensors")
        return torch.stack([self._discriminator_term(r, f) for r, f in zip(reals, fakes)]).mean()

    def forward(self, fake_logits: Logits) -> torch.Tensor:
        """Same as :meth:`generator_loss` (the term that enters eq. 11)."""
        return self.generator_loss(fake_logits)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


def r1_penalty(real_logits: Logits, real_inputs: torch.Tensor) -> torch.Tensor:
    """R1 gradient penalty ``mean_b ‖∂ Σ D(x_b) / ∂ x_b‖²`` on real inputs.

    Args:
        real_logits: discriminator logits computed from ``real_inputs`` (tensor or list).
        real_inputs: the real frames ``(B, ...)``; must have had ``requires_grad_(True)`` set
            *before* the discriminator was run on them.

    Returns:
        scalar tensor, differentiable w.r.t. the discriminator's parameters (``create_graph``);
        multiply by ``γ / 2`` yourself.
    """
    if not real_inputs.requires_grad:
        raise ValueError("r1_penalty needs real_inputs.requires_grad_(True) before the discriminator "
                         "is run on them")
    logits = _as_list(real_logits, "real_logits")
    total = sum(t.sum() for t in logits)
    (grad,) = torch.autograd.grad(total, real_inputs, create_graph=True)
    return grad.square().reshape(grad.shape[0], -1).sum(dim=1).mean()
