"""Blind degradations: what happens to a real low-resolution face, drawn at random per clip.

The shipped variants learn from one clean degradation, bicubic ×4 downsampling
(:func:`vfhgan_core.faces.crops.degrade`). Real low-resolution faces (a 240p upload, a video
call, an old clip) are also blurred, noisy and compressed. Following the recipe of blind
super-resolution training (Real-ESRGAN's "high-order" degradations, here with real video
compression), :func:`degrade_clip` turns HR face crops into LR ones by a random chain:

1. **blur** at the HR resolution: an isotropic or anisotropic (rotated) Gaussian kernel;
2. **downsampling** ×``scale`` with a random method (antialiased bicubic, bicubic, area, bilinear);
3. **noise**: Gaussian (colour or grey) and/or Poisson (shot noise, its strength scaled);
4. **compression**: JPEG per frame (OpenCV) or real **H.264** over the whole clip at a random
   low bitrate (libx264 through PyAV, encoded and decoded in memory);
5. with probability ``second_order_prob`` a second, milder round of 1, 3 and 4 at the LR size.

With probability ``clean_prob`` a clip skips the chain and gets the clean degradation
(antialiased bicubic downsampling only), so a model trained on the chain keeps its skill on
clean inputs.

One draw of parameters serves every frame of the clip (a real video is degraded consistently
over time; H.264 also mixes neighbouring frames). The draw is a pure function of ``seed``, so a
training sample can be degraded the same way again (resumed runs, evaluation reports), and the
parameters come back with the frames so a report can say what was applied.
"""
from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DegradationConfig", "DegradationParams", "RESIZE_METHODS", "degrade_clip", "draw_params", "occlude_mouth"]

#: downsampling methods the chain draws from
RESIZE_METHODS = ("bicubic_antialias", "bicubic", "area", "bilinear")


def _pair(name: str, value, low: float, high: float) -> tuple[float, float]:
    a, b = (float(v) for v in value)
    if not low <= a <= b <= high:
        raise ValueError(f"{name} must be a range (min, max) with {low} <= min <= max <= {high}, got {value}")
    return a, b


def _prob(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} is a probability and must lie in [0, 1], got {value}")


@dataclass(frozen=True)
class DegradationConfig:
    """Ranges the blind degradation draws from (defaults: a moderate Real-ESRGAN-like mix for ×4 faces).

    Attributes:
        scale: downsampling factor (the HR size must be divisible by it).
        blur_prob: probability of the first-order blur.
        blur_sigma: Gaussian sigma range at the HR resolution, in HR pixels.
        anisotropic_prob: share of blurs with two different sigmas and a random angle.
        resize_methods: downsampling methods to draw from (:data:`RESIZE_METHODS`).
        gaussian_noise_prob: probability of Gaussian noise.
        gaussian_sigma: its standard deviation range, on the 0–255 scale.
        gray_noise_prob: share of Gaussian noise that is the same in the three channels.
        poisson_noise_prob: probability of Poisson (shot) noise.
        poisson_scale: its strength range (1 = photon counts equal to the 0–255 values / 10).
        jpeg_prob: probability that the compression is JPEG (per frame) ...
        jpeg_quality: ... with a quality in this range;
        h264_prob: probability that it is H.264 over the clip (checked after JPEG: at most one) ...
        h264_kbps: ... at a bitrate in this range, kbit/s, for the LR clip at 25 fps.
        second_order_prob: probability of a second round (blur, noise, compression) at the LR size.
        second_blur_sigma: sigma range of the second blur, in LR pixels.
        clean_prob: probability that a clip gets the clean degradation (antialiased bicubic
            downsampling, nothing else) instead of the chain; 0 (default) draws exactly as before
            the option existed.
    """

    scale: int = 4
    blur_prob: float = 0.8
    blur_sigma: tuple[float, float] = (0.4, 3.0)
    anisotropic_prob: float = 0.4
    resize_methods: tuple[str, ...] = RESIZE_METHODS
    gaussian_noise_prob: float = 0.6
    gaussian_sigma: tuple[float, float] = (1.0, 12.0)
    gray_noise_prob: float = 0.4
    poisson_noise_prob: float = 0.3
    poisson_scale: tuple[float, float] = (0.05, 1.5)
    jpeg_prob: float = 0.4
    jpeg_quality: tuple[float, float] = (35.0, 90.0)
    h264_prob: float = 0.5
    h264_kbps: tuple[float, float] = (8.0, 64.0)
    second_order_prob: float = 0.4
    second_blur_sigma: tuple[float, float] = (0.2, 0.8)
    clean_prob: float = 0.0

    def __post_init__(self) -> None:
        if int(self.scale) != self.scale or self.scale < 1:
            raise ValueError(f"scale must be a positive integer, got {self.scale}")
        for name in ("blur_prob", "anisotropic_prob", "gaussian_noise_prob", "gray_noise_prob", "poisson_noise_prob",
                     "jpeg_prob", "h264_prob", "second_order_prob", "clean_prob"):
            _prob(name, getattr(self, name))
        object.__setattr__(self, "blur_sigma", _pair("blur_sigma", self.blur_sigma, 0.0, 20.0))
        object.__setattr__(self, "gaussian_sigma", _pair("gaussian_sigma", self.gaussian_sigma, 0.0, 100.0))
        object.__setattr__(self, "poisson_scale", _pair("poisson_scale", self.poisson_scale, 0.0, 20.0))
        object.__setattr__(self, "jpeg_quality", _pair("jpeg_quality", self.jpeg_quality, 1.0, 100.0))
        object.__setattr__(self, "h264_kbps", _pair("h264_kbps", self.h264_kbps, 1.0, 100000.0))
        object.__setattr__(self, "second_blur_sigma", _pair("second_blur_sigma", self.second_blur_sigma, 0.0, 10.0))
        methods = tuple(self.resize_methods)
        unknown = [m for m in methods if m not in RESIZE_METHODS]
        if not methods or unknown:
            raise ValueError(f"resize_methods must be a non-empty choice of {', '.join(RESIZE_METHODS)}, got {methods}")
        object.__setattr__(self, "resize_methods", methods)


