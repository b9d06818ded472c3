"""Fourier views of frames: what the app's frequency tab shows and how the high band is measured.

The metrics ``hf_error_db`` and ``hf_energy_ratio`` of the ``evaluate`` command
(:func:`high_frequency_scores`) and the band errors of the training curves
(:func:`band_spectral_error`) are computed here.

All functions work on the **luma** of one frame, a float64 ``(H, W)`` array in ``[0, 1]``:

* RGB input (numpy ``(H, W, 3)`` uint8 or float in ``[0, 1]``, torch ``(3, H, W)``) → the BT.601
  studio-swing Y of :func:`vfhgan_core.metrics.image.rgb_to_y` divided by 255 (so ``[16, 235] / 255``);
* grayscale input (numpy ``(H, W)``, torch ``(H, W)`` or ``(1, H, W)``): uint8 is divided by 255,
  float is used as is.

Spectra are the orthonormal 2-D DFT (``norm="ortho"``, the transform of the frequency loss,
:func:`vfhgan_core.losses.frequency.image_spectrum`), so ``Σ|F|² = Σ|x|²`` and white noise of
variance σ² has power σ² at every frequency. Frequencies are in cycles per pixel: each axis
spans ``[−0.5, 0.5)``; the radial frequency ``√(fx² + fy²)`` reaches 0.5 at the Nyquist limit
of the axes (and ~0.71 in the corners, which the radial functions leave out).
Display maps are ``fftshift``-ed (DC in the centre, at ``(H // 2, W // 2)``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from vfhgan_core.losses.frequency import frequency_weight_matrix, image_spectrum, spectral_error

from .image import ImageLike, rgb_to_y

__all__ = [
    "luma",
    "log_magnitude_spectrum",
    "radial_frequency",
    "radial_power_spectrum",
    "ring_counts",
    "high_frequency_energy",
    "high_frequency_scores",
    "spectral_error_map",
    "ffl_weight_map",
    "band_edges",
    "band_spectral_error",
    "bands_above",
    "mean_above",
]

def luma(img: ImageLike) -> np.ndarray:
    """The frame as a float64 ``(H, W)`` luma array in ``[0, 1]`` (see the module docstring)."""
    if isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        if t.dim() == 3 and t.shape[0] == 1:
            t = t[0]
        if t.dim() == 3 and t.shape[0] == 3:
            return rgb_to_y(t) / 255.0
        if t.dim() != 2:
            raise ValueError(f"expected one frame (3, H, W), (1, H, W) or (H, W), got {tuple(img.shape)}")
        arr = t.numpy()
    elif isinstance(img, np.ndarray):
        if img.ndim == 3 and img.shape[-1] == 3:
            return rgb_to_y(img) / 255.0
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim != 2:
            raise ValueError(f"expected one frame (H, W, 3) or (H, W), got {img.shape}")
        arr = img
    else:
        raise TypeError(f"expected a numpy array or torch tensor, got {type(img).__name__}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float64)
    raise TypeError(f"grayscale frames must be uint8 or float, got {arr.dtype}")


def _spectrum(y: np.ndarray) -> torch.Tensor:
    """Complex ortho DFT ``(H, W)`` of a luma array, via the frequency loss's transform."""
    return image_spectrum(torch.from_numpy(y)[None, None])[0, 0, 0]


def log_magnitude_spectrum(img: ImageLike) -> np.ndarray:
    """Centred ``log(1 + |F|)`` of the frame's luma: float64 ``(H, W)``, DC at ``(H//2, W//2)``."""
    mag = _spectrum(luma(img)).abs().numpy()
    return np.log1p(np.fft.fftshift(mag))


def radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    """``√(fx² + fy²)`` in cycles/pixel for every DFT bin of an ``(H, W)`` frame (unshifted order)."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    return np.sqrt(fy ** 2 + fx ** 2)


def radial_power_spectrum(img: ImageLike, n_bins: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthally averaged power spectrum ``mean |F|²`` over rings of radial frequency.

    Args:
        img: one frame (see the module docstring).
        n_bins: number of equal-width rings over ``[0, 0.5]`` cycles/pixel; default
            ``min(H, W) // 2`` (one DFT step per ring, so no ring is empty; ring 0 then holds
            only the DC term). More rings than that may leave rings empty (NaN power).

    Returns:
        ``(freqs, power)``: float64 arrays ``(n_bins,)``, ring centres in cycles/pixel and the
        mean power of the DFT bins in each ring. Bins beyond 0.5 (the corners) are left out.
    """
    y = luma(img)
    n = int(n_bins) if n_bins is not None else min(y.shape) // 2
    if n < 1:
        raise ValueError(f"n_bins must be at least 1 (frame {y.shape[1]}x{y.shape[0]}), got {n_bins}")
    power = (_spectrum(y).abs() ** 2).numpy().ravel()
    r = radial_frequency(y.shape).ravel()
    keep = r <= 0.5
    idx = np.minimum((r[keep] / 0.5 * n).astype(int), n - 1)
    sums = np.bincount(idx, weights=power[keep], minlength=n)
    counts = np.bincount(idx, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_power = sums / counts
    freqs = (np.arange(n) + 0.5) * (0.5 / n)
    return freqs, mean_power


def ring_counts(shape: tuple[int, int], n_bins: Optional[int] = None) -> np.ndarray:
    """How many DFT bins of an ``(H, W)`` frame each ring of :func:`radial_power_spectrum` averages.

    ``int64 (n_bins,)``; ``n_bins`` as there (default ``min(H, W) // 2``). Ring power × count is
    the ring's total power, for sums over a band.
    """
    n = int(n_bins) if n_bins is not None else min(shape) // 2
    r = radial_frequency(shape).ravel()
    r = r[r <= 0.5]
    return np.bincount(np.minimum((r / 0.5 * n).astype(int), n - 1), minlength=n)


def high_frequency_energy(img: ImageLike, band: tuple[float, float] = (0.25, 0.5),
                          mode: str = "fraction") -> float:
    """How much of the frame's spectrum lies in a radial frequency band.

    Args:
        img: one frame (see the module docstring).
        band: ``(low, high)`` radial frequencies in cycles/pixel, ``low ≤ r ≤ high``
            (default: the upper half of the band up to Nyquist, 0.25–0.5).
        mode: ``"fraction"``: power in the band / power of all non-DC frequencies (corners
            included), in ``[0, 1]``; ``"mean_log_power"``: mean of ``ln(|F|² + 1e-12)`` over
            the band's DFT bins (absolute level, comparable between frames of the same size).
    """
    low, high = float(band[0]), float(band[1])
    if not 0.0 <= low < high:
        raise ValueError(f"band must satisfy 0 <= low < high, got {band}")
    y = luma(img)
    power = (_spectrum(y).abs() ** 2).numpy()
    r = radial_frequency(y.shape)
    in_band = (r >= low) & (r <= high)
    if not in_band.any():
        raise ValueError(f"no DFT frequency of a {y.shape[1]}x{y.shape[0]} frame lies in band {band}")
    if mode == "fraction":
        total = power.sum() - power[0, 0]
        return float(power[in_band & (r > 0)].sum() / total) if total > 0 else 0.0
    if mode == "mean_log_power":
        return float(np.mean(np.log(power[in_band] + 1e-12)))
    raise ValueError(f"mode must be 'fraction' or 'mean_log_power', got {mode!r}")


def high_frequency_scores(sr: np.ndarray, gt: np.ndarray, band: tuple[float, float]) -> dict[str, float]:
    """Spectral fidelity of ``sr`` to ``gt`` (uint8 (T, H, W, 3) each) in a radial band.

    Returns ``hf_error_db`` (mean over frames and band rings of ``|10·log10(P_SR/P_GT)|``,
    where ``P`` is the mean power of the luma DFT in each one-bin-wide ring,
    :func:`radial_power_spectrum`) and ``hf_energy_ratio`` (band power of
    SR over band power of GT, summed over the clip).
    """
    h, w = gt.shape[1:3]
    n = min(h, w) // 2
    centres = (np.arange(n) + 0.5) * (0.5 / n)
    rings = np.flatnonzero((centres >= band[0]) & (centres <= band[1]))
    counts = ring_counts((h, w))[rings]

    def band_power(frames: np.ndarray) -> np.ndarray:
        return np.stack([radial_power_spectrum(f)[1][rings] for f in frames])  # (T, rings)

    p_sr, p_gt = band_power(sr), band_power(gt)
    eps = 1e-12
    error = np.abs(10.0 * np.log10((p_sr + eps) / (p_gt + eps)))
    return {
        "hf_error_db": float(error.mean()),
        "hf_energy_ratio": float((p_sr * counts).sum() / max((p_gt * counts).sum(), eps)),
    }


def _pair(sr: ImageLike, gt: ImageLike) -> tuple[torch.Tensor, torch.Tensor]:
    y_sr, y_gt = luma(sr), luma(gt)
    if y_sr.shape != y_gt.shape:
        raise ValueError(f"sr and gt frames must have the same size, got {y_sr.shape} and {y_gt.shape}")
    return torch.from_numpy(y_sr)[None, None], torch.from_numpy(y_gt)[None, None]


def spectral_error_map(sr: ImageLike, gt: ImageLike, log: bool = True) -> np.ndarray:
    """Centred ``|F_SR − F_GT|`` of the two frames' luma (``log(1 + ·)`` when ``log``).

    Returns float64 ``(H, W)``, DC at ``(H//2, W//2)``; 0 where the spectra agree. Computed with
    :func:`vfhgan_core.losses.frequency.spectral_error`, the distance the frequency loss uses.
    """
    a, b = _pair(sr, gt)
    err = np.fft.fftshift(spectral_error(a, b)[0, 0].numpy())
    return np.log1p(err) if log else err


def ffl_weight_map(sr: ImageLike, gt: ImageLike, alpha: float = 1.0, log_matrix: bool = False) -> np.ndarray:
    """Centred focal weight of the frequency loss for these two frames, float64 ``(H, W)`` in ``[0, 1]``.

    Exactly :func:`vfhgan_core.losses.frequency.frequency_weight_matrix` applied to the luma (the
    training loss applies it per RGB channel): 1 at the frequency the SR gets most wrong, 0 where
    it is right (all 0 for identical frames).
    """
    a, b = _pair(sr, gt)
    w = frequency_weight_matrix(a, b, alpha=alpha, log_matrix=log_matrix, batch_matrix=False)
    return np.fft.fftshift(w[0, 0].numpy())


def band_edges(n_bands: int) -> np.ndarray:
    """Edges of ``n_bands`` equal-width radial bands over ``[0, 0.5]`` cycles/pixel: float64 ``(n_bands + 1,)``."""
    if int(n_bands) != n_bands or n_bands < 1:
        raise ValueError(f"n_bands must be a positive integer, got {n_bands}")
    return np.linspace(0.0, 0.5, int(n_bands) + 1)


def band_spectral_error(pred: torch.Tensor, target: torch.Tensor, n_bands: int = 8) -> np.ndarray:
    """Relative spectral error of ``pred`` against ``target`` in each radial band, in dB.

    For every band ``[r_k, r_k+1)`` of :func:`band_edges` (the last one closed at 0.5; the
    corners beyond 0.5 are left out)::

        E_k = 10 · log10( Σ_band |F_pred − F_target|²  /  Σ_band |F_target|² )

    summed over every image and channel, with the orthonormal DFT of
    :func:`vfhgan_core.losses.frequency.image_spectrum`. Unlike the power-level error of
    :func:`high_frequency_scores` (``hf_error_db``), the phase counts: 0 dB means the band is as wrong as it is
    strong (e.g. missing altogether), −20 dB that 1 % of its energy is wrong. Lower is better.

    Args:
        pred, target: float images ``(B, C, H, W)`` of equal shape (any value range).
        n_bands: number of equal-width bands.

    Returns:
        float64 ``(n_bands,)``; a band holding no DFT bin, or no target energy, is NaN.
    """
    _check = pred.shape == target.shape and pred.dim() == 4
    if not _check:
        raise ValueError(f"pred and target must be (B, C, H, W) of equal shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    with torch.no_grad():
        fp = image_spectrum(pred.detach().float().cpu())[:, 0]
        ft = image_spectrum(target.detach().float().cpu())[:, 0]
        err = ((fp - ft).abs() ** 2).sum(dim=(0, 1)).double().numpy()   # (H, W)
        ref = (ft.abs() ** 2).sum(dim=(0, 1)).double().numpy()
    r = radial_frequency(tuple(pred.shape[-2:]))
    edges = band_edges(n_bands)
    keep = r <= 0.5
    idx = np.minimum(np.searchsorted(edges, r[keep], side="right") - 1, len(edges) - 2)
    e = np.bincount(idx, weights=err[keep], minlength=n_bands)
    p = np.bincount(idx, weights=ref[keep], minlength=n_bands)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 10.0 * np.log10(np.maximum(e, 1e-30) / p)
    out[~np.isfinite(out) | (p <= 0)] = np.nan
    return out


def bands_above(edges, start: float) -> np.ndarray:
    """Boolean mask of the bands (of :func:`band_edges`) whose lower edge is at or above ``start`` cycles/pixel."""
    return np.asarray(edges, dtype=float)[:-1] >= float(start) - 1e-9


def mean_above(values, edges, start: float) -> float:
    """Mean of the finite per-band ``values`` over :func:`bands_above` (NaN when there are none)."""
    sel = np.asarray(values, dtype=float)[bands_above(edges, start)]
    sel = sel[np.isfinite(sel)]
    return float(sel.mean()) if len(sel) else float("nan")
