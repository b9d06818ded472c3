"""vfhgan_core.metrics.image (and .temporal's flicker) on real GRID frames: a bicubic x4 round trip of a 128x128
crop against its original."""
from __future__ import annotations

import math

import av
import cv2
import erqa as erqa_pkg
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from vfhgan_core.metrics import (
    erqa,
    mouth_psnr,
    psnr_y,
    rgb_to_y,
    ssim_y,
    temporal_flicker,
    to_uint8_rgb,
)

N_FRAMES = 6


@pytest.fixture(scope="module")
def clip(grid_clip):
    """(gt, sr): N_FRAMES centre 128x128 crops of a GRID clip and their bicubic x4 round trip, uint8 RGB."""
    frames = []
    with av.open(str(grid_clip)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == N_FRAMES:
                break
    video = np.stack(frames)
    h, w = video.shape[1:3]
    top, left = (h - 128) // 2, (w - 128) // 2
    gt = np.ascontiguousarray(video[:, top:top + 128, left:left + 128])
    t = torch.from_numpy(gt).permute(0, 3, 1, 2).double() / 255.0
    lr = F.interpolate(t, size=(32, 32), mode="bicubic", antialias=True, align_corners=False)
    up = F.interpolate(lr, size=(128, 128), mode="bicubic", align_corners=False).clamp(0, 1)
    sr = (up * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return gt, sr


def _y_reference(rgb_uint8):
    """MATLAB rgb2ycbcr's Y (BT.601 studio swing), written out independently."""
    rgb = rgb_uint8.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def test_rgb_to_y_known_values_and_opencv():
    colours = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(colours)[0], [16.0, 235.0, 81.481, 144.553, 40.966], atol=1e-9)
    # OpenCV's (full-range) YCrCb luma, rescaled to the studio range 16-235
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    full = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64)
    np.testing.assert_allclose(rgb_to_y(img), 16.0 + 219.0 * full, atol=0.02)
    # float inputs in [0, 1] and channel-first tensors give the same Y as uint8 arrays
    as_float = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
    np.testing.assert_allclose(rgb_to_y(as_float), rgb_to_y(img), atol=1e-12)
    assert rgb_to_y(img[None]).shape == (1, 20, 30)


def test_identical_images_score_perfectly(clip):
    gt, _ = clip
    assert psnr_y(gt, gt.copy()) == math.inf
    assert ssim_y(gt, gt.copy()) == pytest.approx(1.0, abs=1e-12)
    assert erqa(gt, gt.copy()) == pytest.approx(1.0)
    assert erqa(gt, gt.copy(), version="1.1") == pytest.approx(1.0)


def test_bicubic_round_trip_scores_are_plausible(clip):
    gt, sr = clip
    p, s, e10, e11 = psnr_y(sr, gt), ssim_y(sr, gt), erqa(sr, gt), erqa(sr, gt, version="1.1")
    assert 25.0 < p < 40.0
    assert 0.7 < s < 0.99
    assert 0.2 < e10 < 0.9 and 0.2 < e11 < 0.9
    # a worse reconstruction (x8 instead of x4) scores lower on every metric
    t = torch.from_numpy(gt).permute(0, 3, 1, 2).double() / 255.0
    lr = F.interpolate(t, size=(16, 16), mode="bicubic", antialias=True, align_corners=False)
    worse = (F.interpolate(lr, size=(128, 128), mode="bicubic", align_corners=False).clamp(0, 1) * 255).round()
    worse = worse.to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert psnr_y(worse, gt) < p - 1.0 and ssim_y(worse, gt) < s - 0.05 and erqa(worse, gt) < e10


def test_psnr_y_equals_numpy_formula(clip):
    gt, sr = clip
    per_frame = psnr_y(sr, gt, per_frame=True)
    assert per_frame.shape == (N_FRAMES,)
    for i in range(N_FRAMES):
        mse = np.mean((_y_reference(sr[i]) - _y_reference(gt[i])) ** 2)
        assert per_frame[i] == pytest.approx(10 * np.log10(255.0 ** 2 / mse), abs=1e-10)
    assert psnr_y(sr, gt) == pytest.approx(per_frame.mean())
    c = 4
    mse = np.mean((_y_reference(sr[0])[c:-c, c:-c] - _y_reference(gt[0])[c:-c, c:-c]) ** 2)
    assert psnr_y(sr[0], gt[0], crop_border=c) == pytest.approx(10 * np.log10(255.0 ** 2 / mse), abs=1e-10)