@dataclass(frozen=True)
class DegradationParams:
    """One draw of the chain (``None``/0 where a step is off); JSON-friendly via :meth:`to_dict`."""

    blur: tuple[float, float, float] | None          # (sigma_x, sigma_y, angle in degrees), HR pixels
    resize: str
    gaussian_sigma: float                            # 0 = none
    gray_noise: bool
    poisson_scale: float                             # 0 = none
    jpeg_quality: int | None
    h264_kbps: float | None
    second_order: bool
    second_blur: float | None                        # sigma in LR pixels
    second_gaussian_sigma: float
    second_jpeg_quality: int | None
    second_h264_kbps: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_clean(self) -> bool:
        """True for the clean draw (antialiased bicubic downsampling and nothing else)."""
        return (self.blur is None and self.resize == "bicubic_antialias" and not self.gaussian_sigma
                and not self.poisson_scale and self.jpeg_quality is None and not self.h264_kbps
                and not self.second_order)

    def describe(self) -> str:
        """One line for people, e.g. ``blur σ 1.2 px, bilinear downsampling, noise σ 5.0, H.264 at 20 kbit/s``."""
        def compression(jpeg: int | None, h264: float | None) -> list[str]:
            return [f"JPEG quality {jpeg}"] if jpeg is not None else [f"H.264 at {h264:.0f} kbit/s"] if h264 else []

        parts = []
        if self.blur is not None:
            sx, sy, angle = self.blur
            parts.append(f"blur σ {sx:.2g} px" if sx == sy else f"blur σ {sx:.2g}×{sy:.2g} px at {angle:.0f}°")
        parts.append(f"{self.resize} downsampling")
        if self.gaussian_sigma:
            parts.append(f"{'grey ' if self.gray_noise else ''}noise σ {self.gaussian_sigma:.1f}")
        if self.poisson_scale:
            parts.append(f"Poisson noise ×{self.poisson_scale:.2g}")
        parts += compression(self.jpeg_quality, self.h264_kbps)
        if self.second_order:
            second = ([f"blur σ {self.second_blur:.2g} px"] if self.second_blur else []) + \
                ([f"noise σ {self.second_gaussian_sigma:.1f}"] if self.second_gaussian_sigma else []) + \
                compression(self.second_jpeg_quality, self.second_h264_kbps)
            parts.append(f"then {' and '.join(second) or 'nothing'}")
        return ", ".join(parts)


