"""Weighted Fourier frequency loss (the paper's eq. 6–10, i.e. the focal frequency loss).

The paper's weighted frequency loss is the focal frequency loss of Jiang et
al. (ICCV 2021). For a prediction ``x̂`` and a target ``x`` (float tensors of
shape ``(B, C, H, W)``)::

    F̂ = fft2(x̂, norm="ortho"),  F = fft2(x, norm="ortho")        per channel (and per patch)
    d(u, v) = |F̂(u, v) − F(u, v)|                                  spectral distance
    w(u, v) = d^α  →  optionally log(w + 1)  →  w / max(w)          the "focal" weight
              (max per sample, patch and channel, or over the whole batch),
              NaN → 0 (happens when x̂ == x), clamped to [0, 1], detached
    loss    = loss_weight · mean(w · d²)

With ``patch_factor = p`` the image is cut into a ``p × p`` grid of patches and
each patch gets its own spectrum (so ``H`` and ``W`` must be multiples of
``p``). With ``ave_spectrum`` the spectra are averaged over the batch before
the distance is taken.

The weight matrix is what makes the loss "focus" on the frequencies the
generator finds hard: frequencies that are already right get weights near 0,
the worst one gets 1. :func:`frequency_weight_matrix` (the function the loss
uses) and :func:`spectral_error` are public so the app and
:mod:`vfhgan_core.metrics.spectral` can show exactly what the loss sees.

Numerically this module agrees with the PyPI package ``focal-frequency-loss``
0.3.0 (the tests use it as the reference); the code is our own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

__all__ = [
    "FrequencyLossConfig",
    "FocalFrequencyLoss",
    "image_spectrum",
    "frequency_weight_matrix",
    "spectral_error",
]


@dataclass(frozen=True)
class FrequencyLossConfig:
    """Settings of :class:`FocalFrequencyLoss` (defaults: the paper, α = 1).

    Attributes:
        loss_weight: factor the loss is multiplied by.
        alpha: exponent α of the weight ``|F̂ − F|^α``.
        patch_factor: the image is split into ``patch_factor²`` patches, each with its own spectrum.
        ave_spectrum: average the spectra over the batch before comparing them.
        log_matrix: use ``log(w + 1)`` before normalising the weight.
        batch_matrix: normalise the weight by its maximum over the whole batch instead of
            per sample, patch and channel.
    """

    loss_weight: float = 1.0
    alpha: float = 1.0
    patch_factor: int = 1
    ave_spectrum: bool = False
    log_matrix: bool = False
    batch_matrix: bool = False


def _check_images(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {x.dtype}")


def image_spectrum(x: torch.Tensor, patch_factor: int = 1) -> torch.Tensor:
    """2-D orthonormal DFT of every channel of every patch.

    Args:
        x: float images ``(B, C, H, W)`` (any value range; float16/bfloat16 are computed in
            float32).
        patch_factor: split ``H`` and ``W`` into ``patch_factor`` equal parts each; both must
            be divisible by it.

    Returns:
        complex tensor ``(B, P, C, H / p, W / p)`` with ``P = p²`` patches in row-major order
        (top-left patch first). Frequencies are in ``torch.fft`` order (DC at index 0, not
        shifted). ``norm="ortho"`` makes the transform unitary (Parseval holds).
    """
    _check_images(x, "x")
    p = int(patch_factor)
    if p < 1:
        raise ValueError(f"patch_factor must be a positive integer, got {patch_factor}")
    b, c, h, w = x.shape
    if h % p or w % p:
        raise ValueError(
            f"patch_factor {p} must divide the image height and width, got {h}x{w}; "
            "crop or pad the images, or choose another patch_factor"
        )
    ph, pw = h // p, w // p
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()  # half-precision FFTs are limited (CPU: none; CUDA: power-of-2 sizes only)
    # (B, C, p, ph, p, pw) -> (B, p, p, C, ph, pw) -> (B, p*p, C, ph, pw): row-major patch order
    patches = x.reshape(b, c, p, ph, p, pw).permute(0, 2, 4, 1, 3, 5).reshape(b, p * p, c, ph, pw)
    return torch.fft.fft2(patches, norm="ortho")


def _as_spectra(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Return complex spectra; real (B, C, H, W) images are transformed first (flag True)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    if pred.is_complex() != target.is_complex():
        raise TypeError("pass either two complex spectra or two real image tensors, not a mix")
    if pred.is_complex():
        return pred, target, False
    return image_spectrum(pred), image_spectrum(target), True


def spectral_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Spectral distance ``|F̂ − F|`` at every frequency.

    Args:
        pred, target: either real float images ``(B, C, H, W)`` (transformed with
            :func:`image_spectrum`, one patch) or complex spectra of equal shape, e.g. from
            :func:`image_spectrum`.

    Returns:
        real non-negative tensor: ``(B, C, H, W)`` for images, the spectra's shape otherwise
        (unshifted: DC at ``[..., 0, 0]``). Differentiable (zero gradient where the spectra agree).
    """
    fp, ft, from_images = _as_spectra(pred, target)
    dist = (fp - ft).abs()
    return dist[:, 0] if from_images else dist


