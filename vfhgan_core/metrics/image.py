"""Frame-by-frame quality metrics: the paper's PSNR-Y, SSIM-Y and ERQA, and our mouth PSNR.

Their names, labels and formats in reports are in :mod:`vfhgan_core.metrics.vocabulary`; the clip-level
temporal flicker is in :mod:`vfhgan_core.metrics.temporal`, which reads frames the same way.

Inputs (every function; ``sr`` and ``gt`` must have the same shape):

* ``numpy.ndarray`` ``uint8`` RGB, channel-last: one image ``(H, W, 3)`` or a batch / clip
  ``(N, H, W, 3)``;
* ``numpy.ndarray`` float RGB in ``[0, 1]``, channel-last, same shapes;
* ``torch.Tensor`` RGB, channel-first as the networks produce it: ``(3, H, W)`` or
  ``(N, 3, H, W)``, float in ``[0, 1]`` or ``uint8``.

Float inputs are clamped to ``[0, 1]`` and quantised to 8 bits (``round(255·x)``), exactly
as a written frame would be, so a score does not depend on whether the network output or
the saved video is measured.

Conventions:

* **Y channel**: ITU-R BT.601 luma of "studio-swing" YCbCr, as MATLAB's ``rgb2ycbcr``
  (``Y = 16 + (65.481·R + 128.553·G + 24.966·B) / 255`` for 8-bit ``R, G, B``; black → 16,
  white → 235). This is the convention behind published face/video SR numbers (their
  evaluation scripts are MATLAB or ports of it), so our PSNR/SSIM are comparable with the
  paper's Table 3. Y is kept as float (not rounded to integers as MATLAB's ``uint8`` output
  is; the difference is ~0.01 dB).
* **PSNR-Y**: ``10·log10(255² / MSE)`` on Y (peak 255, the 8-bit range, as is customary),
  ``inf`` for identical images. For batches: the mean of per-frame values.
* **SSIM-Y**: Wang et al.'s SSIM on Y with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01,
  K2 = 0.03, L = 255, population covariances, averaged over the window positions that lie
  fully inside the image — the MATLAB reference ``ssim_index`` and
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)``. Mean over frames for batches.
* **ERQA**: the PyPI ``erqa`` package (MSU's Edge Restoration Quality Assessment) on uint8 BGR
  frames: edges by Canny(100, 200) on both images after a global shift compensation of up to
  ±3 px; an SR edge pixel counts if a GT edge lies within ±1 px; score = F1 in ``[0, 1]``.
  ``version="1.0"`` (the package's Python default, and the version of the paper's time) or
  ``"1.1"`` (``penalize_wider_edges``: each GT edge pixel can match only one SR edge pixel;
  the package's command-line default). Mean over frames.
* **Mouth PSNR** (ours): PSNR-Y inside a mouth box per frame.
"""
from __future__ import annotations

import functools
from typing import Union

import numpy as np
import torch
from scipy import ndimage

from .vocabulary import ERQA_VERSION

__all__ = [
    "ImageLike",
    "ERQA_VERSIONS",
    "to_uint8_rgb",
    "rgb_to_y",
    "psnr_y",
    "ssim_y",
    "erqa",
    "mouth_psnr",
]

ImageLike = Union[np.ndarray, torch.Tensor]

#: versions accepted by :func:`erqa` (both supported by erqa 1.1.x)
ERQA_VERSIONS = ("1.0", "1.1")

# BT.601 studio-swing luma, for R, G, B in [0, 1] (MATLAB rgb2ycbcr)
_Y_COEFFS = np.array([65.481, 128.553, 24.966])
_Y_OFFSET = 16.0


