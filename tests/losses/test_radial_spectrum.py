"""The radial power-spectrum loss on a real GRID face: it is the metric's ring level, phase-free, and
its gradient raises the detail a bicubic upscale lacks."""
from __future__ import annotations

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.losses.frequency import FocalFrequencyLoss
from vfhgan_core.losses.radial_spectrum import RadialSpectrumLoss, RadialSpectrumLossConfig, ring_power
from vfhgan_core.losses.total import LossConfig, VFHGANLoss
from vfhgan_core.metrics.spectral import high_frequency_scores


@pytest.fixture(scope="module")
def face(grid_clip):
    """(gt, bicubic) float (1, 3, 128, 128) in [0, 1]: a GRID face crop and its ×4 bicubic round trip."""
    with av.open(str(grid_clip)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    t = torch.from_numpy(frame[40:200, 72:232].copy()).permute(2, 0, 1)[None].float() / 255.0
    gt = F.interpolate(t, size=(128, 128), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    lr = F.interpolate(gt, size=(32, 32), mode="bicubic", antialias=True, align_corners=False)
    bicubic = F.interpolate(lr, size=(128, 128), mode="bicubic", align_corners=False).clamp(0, 1)
    return gt, bicubic


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)[None]


def test_ring_power_is_the_level_evaluate_scores(face):
    gt, bicubic = face
    # evaluate's hf_error_db, rebuilt from ring_power over the same band
    loss = RadialSpectrumLoss(low=0.125, high=0.5)
    keep = loss.band(128)
    ratio = ring_power(bicubic)[0, keep] / ring_power(gt)[0, keep]
    ours = float((10 * torch.log10(ratio)).abs().mean())
    theirs = high_frequency_scores(_uint8(bicubic), _uint8(gt), band=(0.125, 0.5))["hf_error_db"]
    assert ours > 3.0  # bicubic is far below the truth up there
    assert ours == pytest.approx(theirs, abs=0.1)  # (evaluate rounds the frames to uint8 first)


def test_loss_ignores_phase_where_pixel_and_focal_losses_do_not(face):
    gt, _ = face
    shifted = torch.roll(gt, shifts=(5, -7), dims=(2, 3))  # same spectrum magnitudes, other phases
    radial = RadialSpectrumLoss()
    assert radial(gt, gt).item() == 0.0
    assert radial(shifted, gt).item() < 1e-8
    assert F.mse_loss(shifted, gt).item() > 1e-3
    assert FocalFrequencyLoss()(shifted, gt).item() > 1e-4
    blurred = F.avg_pool2d(F.pad(gt, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    assert radial(blurred, gt).item() > 0.1


def test_under_uncertain_detail_it_keeps_the_high_band_where_focal_and_pixel_losses_smooth_it(face):
    """The mechanism of train/README.md §8: one LR face, two equally likely truths whose missing
    detail (GT − bicubic) has the same spectrum level but other phases. Fitting one image to both,
    the focal frequency loss and pixel MSE settle on their mean (less detail); the radial loss
    keeps the level of either."""
    gt, bicubic = face
    detail = gt - bicubic
    truths = (bicubic + detail, bicubic + torch.roll(detail, shifts=(37, 53), dims=(2, 3)))
    band = RadialSpectrumLoss(low=0.125).band(128)

    def high_band_energy(x):
        return float(ring_power(x)[0, band].sum())

    def fit(loss_fn):
        torch.manual_seed(0)
        x = (bicubic + 0.01 * torch.randn_like(bicubic)).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=1e-3)
        for _ in range(200):
            opt.zero_grad()
            sum(loss_fn(x, t) for t in truths).backward()
            opt.step()
        return x.detach()

    level = high_band_energy(truths[0])
    assert high_band_energy(bicubic) < 0.3 * level
    radial = high_band_energy(fit(RadialSpectrumLoss())) / level
    focal = high_band_energy(fit(FocalFrequencyLoss())) / level
    mse = high_band_energy(fit(F.mse_loss)) / level
    assert radial > 0.85
    assert focal < 0.7 and mse < 0.7
    assert radial - focal > 0.2


def test_band_and_config(face):
    gt, bicubic = face
    high_only = RadialSpectrumLoss(low=0.125)
    assert int(high_only.band(128).sum()) == 48  # rings 16..63 of 64
    assert high_only(bicubic, gt) > RadialSpectrumLoss()(bicubic, gt)  # the low rings are nearly right
    cfg = RadialSpectrumLossConfig(low=0.1, high=0.4)
    assert from_dict(RadialSpectrumLossConfig, to_dict(cfg)) == cfg
    for bad in [dict(low=0.3, high=0.2), dict(high=0.6), dict(eps=0.0)]:
        with pytest.raises(ValueError):
            RadialSpectrumLossConfig(**bad)
    with pytest.raises(ValueError, match="same shape"):
        RadialSpectrumLoss()(gt, gt[..., :64, :64])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        ring_power(gt[0])


def test_total_loss_adds_the_term_only_when_weighted(face):
    gt, bicubic = face
    sr_x2 = F.interpolate(bicubic, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)
    base = dict(perceptual=0.0, lip_reading=0.0, frequency=0.0, adversarial=0.0)
    off = VFHGANLoss(LossConfig(**base)).generator_terms(bicubic, sr_x2, gt)
    on = VFHGANLoss(LossConfig(**base, radial_spectrum=2e-4)).generator_terms(bicubic, sr_x2, gt)
    assert "radial_spectrum" not in off
    assert on["radial_spectrum"].item() > 0
    torch.testing.assert_close(on["total"], off["total"] + on["radial_spectrum"])
    with pytest.raises(ValueError, match="radial_spectrum"):
        LossConfig(radial_spectrum=-1.0)
