"""Square face crops from a track, HR -> LR degradation, mouth boxes, paste-back.

Coordinates: pixel ``(i, j)`` of an image has its centre at ``x = j, y = i``
(OpenCV's convention). A crop matrix ``M`` (float32 ``(2, 3)``) maps frame
pixels to crop pixels: ``crop_xy = M[:, :2] @ frame_xy + M[:, 2]``. Crops are
axis-aligned squares (no rotation), so ``M = [[s, 0, tx], [0, s, ty]]``.

Crop geometry (:func:`crop_matrices`): the face centre is the midpoint between
the track's box centre and the centroid of its five keypoints (the box alone
drifts on profiles, the keypoints alone sit low on the face); the crop side is
``face_scale`` times the face size ``max(box width, box height)``. SCRFD's box
runs from the hairline to the chin, so ``face_scale = 1.5`` keeps the whole
head outline with a margin, like the paper's square landmark crops of LRW.
Parts of the crop outside the frame are filled by replicating the border.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vfhgan_core.errors import FaceTooSmallError
from vfhgan_core.faces.tracking import FaceTrack

#: degradations accepted by :func:`degrade`
DEGRADATIONS = ("bicubic_antialias", "bicubic", "area")


@dataclass(frozen=True)
class CropConfig:
    """Face crop and degradation settings.

    Attributes:
        hr_size: side of the high-resolution crop in pixels (128 in the paper).
        scale: super-resolution factor; the LR crop is ``hr_size // scale``.
        face_scale: crop side relative to the face size ``max(box w, box h)``.
        degradation: HR -> LR method, one of :data:`DEGRADATIONS`.
        min_face_px: faces narrower than this (median box width, pixels)
            raise :class:`~vfhgan_core.errors.FaceTooSmallError`.
        warn_face_px: faces narrower than this deserve a warning (the face is
            smaller in the source than in the 32x32 LR crop the model sees).
    """

    hr_size: int = 128
    scale: int = 4
    face_scale: float = 1.5
    degradation: str = "bicubic_antialias"
    min_face_px: int = 16
    warn_face_px: int = 32

    def __post_init__(self) -> None:
        if self.degradation not in DEGRADATIONS:
            raise ValueError(
                f"unknown degradation {self.degradation!r}; choose one of {', '.join(DEGRADATIONS)}"
            )
        if self.scale < 1 or self.hr_size % self.scale:
            raise ValueError(f"hr_size {self.hr_size} must be a multiple of the scale {self.scale}")
        if self.face_scale <= 0:
            raise ValueError(f"face_scale must be positive, got {self.face_scale}")

    @property
    def lr_size(self) -> int:
        """Side of the low-resolution crop in pixels."""
        return self.hr_size // self.scale


def face_size_warning(track: FaceTrack, config: CropConfig = CropConfig()) -> str | None:
    """A warning when the face is narrower than ``config.warn_face_px``, else ``None``."""
    width = track.median_face_width
    if width < config.warn_face_px:
        return (
            f"the face is only about {width:.0f} px wide, smaller than the {config.lr_size}x"
            f"{config.lr_size} low-resolution input; results will be soft"
        )
    return None


def crop_squares(track: FaceTrack, config: CropConfig = CropConfig()) -> np.ndarray:
    """float32 ``(T, 3)``: crop centre ``x, y`` and side, in frame pixels."""
    boxes = track.boxes.astype(np.float64)
    box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    key_centre = track.keypoints.astype(np.float64).mean(axis=1)
    centre = (box_centre + key_centre) / 2
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    side = np.maximum(config.face_scale * size, 1.0)
    return np.concatenate([centre, side[:, None]], axis=1).astype(np.float32)


def matrices_from_squares(squares: np.ndarray, size: int) -> np.ndarray:
    """float32 ``(T, 2, 3)`` maps from frame pixels to a ``size`` x ``size`` crop.

    The square of side ``side`` centred on ``(cx, cy)`` (continuous frame
    coordinates) fills the crop exactly: its left edge ``cx - side / 2`` maps
    to the crop's left pixel edge ``-0.5``.
    """
    squares = np.asarray(squares, dtype=np.float64).reshape(-1, 3)
    s = size / squares[:, 2]
    matrices = np.zeros((len(squares), 2, 3), dtype=np.float64)
    matrices[:, 0, 0] = s
    matrices[:, 1, 1] = s
    matrices[:, 0, 2] = -s * (squares[:, 0] - squares[:, 2] / 2) - 0.5
    matrices[:, 1, 2] = -s * (squares[:, 1] - squares[:, 2] / 2) - 0.5
    return matrices.astype(np.float32)


def crop_matrices(track: FaceTrack, config: CropConfig = CropConfig()) -> np.ndarray:
    """float32 ``(T, 2, 3)`` affine maps from frame pixels to ``hr_size`` crop pixels.

    Raises:
        FaceTooSmallError: the face is narrower than ``config.min_face_px``.
    """
    width = track.median_face_width
    if width < config.min_face_px:
        raise FaceTooSmallError(
            f"the face is only about {width:.0f} px wide in this video; at least "
            f"{config.min_face_px} px are needed. Use a closer shot or a higher-resolution video."
        )
    return matrices_from_squares(crop_squares(track, config), config.hr_size)


def _crop_one(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """One crop; shrinking goes through ``cv2.INTER_AREA`` so it does not alias."""
    m = matrix.astype(np.float64)
    s = float(m[0, 0])
    if s >= 0.999:
        return cv2.warpAffine(
            frame, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )
    # frame region covered by the crop, with a 2 px margin, border replicated where outside
    x0 = int(np.floor((-0.5 - m[0, 2]) / s)) - 2
    y0 = int(np.floor((-0.5 - m[1, 2]) / s)) - 2
    x1 = int(np.ceil((size - 0.5 - m[0, 2]) / s)) + 3
    y1 = int(np.ceil((size - 0.5 - m[1, 2]) / s)) + 3
    h, w = frame.shape[:2]
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    region = frame[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    if any(pad):
        if region.size == 0:  # crop entirely outside: replicate the nearest pixel
            cy, cx = min(max(y0, 0), h - 1), min(max(x0, 0), w - 1)
            region = frame[cy : cy + 1, cx : cx + 1]
            pad = (0, (y1 - y0) - 1, 0, (x1 - x0) - 1)
        region = cv2.copyMakeBorder(region, *pad, borderType=cv2.BORDER_REPLICATE)
    rw, rh = region.shape[1], region.shape[0]
    nw, nh = max(1, int(round(rw * s))), max(1, int(round(rh * s)))
    small = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_AREA)
    fx, fy = nw / rw, nh / rh
    # crop = s * frame + t, frame = region + (x0, y0), region = (small + 0.5) / f - 0.5
    residual = np.array(
        [
            [s / fx, 0.0, s * (0.5 / fx - 0.5 + x0) + m[0, 2]],
            [0.0, s / fy, s * (0.5 / fy - 0.5 + y0) + m[1, 2]],
        ]
    )
    return cv2.warpAffine(small, residual, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_faces(frames: np.ndarray, matrices: np.ndarray, size: int) -> np.ndarray:
    """Cut the face crops.

    Args:
        frames: uint8 ``(N, H, W, 3)`` (or one ``(H, W, 3)`` frame).
        matrices: float32 ``(N, 2, 3)`` (or ``(2, 3)``) from :func:`crop_matrices`.
        size: crop side in pixels (the matrices' ``hr_size``).

    Returns:
        uint8 ``(N, size, size, 3)`` (or ``(size, size, 3)``). Shrinking uses
        area averaging, enlarging bicubic interpolation; outside the frame the
        border is replicated.
    """
    frames = np.asarray(frames)
    single = frames.ndim == 3
    frames = frames[None] if single else frames
    matrices = np.asarray(matrices, dtype=np.float32).reshape(-1, 2, 3)
    if len(frames) != len(matrices):
        raise ValueError(f"{len(frames)} frames but {len(matrices)} crop matrices")
    out = np.empty((len(frames), size, size, frames.shape[-1]), dtype=np.uint8)
    for i, (frame, matrix) in enumerate(zip(frames, matrices)):
        out[i] = _crop_one(np.ascontiguousarray(frame), matrix, size)
    return out[0] if single else out


def transform_points(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Map points with affine matrices.

    Args:
        points: ``(T, ..., 2)`` ``x, y`` in frame pixels (e.g. keypoints ``(T, 5, 2)``).
        matrices: ``(T, 2, 3)``, or one ``(2, 3)`` applied to all points.

    Returns:
        float32 array shaped like ``points``, in crop pixels.
    """
    points = np.asarray(points, dtype=np.float64)
    matrices = np.asarray(matrices, dtype=np.float64)
    if matrices.ndim == 2:
        return (points @ matrices[:, :2].T + matrices[:, 2]).astype(np.float32)
    flat = points.reshape(len(matrices), -1, 2)
    out = np.einsum("tij,tkj->tki", matrices[:, :, :2], flat) + matrices[:, None, :, 2]
    return out.reshape(points.shape).astype(np.float32)


def invert_matrices(matrices: np.ndarray) -> np.ndarray:
    """float32 ``(..., 2, 3)`` inverse affine maps (crop pixels -> frame pixels)."""
    matrices = np.asarray(matrices, dtype=np.float64)
    a = matrices[..., :2]
    inv = np.linalg.inv(a)
    t = -np.einsum("...ij,...j->...i", inv, matrices[..., 2])
    return np.concatenate([inv, t[..., None]], axis=-1).astype(np.float32)


#: mouth box proportions (see :func:`mouth_boxes`)
MOUTH_BOX_SCALE = 1.5
MOUTH_BOX_DOWN_SHIFT = 0.3
MOUTH_EYE_RATIO = 0.55
MOUTH_NOSE_CLEARANCE = 0.05


def mouth_boxes(
    keypoints_crop: np.ndarray,
    crop_size: int = 128,
    scale: float = MOUTH_BOX_SCALE,
    down_shift: float = MOUTH_BOX_DOWN_SHIFT,
) -> np.ndarray:
    """Square boxes around the mouth, in crop pixels.

    The mouth width ``d`` is the distance between the two mouth corners, but
    never less than ``0.55 x`` the eye-midpoint-to-mouth-midpoint distance
    (on frontal faces that distance is about 1.4 d, so the bound only acts on
    profiles, where the corners close up). The box side is ``scale x d``
    (1.5) and its centre is the corners' midpoint moved down by
    ``down_shift x d`` (0.3): the box spans from 0.45 d above the mouth line
    (below the nose tip, which sits a median 0.7 d above it; measured on 433
    frames of GRID, VoxCeleb2, HDTF, MEAD and the multi-face clips) to 1.05 d
    below it (lower lip and chin, which move most in speech), and 0.75 d to
    either side of the mouth centre. Where the nose tip sits lower than that
    (a bowed head, a wide smile) the box moves down to start ``0.05 d`` below
    the nose tip, so it never shows the nose. Boxes are then shifted (and if
    needed shrunk) to lie inside the crop.

    Args:
        keypoints_crop: ``(T, 5, 2)`` keypoints in crop pixels.
        crop_size: crop side in pixels.

    Returns:
        float32 ``(T, 4)`` ``x1, y1, x2, y2``.
    """
    k = np.asarray(keypoints_crop, dtype=np.float64).reshape(-1, 5, 2)
    left, right = k[:, 3], k[:, 4]
    mouth = (left + right) / 2
    eyes = (k[:, 0] + k[:, 1]) / 2
    width = np.maximum(
        np.linalg.norm(right - left, axis=1), MOUTH_EYE_RATIO * np.linalg.norm(mouth - eyes, axis=1)
    )
    side = np.clip(scale * width, 2.0, crop_size)
    centre = mouth + np.stack([np.zeros_like(width), down_shift * width], axis=1)
    low = centre - side[:, None] / 2
    # never above the nose tip: a low nose (head bowed, wide smile) pushes the box down
    low[:, 1] = np.maximum(low[:, 1], k[:, 2, 1] + MOUTH_NOSE_CLEARANCE * width)
    low = np.clip(low, 0.0, crop_size - side[:, None])
    return np.concatenate([low, low + side[:, None]], axis=1).astype(np.float32)


def degrade(hr: np.ndarray | torch.Tensor, scale: int = 4, method: str = "bicubic_antialias"):
    """Downscale HR face crops to LR by ``scale``.

    Args:
        hr: uint8 numpy ``(..., H, W, C)`` (e.g. ``(N, 128, 128, 3)``), or a
            float torch tensor ``(..., C, H, W)`` in any value range.
        scale: integer factor; ``H`` and ``W`` must be divisible by it.
        method: ``"bicubic_antialias"`` (``F.interpolate(mode="bicubic",
            antialias=True)``, like PIL/Matlab ``imresize``), ``"bicubic"``
            (no antialiasing) or ``"area"`` (mean of each ``scale x scale`` block).

    Returns:
        The same type: uint8 numpy ``(..., H/s, W/s, C)`` (rounded, clipped to
        0..255) or a float tensor ``(..., C, H/s, W/s)`` (not clipped). The
        numpy path runs the torch path on the same values, so both agree
        after rounding.
    """
    if method not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {method!r}; choose one of {', '.join(DEGRADATIONS)}")
    if isinstance(hr, np.ndarray):
        if hr.dtype != np.uint8 or hr.ndim < 3:
            raise ValueError(f"expected uint8 images (..., H, W, C), got {hr.dtype} {hr.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(hr)).movedim(-1, -3).to(torch.float32)
        lr = degrade(tensor, scale, method)
        return lr.round().clamp(0, 255).to(torch.uint8).movedim(-3, -1).numpy()
    if not torch.is_tensor(hr) or not hr.is_floating_point() or hr.ndim < 3:
        raise ValueError("expected a float tensor (..., C, H, W) or a uint8 numpy array (..., H, W, C)")
    height, width = hr.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"image size {width}x{height} is not divisible by the scale {scale}")
    lead = hr.shape[:-3]
    x = hr.reshape(-1, *hr.shape[-3:])
    size = (height // scale, width // scale)
    if method == "area":
        y = F.avg_pool2d(x, kernel_size=scale)
    else:
        y = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=method == "bicubic_antialias")
    return y.reshape(*lead, *y.shape[-3:])


def paste_mask(size: int, feather: float = 0.1) -> np.ndarray:
    """float32 ``(size, size)`` soft mask: 1 inside, easing to 0 at the edges.

    ``feather`` is the width of the soft band as a fraction of ``size``; the
    band uses a smoothstep ramp, so there is no visible seam.
    """
    if size < 1:
        raise ValueError(f"mask size must be positive, got {size}")
    band = max(feather * size, 1e-6)
    coords = np.arange(size, dtype=np.float64) + 0.5
    edge = np.minimum(coords, size - coords)  # distance of each pixel centre to the nearest edge
    ramp = np.clip(edge / band, 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)
    return np.minimum.outer(ramp, ramp).astype(np.float32)


def paste_back(frame: np.ndarray, face: np.ndarray, matrix: np.ndarray, feather: float = 0.1) -> np.ndarray:
    """Put a (restored) face crop back into its frame.

    Args:
        frame: uint8 ``(H, W, 3)`` original frame (not modified).
        face: uint8 ``(S, S, 3)`` crop made with ``matrix``.
        matrix: ``(2, 3)`` frame -> crop map (any crop size: ``S`` is taken from ``face``).
        feather: soft border width as a fraction of ``S`` (see :func:`paste_mask`).

    Returns:
        uint8 ``(H, W, 3)``: the frame with the face blended in through the
        warped soft mask; pixels the mask does not reach are the frame's own.
        Crops partly outside the frame are clipped to it.
    """
    frame = np.asarray(frame)
    face = np.asarray(face)
    size = face.shape[0]
    h, w = frame.shape[:2]
    inverse = invert_matrices(np.asarray(matrix, dtype=np.float64)).astype(np.float64)
    # frame rectangle reached by the crop
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    reach = corners @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = np.maximum(np.floor(reach.min(axis=0)).astype(int) - 1, 0)
    x1 = min(int(np.ceil(reach[:, 0].max())) + 2, w)
    y1 = min(int(np.ceil(reach[:, 1].max())) + 2, h)
    out = frame.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    # frame -> crop map for the region's pixels: region pixel (u, v) is frame pixel (u + x0, v + y0)
    m = np.asarray(matrix, dtype=np.float64).copy()
    m[:, 2] += m[:, :2] @ np.array([x0, y0], dtype=np.float64)
    region_size = (x1 - x0, y1 - y0)
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(face, m, region_size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(
        paste_mask(size, feather), m, region_size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
    )
    mask = np.clip(mask, 0.0, 1.0)[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    blended = mask * warped.astype(np.float32) + (1.0 - mask) * region
    out[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out