def draw_params(config: DegradationConfig, rng: np.random.Generator) -> DegradationParams:
    """Draw one clip's degradation from ``config`` with ``rng``."""
    u = rng.uniform
    if config.clean_prob > 0 and rng.random() < config.clean_prob:
        return DegradationParams(blur=None, resize="bicubic_antialias", gaussian_sigma=0.0, gray_noise=False,
                                 poisson_scale=0.0, jpeg_quality=None, h264_kbps=None, second_order=False,
                                 second_blur=None, second_gaussian_sigma=0.0, second_jpeg_quality=None,
                                 second_h264_kbps=None)

    def compression() -> tuple[int | None, float | None]:
        if rng.random() < config.jpeg_prob:
            return int(round(u(*config.jpeg_quality))), None
        if rng.random() < config.h264_prob:
            return None, float(u(*config.h264_kbps))
        return None, None

    blur = None
    if rng.random() < config.blur_prob:
        sx = float(u(*config.blur_sigma))
        if rng.random() < config.anisotropic_prob:
            blur = (sx, float(u(*config.blur_sigma)), float(u(0.0, 180.0)))
        else:
            blur = (sx, sx, 0.0)
    resize = config.resize_methods[int(rng.integers(len(config.resize_methods)))]
    gaussian = float(u(*config.gaussian_sigma)) if rng.random() < config.gaussian_noise_prob else 0.0
    gray = bool(rng.random() < config.gray_noise_prob)
    poisson = float(u(*config.poisson_scale)) if rng.random() < config.poisson_noise_prob else 0.0
    jpeg, h264 = compression()
    second = bool(rng.random() < config.second_order_prob)
    second_blur, second_gauss, second_jpeg, second_h264 = None, 0.0, None, None
    if second:
        second_blur = float(u(*config.second_blur_sigma))
        second_gauss = float(u(0.0, config.gaussian_sigma[1] / 2))
        second_jpeg, second_h264 = compression()
    return DegradationParams(blur=blur, resize=resize, gaussian_sigma=gaussian, gray_noise=gray,
                             poisson_scale=poisson, jpeg_quality=jpeg, h264_kbps=h264, second_order=second,
                             second_blur=second_blur, second_gaussian_sigma=second_gauss,
                             second_jpeg_quality=second_jpeg, second_h264_kbps=second_h264)


# --------------------------------------------------------------------------- the steps (float32 (T, 3, H, W), 0..255)


def gaussian_kernel(sigma_x: float, sigma_y: float, angle_deg: float, size: int | None = None) -> np.ndarray:
    """A normalised 2-D Gaussian kernel, rotated by ``angle_deg`` (odd ``size``, default ~3 sigma each side)."""
    if size is None:
        size = 2 * int(math.ceil(3.0 * max(sigma_x, sigma_y, 0.1))) + 1
    r = (size - 1) / 2.0
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    t = math.radians(angle_deg)
    xr, yr = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
    k = np.exp(-0.5 * ((xr / max(sigma_x, 1e-3)) ** 2 + (yr / max(sigma_y, 1e-3)) ** 2))
    return (k / k.sum()).astype(np.float32)