def to_uint8_rgb(img: ImageLike) -> np.ndarray:
    """Convert any accepted input (see the module docstring) to ``uint8`` ``(N, H, W, 3)`` RGB.

    Single images get ``N = 1``. Raises ``ValueError``/``TypeError`` for other shapes or types.
    """
    if isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[1] != 3:
            raise ValueError(f"tensors must be RGB (3, H, W) or (N, 3, H, W), got {tuple(img.shape)}")
        arr = t.permute(0, 2, 3, 1).numpy()
    elif isinstance(img, np.ndarray):
        arr = img[None] if img.ndim == 3 else img
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise ValueError(f"arrays must be RGB (H, W, 3) or (N, H, W, 3), got {img.shape}")
    else:
        raise TypeError(f"expected a numpy array or torch tensor, got {type(img).__name__}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        return np.round(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    raise TypeError(f"images must be uint8 (0-255) or float (0-1), got {arr.dtype}")


def _y_batch(img: ImageLike) -> np.ndarray:
    """Y of every frame, float64 ``(N, H, W)``."""
    rgb = to_uint8_rgb(img).astype(np.float64) / 255.0
    return rgb @ _Y_COEFFS + _Y_OFFSET


def rgb_to_y(img: ImageLike) -> np.ndarray:
    """BT.601 studio-swing luma (MATLAB ``rgb2ycbcr``'s Y), float64 in ``[16, 235]``.

    Returns ``(H, W)`` for one image, ``(N, H, W)`` for a batch (numpy ``(N, H, W, 3)`` or torch
    ``(N, 3, H, W)``). Not rounded.
    """
    y = _y_batch(img)
    single = (isinstance(img, np.ndarray) and img.ndim == 3) or (isinstance(img, torch.Tensor) and img.dim() == 3)
    return y[0] if single else y


def _pair_y(sr: ImageLike, gt: ImageLike, crop_border: int) -> tuple[np.ndarray, np.ndarray]:
    if tuple(sr.shape) != tuple(gt.shape):
        raise ValueError(f"sr and gt must have the same shape, got {tuple(sr.shape)} and {tuple(gt.shape)}")
    y_sr, y_gt = _y_batch(sr), _y_batch(gt)
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        c = crop_border
        if 2 * c >= min(y_sr.shape[1:]):
            raise ValueError(f"crop_border {c} leaves nothing of a {y_sr.shape[1]}x{y_sr.shape[2]} image")
        y_sr, y_gt = y_sr[:, c:-c, c:-c], y_gt[:, c:-c, c:-c]
    return y_sr, y_gt


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(255.0 ** 2 / mse)


def _reduce(values: list[float], per_frame: bool) -> Union[float, np.ndarray]:
    arr = np.asarray(values, dtype=np.float64)
    return arr if per_frame else float(arr.mean())


def psnr_y(sr: ImageLike, gt: ImageLike, crop_border: int = 0,
           per_frame: bool = False) -> Union[float, np.ndarray]:
    """PSNR on the Y channel in dB (peak 255); ``inf`` for identical images.

    Args:
        sr, gt: images or batches of equal shape (see the module docstring).
        crop_border: pixels removed from every side before measuring (0: whole image).
        per_frame: return a float64 array ``(N,)`` instead of the mean over frames.
    """
    y_sr, y_gt = _pair_y(sr, gt, crop_border)
    return _reduce([_psnr(a, b) for a, b in zip(y_sr, y_gt)], per_frame)


@functools.lru_cache(maxsize=None)
def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    w = np.exp(-(x ** 2) / (2.0 * sigma ** 2))
    return w / w.sum()


def _ssim(a: np.ndarray, b: np.ndarray, size: int = 11, sigma: float = 1.5) -> float:
    """SSIM of two float64 (H, W) images with range 255, 'valid' Gaussian windows."""
    w = _gaussian_window(size, sigma)

    def blur(x: np.ndarray) -> np.ndarray:  # separable Gaussian, then keep fully-inside windows
        x = ndimage.correlate1d(x, w, axis=0, mode="reflect")
        x = ndimage.correlate1d(x, w, axis=1, mode="reflect")
        r = size // 2
        return x[r:-r, r:-r]

    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def ssim_y(sr: ImageLike, gt: ImageLike, crop_border: int = 0,
           per_frame: bool = False) -> Union[float, np.ndarray]:
    """SSIM on the Y channel (Gaussian 11×11, σ 1.5; MATLAB/skimage convention), in ``[−1, 1]``.

    Args:
        sr, gt: images or batches of equal shape, at least 11×11 after cropping.
        crop_border: pixels removed from every side before measuring.
        per_frame: return a float64 array ``(N,)`` instead of the mean.
    """
    y_sr, y_gt = _pair_y(sr, gt, crop_border)
    if min(y_sr.shape[1:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {y_sr.shape[1]}x{y_sr.shape[2]}")
    return _reduce([_ssim(a, b) for a, b in zip(y_sr, y_gt)], per_frame)


@functools.lru_cache(maxsize=None)
def _erqa_metric(version: str):
    import erqa as erqa_pkg

    return erqa_pkg.ERQA(version=version)


def erqa(sr: ImageLike, gt: ImageLike, version: str = ERQA_VERSION,
         per_frame: bool = False) -> Union[float, np.ndarray]:
    """ERQA edge-restoration score in ``[0, 1]`` (1 = every edge restored; PyPI ``erqa``).

    Args:
        sr, gt: RGB images or batches of equal shape (converted to uint8 BGR for the package).
        version: ``"1.0"`` (default: the paper's era, the package's Python default) or ``"1.1"``
            (``penalize_wider_edges``).
        per_frame: return a float64 array ``(N,)`` instead of the mean.

    Identical images with edges score 1; images without any Canny edge score 0 (the
    package's convention).
    """
    if version not in ERQA_VERSIONS:
        raise ValueError(f"ERQA version must be one of {ERQA_VERSIONS}, got {version!r}")
    if tuple(sr.shape) != tuple(gt.shape):
        raise ValueError(f"sr and gt must have the same shape, got {tuple(sr.shape)} and {tuple(gt.shape)}")
    metric = _erqa_metric(version)
    sr8, gt8 = to_uint8_rgb(sr), to_uint8_rgb(gt)
    scores = [float(metric(np.ascontiguousarray(a[..., ::-1]), np.ascontiguousarray(b[..., ::-1])))
              for a, b in zip(sr8, gt8)]
    return _reduce(scores, per_frame)


def mouth_psnr(sr: ImageLike, gt: ImageLike, boxes, per_frame: bool = False) -> Union[float, np.ndarray]:
    """PSNR-Y (dB) inside a mouth box of every frame.

    Args:
        sr, gt: images or batches of equal shape.
        boxes: ``(x0, y0, x1, y1)`` in pixels of ``sr``/``gt`` (end exclusive), one box for all
            frames (shape ``(4,)``) or one per frame (``(N, 4)``). Boxes are rounded to integers
            and clipped to the image.
        per_frame: return a float64 array ``(N,)`` instead of the mean.
    """
    y_sr, y_gt = _pair_y(sr, gt, 0)
    n, h, w = y_sr.shape
    b = np.asarray(boxes, dtype=np.float64)
    if b.shape == (4,):
        b = np.broadcast_to(b, (n, 4))
    if b.shape != (n, 4):
        raise ValueError(f"boxes must have shape (4,) or ({n}, 4) as (x0, y0, x1, y1), got {b.shape}")
    values = []
    for i, (x0, y0, x1, y1) in enumerate(np.rint(b).astype(int)):
        x0, x1 = max(0, x0), min(w, x1)
        y0, y1 = max(0, y0), min(h, y1)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"mouth box {tuple(b[i])} of frame {i} is empty inside a {w}x{h} image")
        values.append(_psnr(y_sr[i, y0:y1, x0:x1], y_gt[i, y0:y1, x0:x1]))
    return _reduce(values, per_frame)