def frequency_weight_matrix(
    pred: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 1.0,
    log_matrix: bool = False,
    batch_matrix: bool = False,
) -> torch.Tensor:
    """The focal weight ``w = normalise(|F̂ − F|^α)`` in ``[0, 1]`` (detached).

    Args:
        pred, target: real float images ``(B, C, H, W)`` or complex spectra of equal shape
            (the last two dimensions are the frequencies; :class:`FocalFrequencyLoss` passes
            ``(B, P, C, h, w)`` spectra from :func:`image_spectrum`).
        alpha: exponent α.
        log_matrix: apply ``log(w + 1)`` before normalising.
        batch_matrix: divide by the maximum over the whole tensor; otherwise by the maximum
            of each 2-D spectrum (per sample, patch and channel).

    Returns:
        real tensor in ``[0, 1]``, shape ``(B, C, H, W)`` for images or the spectra's shape,
        no gradient. Spectra with zero error (``pred == target``) get all-zero weights
        (0/0 → NaN → 0).
    """
    with torch.no_grad():
        fp, ft, from_images = _as_spectra(pred.detach(), target.detach())
        diff = fp - ft
        w = torch.sqrt(diff.real.square() + diff.imag.square()) ** alpha
        if log_matrix:
            w = torch.log(w + 1.0)
        if batch_matrix:
            w = w / w.max()
        else:
            w = w / w.amax(dim=(-2, -1), keepdim=True)
        w = torch.where(torch.isnan(w), torch.zeros_like(w), w)
        w = w.clamp(0.0, 1.0)
    return w[:, 0] if from_images else w


class FocalFrequencyLoss(nn.Module):
    """Weighted Fourier frequency loss, eq. 6–10 of the paper (Jiang et al.'s focal frequency loss).

    Args:
        loss_weight: factor the loss is multiplied by.
        alpha: exponent α of the weight matrix (paper: 1).
        patch_factor: split each image into ``patch_factor × patch_factor`` patches.
        ave_spectrum: compare batch-averaged spectra.
        log_matrix: ``log(w + 1)`` weight.
        batch_matrix: normalise the weight over the whole batch.

    ``forward(pred, target, matrix=None)`` takes float images ``(B, C, H, W)`` of equal shape
    (any value range; the training code passes ``[0, 1]`` RGB) and returns a scalar tensor.
    ``matrix``, if given, replaces the computed weight: it must broadcast to the spectra's
    shape ``(B, P, C, H/p, W/p)`` and lie in ``[0, 1]``; it is detached.
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        alpha: float = 1.0,
        patch_factor: int = 1,
        ave_spectrum: bool = False,
        log_matrix: bool = False,
        batch_matrix: bool = False,
    ) -> None:
        super().__init__()
        if int(patch_factor) != patch_factor or patch_factor < 1:
            raise ValueError(f"patch_factor must be a positive integer, got {patch_factor}")
        self.loss_weight = float(loss_weight)
        self.alpha = float(alpha)
        self.patch_factor = int(patch_factor)
        self.ave_spectrum = bool(ave_spectrum)
        self.log_matrix = bool(log_matrix)
        self.batch_matrix = bool(batch_matrix)

    @classmethod
    def from_config(cls, config: FrequencyLossConfig) -> "FocalFrequencyLoss":
        """Build the loss from its :class:`FrequencyLossConfig`."""
        return cls(
            loss_weight=config.loss_weight,
            alpha=config.alpha,
            patch_factor=config.patch_factor,
            ave_spectrum=config.ave_spectrum,
            log_matrix=config.log_matrix,
            batch_matrix=config.batch_matrix,
        )

    def config(self) -> FrequencyLossConfig:
        """The settings of this loss as a :class:`FrequencyLossConfig`."""
        return FrequencyLossConfig(
            loss_weight=self.loss_weight,
            alpha=self.alpha,
            patch_factor=self.patch_factor,
            ave_spectrum=self.ave_spectrum,
            log_matrix=self.log_matrix,
            batch_matrix=self.batch_matrix,
        )

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, matrix: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        _check_images(pred, "pred")
        _check_images(target, "target")
        if pred.shape != target.shape:
            raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                             f"and {tuple(target.shape)}")
        fp = image_spectrum(pred, self.patch_factor)
        ft = image_spectrum(target, self.patch_factor)
        if self.ave_spectrum:
            fp = fp.mean(dim=0, keepdim=True)
            ft = ft.mean(dim=0, keepdim=True)

        if matrix is None:
            weight = frequency_weight_matrix(
                fp, ft, alpha=self.alpha, log_matrix=self.log_matrix, batch_matrix=self.batch_matrix
            )
        else:
            weight = matrix.detach().to(dtype=fp.real.dtype, device=fp.device)
            if weight.numel() and (weight.min() < 0 or weight.max() > 1):
                raise ValueError(
                    "a given spectrum weight matrix must lie in [0, 1], got "
                    f"min {weight.min().item():.4g}, max {weight.max().item():.4g}"
                )

        diff = fp - ft
        distance = diff.real.square() + diff.imag.square()
        return (weight * distance).mean() * self.loss_weight

    def extra_repr(self) -> str:
        return (f"loss_weight={self.loss_weight}, alpha={self.alpha}, patch_factor={self.patch_factor}, "
                f"ave_spectrum={self.ave_spectrum}, log_matrix={self.log_matrix}, "
                f"batch_matrix={self.batch_matrix}")
