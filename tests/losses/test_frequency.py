"""The weighted Fourier frequency loss against the PyPI focal-frequency-loss 0.3.0 reference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from focal_frequency_loss import FocalFrequencyLoss as ReferenceFFL

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.losses.frequency import (
    FocalFrequencyLoss,
    FrequencyLossConfig,
    frequency_weight_matrix,
    image_spectrum,
    spectral_error,
)

SHAPES = [(2, 3, 16, 16), (3, 1, 12, 20), (1, 3, 32, 24)]
OPTIONS = list(itertools.product([False, True], repeat=3))  # ave_spectrum, log_matrix, batch_matrix


def _pair(shape, seed):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=torch.float64)
    pred = (target + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return pred, target


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("patch_factor", [1, 2, 4])
@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_value_and_gradient_match_reference(shape, patch_factor, alpha):
    pred, target = _pair(shape, seed=hash((shape, patch_factor, alpha)) % 10_000)
    for ave, log, batch in OPTIONS:
        kwargs = dict(loss_weight=0.7, alpha=alpha, patch_factor=patch_factor,
                      ave_spectrum=ave, log_matrix=log, batch_matrix=batch)
        ours_in = pred.clone().requires_grad_(True)
        ref_in = pred.clone().requires_grad_(True)
        ours = FocalFrequencyLoss(**kwargs)(ours_in, target)
        ref = ReferenceFFL(**kwargs)(ref_in, target)
        ours.backward()
        ref.backward()
        assert ours.item() > 0
        torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-14, msg=f"value, {kwargs}")
        torch.testing.assert_close(ours_in.grad, ref_in.grad, rtol=1e-9, atol=1e-14,
                                   msg=f"gradient, {kwargs}")


def test_float32_matches_reference_and_given_matrix_is_used():
    pred, target = _pair((2, 3, 32, 32), seed=3)
    pred, target = pred.float(), target.float()
    torch.testing.assert_close(FocalFrequencyLoss()(pred, target), ReferenceFFL()(pred, target))
    matrix = torch.rand(2, 4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    ours = FocalFrequencyLoss(patch_factor=2)(pred, target, matrix=matrix)
    ref = ReferenceFFL(patch_factor=2)(pred, target, matrix=matrix)
    torch.testing.assert_close(ours, ref)
    # a different matrix gives a different value: the argument is really used
    assert not torch.isclose(ours, FocalFrequencyLoss(patch_factor=2)(pred, target, matrix=matrix / 2))


def test_identical_images_give_zero_loss_and_zero_weights():
    x = torch.rand(2, 3, 16, 16)
    assert FocalFrequencyLoss()(x, x.clone()).item() == 0.0
    w = frequency_weight_matrix(x, x.clone())
    assert torch.count_nonzero(w) == 0 and not torch.isnan(w).any()


def test_weight_matrix_is_the_one_the_loss_uses():
    pred, target = _pair((2, 3, 16, 16), seed=5)
    fp, ft = image_spectrum(pred), image_spectrum(target)
    w = frequency_weight_matrix(fp, ft, alpha=1.0)
    # loss = mean(w * d^2) with d from spectral_error
    d = spectral_error(fp, ft)
    torch.testing.assert_close(FocalFrequencyLoss()(pred, target), (w * d.square()).mean())
    # image input gives the same weights, without the patch dimension
    torch.testing.assert_close(frequency_weight_matrix(pred, target), w[:, 0])
    assert w.shape == (2, 1, 3, 16, 16)
    assert float(w.min()) >= 0.0
    maxima = w.amax(dim=(-2, -1))
    torch.testing.assert_close(maxima, torch.ones_like(maxima))  # normalised per sample & channel
    wb = frequency_weight_matrix(pred, target, batch_matrix=True)
    assert float(wb.max()) == 1.0 and float(wb.amax(dim=(-2, -1)).min()) < 1.0


def test_weight_is_detached_and_gradient_reaches_pred_only():
    pred, target = _pair((1, 3, 16, 16), seed=7)
    pred = pred.float().requires_grad_(True)
    target = target.float().requires_grad_(True)
    assert not frequency_weight_matrix(pred, target).requires_grad
    FocalFrequencyLoss()(pred, target.detach()).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None


def test_spectral_error_matches_numpy_fft():
    pred, target = _pair((1, 1, 8, 12), seed=11)
    expected = np.abs(np.fft.fft2(pred[0, 0].numpy(), norm="ortho") - np.fft.fft2(target[0, 0].numpy(), norm="ortho"))
    np.testing.assert_allclose(spectral_error(pred, target)[0, 0].numpy(), expected, rtol=1e-10, atol=1e-12)


def test_loss_concentrates_on_the_missing_high_frequencies():
    """Blurring removes high frequencies: the weight peaks away from DC."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 1, 32, 32, generator=g)
    blurred = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    w = torch.fft.fftshift(frequency_weight_matrix(blurred, target)[0, 0])
    centre = w[12:20, 12:20].mean()
    border = torch.cat([w[:4].flatten(), w[-4:].flatten()]).mean()
    assert border > 3 * centre


def test_bad_inputs_raise_clear_errors():
    x = torch.rand(1, 3, 30, 30)
    with pytest.raises(ValueError, match="patch_factor 4 must divide"):
        FocalFrequencyLoss(patch_factor=4)(x, x)
    with pytest.raises(ValueError, match="same shape"):
        FocalFrequencyLoss()(x, torch.rand(1, 3, 30, 28))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        FocalFrequencyLoss()(x[0], x[0])
    with pytest.raises(ValueError, match="positive integer"):
        FocalFrequencyLoss(patch_factor=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        FocalFrequencyLoss()(x, x, matrix=torch.full((1, 1, 3, 30, 30), 2.0))


def test_config_round_trip():
    cfg = FrequencyLossConfig(loss_weight=1e-4, alpha=1.0, patch_factor=2, log_matrix=True)
    assert from_dict(FrequencyLossConfig, to_dict(cfg)) == cfg
    loss = FocalFrequencyLoss.from_config(cfg)
    assert loss.config() == cfg


def test_half_precision_inputs_are_computed_in_float32():
    pred, target = _pair((1, 3, 12, 12), seed=13)
    half = FocalFrequencyLoss()(pred.half(), target.half())
    assert half.dtype == torch.float32 and torch.isfinite(half)
    full = FocalFrequencyLoss()(pred.half().float(), target.half().float())
    torch.testing.assert_close(half, full)


def test_spectral_error_gradient_is_finite_where_spectra_agree():
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    spectral_error(x, x.detach().clone()).sum().backward()
    assert torch.isfinite(x.grad).all()