def _blur(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    k = torch.from_numpy(kernel)[None, None].repeat(3, 1, 1, 1)
    pad = kernel.shape[0] // 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), k, groups=3)


def _resize(x: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    if method == "area":
        return F.interpolate(x, size=size, mode="area")
    if method == "bilinear":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=method == "bicubic_antialias")


def _noise(x: torch.Tensor, sigma: float, gray: bool, poisson: float, gen: torch.Generator) -> torch.Tensor:
    if poisson > 0:
        rate = x.clamp(0, 255) / 10.0 / poisson          # photon counts: fewer photons, more noise
        x = torch.poisson(rate, generator=gen) * 10.0 * poisson
    if sigma > 0:
        shape = (x.shape[0], 1, *x.shape[2:]) if gray else x.shape
        x = x + torch.randn(shape, generator=gen) * sigma
    return x


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _from_uint8(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    frames = _to_uint8(x)
    out = []
    for f in frames:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
            raise RuntimeError("JPEG encoding failed")
        out.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return _from_uint8(np.stack(out))


def h264_round_trip(frames: np.ndarray, kbps: float, fps: int = 25) -> np.ndarray:
    """Encode uint8 RGB frames ``(T, H, W, 3)`` with libx264 at ``kbps`` and decode them again (in memory).

    Even frame sizes are needed by yuv420p; an odd size is padded by one edge pixel and cropped back.
    """
    import av

    t, h, w = frames.shape[:3]
    ph, pw = h + h % 2, w + w % 2
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.bit_rate = int(kbps * 1000)
        stream.options = {"preset": "veryfast", "tune": "zerolatency", "threads": "1"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    buf.seek(0)
    with av.open(buf, "r") as container:
        out = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    if len(out) != t:  # pragma: no cover - x264 returns every frame it was given
        raise RuntimeError(f"H.264 round trip returned {len(out)} frames for {t}")
    return out[:, :h, :w]


def _compress(x: torch.Tensor, jpeg: int | None, h264: float | None) -> torch.Tensor:
    if jpeg is not None:
        return _jpeg(x, jpeg)
    if h264 is not None:
        return _from_uint8(h264_round_trip(_to_uint8(x), h264))
    return x


def degrade_clip(hr: np.ndarray, config: DegradationConfig = DegradationConfig(), seed: int = 0,
                 params: DegradationParams | None = None) -> tuple[np.ndarray, DegradationParams]:
    """Degrade HR face crops into LR ones with one random draw of the chain (see the module docstring).

    Args:
        hr: uint8 ``(T, H, W, 3)`` RGB frames of one clip or window (``H``, ``W`` divisible by the scale).
        config: the ranges to draw from.
        seed: the draw (parameters and noise) is a pure function of it.
        params: apply these parameters instead of drawing them (the noise still follows ``seed``).

    Returns:
        ``(lr, params)``: uint8 ``(T, H/scale, W/scale, 3)`` and what was applied.
    """
    if not isinstance(hr, np.ndarray) or hr.dtype != np.uint8 or hr.ndim != 4 or hr.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB frames (T, H, W, 3), got {getattr(hr, 'dtype', type(hr))} "
                         f"{getattr(hr, 'shape', '')}")
    t, h, w = hr.shape[:3]
    s = config.scale
    if h % s or w % s:
        raise ValueError(f"frames of {w}x{h} cannot be shrunk x{s}")
    rng = np.random.default_rng(seed)
    p = params or draw_params(config, rng)
    gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
    x = _from_uint8(hr)
    if p.blur is not None:
        x = _blur(x, gaussian_kernel(*p.blur))
    x = _resize(x, (h // s, w // s), p.resize)
    x = _noise(x, p.gaussian_sigma, p.gray_noise, p.poisson_scale, gen)
    x = _compress(x.clamp(0, 255), p.jpeg_quality, p.h264_kbps)
    if p.second_order:
        if p.second_blur:
            x = _blur(x, gaussian_kernel(p.second_blur, p.second_blur, 0.0))
        x = _noise(x, p.second_gaussian_sigma, p.gray_noise, 0.0, gen)
        x = _compress(x.clamp(0, 255), p.second_jpeg_quality, p.second_h264_kbps)
    return _to_uint8(x), p


def occlude_mouth(lr: np.ndarray, boxes: np.ndarray, scale: int, sigma: float = 3.0,
                  margin: float = 0.0) -> np.ndarray:
    """Blur the mouth of LR face crops until its shape can no longer be read from the pixels.

    A hard case for the video alone: a hand, a microphone, motion blur or heavy compression
    over the lips. The mouth's shape then has to come from elsewhere (the speech, for the
    audio-conditioned generator). Training with some occluded samples gives the audio branch
    something to learn that the frames do not already carry; evaluating on occluded inputs
    measures whether it learnt it.

    Args:
        lr: uint8 ``(..., h, w, 3)`` LR frames.
        boxes: ``(..., 4)`` mouth boxes ``x1, y1, x2, y2`` in HR pixels, one per frame
            (leading dimensions as ``lr``'s or broadcastable to them).
        scale: HR side / LR side (the boxes are divided by it).
        sigma: Gaussian blur inside the box, in LR pixels.
        margin: the box grows by this share of its size on every side.

    Returns:
        uint8 frames of ``lr``'s shape: inside the grown box the heavily blurred frame, a
        one-pixel feather at its edge, the rest unchanged.
    """
    lr = np.asarray(lr)
    if lr.dtype != np.uint8 or lr.ndim < 3 or lr.shape[-1] != 3:
        raise ValueError(f"lr must be uint8 frames (..., h, w, 3), got {lr.dtype} {lr.shape}")
    if sigma <= 0 or margin < 0 or scale < 1:
        raise ValueError(f"need sigma > 0, margin >= 0 and scale >= 1, got {sigma}, {margin}, {scale}")
    h, w = lr.shape[-3:-1]
    lead = lr.shape[:-3]
    boxes = np.broadcast_to(np.asarray(boxes, dtype=np.float64), lead + (4,)).reshape(-1, 4) / scale
    frames = lr.reshape((-1, h, w, 3))
    out = np.empty_like(frames)
    ys, xs = np.arange(h) + 0.5, np.arange(w) + 0.5
    for i, (frame, (x1, y1, x2, y2)) in enumerate(zip(frames, boxes)):
        gx, gy = margin * (x2 - x1), margin * (y2 - y1)
        # distance (LR px) inside the grown box's edge, clipped to a one-pixel ramp
        inside_x = np.minimum(xs - (x1 - gx), (x2 + gx) - xs)
        inside_y = np.minimum(ys - (y1 - gy), (y2 + gy) - ys)
        mask = np.clip(np.minimum(inside_y[:, None], inside_x[None, :]) + 0.5, 0.0, 1.0)[..., None]
        blurred = cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
        mixed = frame.astype(np.float32) * (1.0 - mask) + blurred.astype(np.float32) * mask
        out[i] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out.reshape(lr.shape)
