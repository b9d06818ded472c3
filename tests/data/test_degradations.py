"""Blind degradations on real face crops: each step does what it says, and a draw is reproducible."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vfhgan_core.data.degradations import (
    DegradationConfig,
    DegradationParams,
    degrade_clip,
    gaussian_kernel,
    h264_round_trip,
    occlude_mouth,
)
from vfhgan_core.faces.clip import PipelineConfig, extract_face_clip
from vfhgan_core.faces.crops import degrade
from vfhgan_core.faces.detection import DetectorConfig, load_face_detector
from vfhgan_core.metrics import psnr_y
from vfhgan_core.metrics.spectral import high_frequency_energy

#: every step off: the chain is then a plain downsampling
OFF = dict(blur_prob=0.0, gaussian_noise_prob=0.0, poisson_noise_prob=0.0, jpeg_prob=0.0, h264_prob=0.0,
           second_order_prob=0.0, resize_methods=("bicubic_antialias",))


@pytest.fixture(scope="module")
def face_clip(data_dir, detector_model):
    """0.2 s of an HDTF clip through the face pipeline (a 512×512 source: real detail to lose)."""
    config = DetectorConfig(model_path=str(detector_model))
    return extract_face_clip(str(data_dir / "hdtf" / "WDA_KatieHill_000.mp4"), load_face_detector(config),
                             PipelineConfig(detector=config), start=2.0, duration=0.2, require_audio=False)


@pytest.fixture(scope="module")
def hr(face_clip) -> np.ndarray:
    """Five 128×128 face crops."""
    return face_clip.hr[:5]


def _only(**changes) -> DegradationConfig:
    return DegradationConfig(**{**OFF, **changes})


def test_with_every_step_off_it_is_the_clean_degradation(hr) -> None:
    lr, p = degrade_clip(hr, _only(), seed=3)
    np.testing.assert_array_equal(lr, degrade(hr, 4))
    assert p.blur is None and p.jpeg_quality is None and p.h264_kbps is None and not p.second_order


def test_clean_prob_mixes_in_clean_samples_and_leaves_the_other_draws_alone(hr) -> None:
    mixed = DegradationConfig(clean_prob=0.3)
    clean = degrade(hr, 4)
    draws = [degrade_clip(hr, mixed, seed=s) for s in range(60)]
    n_clean = sum(np.array_equal(lr, clean) for lr, _ in draws)
    assert 8 <= n_clean <= 30, n_clean      # ~18 expected; the chain alone is practically never clean
    assert sum(np.array_equal(degrade_clip(hr, seed=s)[0], clean) for s in range(60)) == 0
    lr, p = degrade_clip(hr, DegradationConfig(clean_prob=1.0), seed=5)
    np.testing.assert_array_equal(lr, clean)
    assert p.describe() == "bicubic_antialias downsampling"
    # clean_prob 0 is the chain as it was: the same draw for the same seed
    assert degrade_clip(hr, DegradationConfig(clean_prob=0.0), seed=7)[1] == degrade_clip(hr, seed=7)[1]


def test_a_draw_is_reproducible_and_serialisable(hr) -> None:
    a, pa = degrade_clip(hr, seed=11)
    b, pb = degrade_clip(hr, seed=11)
    np.testing.assert_array_equal(a, b)
    assert pa == pb and json.loads(json.dumps(pa.to_dict()))["resize"] == pa.resize
    assert f"{pa.resize} downsampling" in pa.describe()
    draws = [degrade_clip(hr, seed=s)[1] for s in range(40)]
    assert len({d.resize for d in draws}) >= 3 and any(d.second_order for d in draws)
    assert any(d.jpeg_quality for d in draws) and any(d.h264_kbps for d in draws) and any(d.blur for d in draws)
    # the same parameters applied again with another seed: only the noise changes
    c, _ = degrade_clip(hr, seed=12, params=pa)
    assert c.shape == a.shape == (5, 32, 32, 3)


def test_blur_removes_detail(hr) -> None:
    clean = degrade(hr, 4)
    blurred, p = degrade_clip(hr, _only(blur_prob=1.0, blur_sigma=(3.0, 3.0), anisotropic_prob=0.0), seed=0)
    assert p.blur == (3.0, 3.0, 0.0)
    assert high_frequency_energy(blurred[0]) < 0.5 * high_frequency_energy(clean[0])
    k = gaussian_kernel(2.0, 0.5, 90.0)
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    # rotated by 90°, the wide axis turns from horizontal to vertical
    assert np.allclose(gaussian_kernel(2.0, 0.5, 90.0), gaussian_kernel(0.5, 2.0, 0.0), atol=1e-6)


def test_noise_has_the_drawn_strength(hr) -> None:
    clean = degrade(hr, 4).astype(float)
    noisy, _ = degrade_clip(hr, _only(gaussian_noise_prob=1.0, gaussian_sigma=(8.0, 8.0), gray_noise_prob=0.0), seed=0)
    residual = noisy.astype(float) - clean
    assert residual.std() == pytest.approx(8.0, rel=0.1)          # clipping at 0/255 trims a little
    gray, _ = degrade_clip(hr, _only(gaussian_noise_prob=1.0, gaussian_sigma=(8.0, 8.0), gray_noise_prob=1.0), seed=0)
    r = gray.astype(float) - clean
    assert np.corrcoef(r[..., 0].ravel(), r[..., 1].ravel())[0, 1] > 0.9   # the same noise in every channel
    shot, _ = degrade_clip(hr, _only(poisson_noise_prob=1.0, poisson_scale=(1.0, 1.0)), seed=0)
    r = shot.astype(float) - clean
    bright, dark = clean > 150, clean < 60
    assert r[bright].std() > r[dark].std()                            # shot noise grows with the signal


def test_compression_costs_more_at_lower_quality(hr) -> None:
    clean = degrade(hr, 4)
    def loss(**c) -> float:
        return psnr_y(clean, degrade_clip(hr, _only(**c), seed=0)[0])
    assert loss(jpeg_prob=1.0, jpeg_quality=(30, 30)) < loss(jpeg_prob=1.0, jpeg_quality=(90, 90)) - 2.0
    low = loss(h264_prob=1.0, h264_kbps=(6, 6))
    high = loss(h264_prob=1.0, h264_kbps=(400, 400))
    assert low < high - 3.0 and high > 38.0
    # H.264 keeps every frame and the size; odd sizes are padded and cropped back
    out = h264_round_trip(np.ascontiguousarray(clean[:, :31, :29]), 64)
    assert out.shape == (5, 31, 29, 3)


def test_second_order_degrades_further(hr) -> None:
    first = dict(gaussian_noise_prob=1.0, gaussian_sigma=(4.0, 4.0))
    once, _ = degrade_clip(hr, _only(**first), seed=0)
    twice, p = degrade_clip(hr, _only(**first, second_order_prob=1.0, jpeg_prob=1.0, jpeg_quality=(40, 40)), seed=0)
    assert p.second_order and p.second_blur is not None
    clean = degrade(hr, 4)
    assert psnr_y(clean, twice) < psnr_y(clean, once)


@pytest.mark.parametrize("changes, message", [
    (dict(blur_prob=1.5), "blur_prob is a probability"),
    (dict(gaussian_sigma=(5, 1)), "gaussian_sigma must be a range"),
    (dict(resize_methods=("nearest",)), "resize_methods must be a non-empty choice"),
    (dict(scale=0), "scale must be a positive integer"),
    (dict(clean_prob=-0.1), "clean_prob is a probability"),
])
def test_bad_settings_are_refused(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        DegradationConfig(**changes)


def test_bad_frames_are_refused(hr) -> None:
    with pytest.raises(ValueError, match="uint8 RGB frames"):
        degrade_clip(hr[0])
    with pytest.raises(ValueError, match="cannot be shrunk x4"):
        degrade_clip(np.ascontiguousarray(hr[:, :126, :126]))
    assert isinstance(degrade_clip(hr, seed=1)[1], DegradationParams)


def test_occluding_the_mouth_blurs_the_mouth_box_and_nothing_else(face_clip) -> None:
    lr = degrade(face_clip.hr[:5], 4)
    boxes = face_clip.mouth_boxes[:5]
    hidden = occlude_mouth(lr, boxes, 4)
    assert hidden.shape == lr.shape and hidden.dtype == np.uint8
    changed = np.abs(hidden.astype(int) - lr.astype(int)).max(axis=-1) > 0          # (T, h, w)
    for frame, box in zip(changed, boxes / 4):
        x1, y1, x2, y2 = box
        ys, xs = np.nonzero(frame)
        # what changed lies in the box (plus the one-pixel feather) and covers most of it
        assert xs.min() >= np.floor(x1) - 1 and xs.max() <= np.ceil(x2) and ys.min() >= np.floor(y1) - 1
        assert ys.max() <= np.ceil(y2)
        assert frame.sum() > 0.6 * (x2 - x1) * (y2 - y1)
    # the lips' detail is gone: the box's local contrast falls to a fraction of what it was
    x1, y1, x2, y2 = np.round(boxes[0] / 4).astype(int)
    before = lr[0, y1:y2, x1:x2].astype(float)
    after = hidden[0, y1:y2, x1:x2].astype(float)
    assert np.abs(np.diff(after, axis=0)).mean() < 0.4 * np.abs(np.diff(before, axis=0)).mean()
    # one box for every frame broadcasts; a wider margin changes more pixels
    np.testing.assert_array_equal(occlude_mouth(lr, boxes[0], 4)[0], occlude_mouth(lr[:1], boxes[:1], 4)[0])
    wider = occlude_mouth(lr, boxes, 4, margin=0.3)
    assert (np.abs(wider.astype(int) - lr.astype(int)).max(axis=-1) > 0).sum() > changed.sum()


def test_occluding_the_mouth_refuses_bad_input(hr) -> None:
    lr = degrade(hr, 4)
    box = np.array([40.0, 70.0, 88.0, 100.0])
    with pytest.raises(ValueError, match="uint8 frames"):
        occlude_mouth(lr.astype(np.float32), box, 4)
    with pytest.raises(ValueError, match="sigma > 0"):
        occlude_mouth(lr, box, 4, sigma=0)