def test_ssim_y_equals_skimage(clip):
    gt, sr = clip
    per_frame = ssim_y(sr, gt, per_frame=True)
    for i in range(N_FRAMES):
        expected = structural_similarity(_y_reference(gt[i]), _y_reference(sr[i]), data_range=255,
                                         gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert per_frame[i] == pytest.approx(expected, abs=1e-10)


def test_tensor_inputs_match_uint8_arrays(clip):
    gt, sr = clip
    gt_t = torch.from_numpy(gt).permute(0, 3, 1, 2).float() / 255.0
    sr_t = torch.from_numpy(sr).permute(0, 3, 1, 2).float() / 255.0
    np.testing.assert_array_equal(to_uint8_rgb(sr_t), sr)
    assert psnr_y(sr_t, gt_t) == pytest.approx(psnr_y(sr, gt), abs=1e-9)
    assert ssim_y(sr_t[0], gt_t[0]) == pytest.approx(ssim_y(sr[0], gt[0]), abs=1e-12)
    assert erqa(sr_t, gt_t) == pytest.approx(erqa(sr, gt))


def test_erqa_uses_bgr_frames_of_the_package(clip):
    gt, sr = clip
    for version in ("1.0", "1.1"):
        metric = erqa_pkg.ERQA(version=version)
        expected = [metric(cv2.cvtColor(a, cv2.COLOR_RGB2BGR), cv2.cvtColor(b, cv2.COLOR_RGB2BGR))
                    for a, b in zip(sr, gt)]
        np.testing.assert_allclose(erqa(sr, gt, version=version, per_frame=True), expected)
    with pytest.raises(ValueError, match="version"):
        erqa(sr, gt, version="2.0")


def test_temporal_flicker(clip):
    gt, sr = clip
    assert temporal_flicker(gt, gt.copy()) == 0.0
    # a static error pattern (same in every frame) does not flicker
    pattern = np.random.default_rng(0).integers(-8, 9, gt.shape[1:], dtype=np.int16)
    base = np.clip(gt, 10, 245)  # room for the pattern: no clipping, so the claim is exact
    static = (base.astype(np.int16) + pattern).astype(np.uint8)
    assert temporal_flicker(static, base) == pytest.approx(0.0, abs=1e-9)
    assert psnr_y(static, base) < 40  # while the frames themselves differ
    # frame-to-frame noise does, and more noise flickers more
    rng = np.random.default_rng(1)
    values = []
    for sigma in (0.0, 2.0, 6.0):
        noisy = np.clip(sr.astype(np.float64) + rng.normal(0, sigma, sr.shape), 0, 255).round().astype(np.uint8)
        values.append(temporal_flicker(noisy, gt))
    assert 0.0 < values[0] < values[1] < values[2]
    # the definition, computed here independently
    y_sr, y_gt = _y_reference(sr), _y_reference(gt)
    expected = np.mean(np.abs((y_sr[1:] - y_sr[:-1]) - (y_gt[1:] - y_gt[:-1])))
    assert values[0] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_flicker(gt[:1], gt[:1])


def test_mouth_psnr_only_sees_the_box(clip):
    gt, sr = clip
    box = (40, 80, 88, 112)
    damaged = sr.copy()
    damaged[:, :60, :] = 0  # rows above the mouth box are ruined
    assert mouth_psnr(damaged, gt, box) == pytest.approx(mouth_psnr(sr, gt, box))
    assert psnr_y(damaged, gt) < psnr_y(sr, gt) - 5
    full = mouth_psnr(sr, gt, (0, 0, 128, 128))
    assert full == pytest.approx(psnr_y(sr, gt))
    boxes = np.tile(np.array(box), (N_FRAMES, 1))
    boxes[0] = (-10, -10, 300, 300)  # clipped to the image
    per_frame = mouth_psnr(sr, gt, boxes, per_frame=True)
    assert per_frame[0] == pytest.approx(psnr_y(sr[0], gt[0]))
    x0, y0, x1, y1 = box
    mse = np.mean((_y_reference(sr[1])[y0:y1, x0:x1] - _y_reference(gt[1])[y0:y1, x0:x1]) ** 2)
    assert per_frame[1] == pytest.approx(10 * np.log10(255.0 ** 2 / mse))
    assert mouth_psnr(gt, gt, box) == math.inf
    with pytest.raises(ValueError, match="empty"):
        mouth_psnr(sr, gt, (200, 200, 210, 210))


def test_bad_inputs_raise_clear_errors(clip):
    gt, sr = clip
    with pytest.raises(ValueError, match="same shape"):
        psnr_y(sr[:, :64], gt)
    with pytest.raises(ValueError, match="RGB"):
        psnr_y(gt[..., 0], gt[..., 0])
    with pytest.raises(ValueError, match="11x11"):
        ssim_y(gt[:, :8, :8], gt[:, :8, :8])
    with pytest.raises(TypeError, match="uint8"):
        psnr_y(gt.astype(np.int32), gt.astype(np.int32))
