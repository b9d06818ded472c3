"""Fourier views: real face crop vs its bicubic x4 round trip, white noise, a smooth image."""
from __future__ import annotations

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vfhgan_core.losses.frequency import frequency_weight_matrix
from vfhgan_core.metrics.image import rgb_to_y
from vfhgan_core.metrics.spectral import (
    ffl_weight_map,
    high_frequency_energy,
    log_magnitude_spectrum,
    luma,
    radial_frequency,
    radial_power_spectrum,
    ring_counts,
    spectral_error_map,
)


def _resize(rgb_uint8: np.ndarray, size: int) -> np.ndarray:
    t = torch.from_numpy(rgb_uint8).permute(2, 0, 1)[None].double() / 255.0
    out = F.interpolate(t, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return (out.clamp(0, 1)[0] * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def face(grid_clip):
    """(gt, bicubic): a 128x128 GRID face crop (160 px face box resized like the data pipeline) and
    its bicubic x4 round trip through 32x32. (GRID's native resolution is soft, so a crop taken at
    1:1 would lose less in the round trip.)"""
    with av.open(str(grid_clip)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    gt = _resize(frame[40:200, 72:232], 128)
    t = torch.from_numpy(gt).permute(2, 0, 1)[None].double() / 255.0
    lr = F.interpolate(t, size=(32, 32), mode="bicubic", antialias=True, align_corners=False)
    up = F.interpolate(lr, size=(128, 128), mode="bicubic", align_corners=False).clamp(0, 1)
    bicubic = (up[0] * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return gt, bicubic


def test_bicubic_has_clearly_less_high_frequency_power(face):
    gt, bicubic = face
    frac_gt, frac_bi = high_frequency_energy(gt), high_frequency_energy(bicubic)
    assert 0.0 < frac_bi < 0.5 * frac_gt < 1.0
    log_gt = high_frequency_energy(gt, mode="mean_log_power")
    log_bi = high_frequency_energy(bicubic, mode="mean_log_power")
    assert log_bi < log_gt - 1.5  # > 4.5x less power on a log average
    # the low band is kept: the round trip preserves coarse structure
    assert high_frequency_energy(bicubic, band=(0.0, 0.06)) > 0.8 * high_frequency_energy(gt, band=(0.0, 0.06))
    # the radial spectra agree below the 32x32 Nyquist limit (0.125 cycles/px at 128 px) and part
    # above it (bicubic's imaging replicas bring some power back towards 0.5)
    freqs, p_gt = radial_power_spectrum(gt)
    _, p_bi = radial_power_spectrum(bicubic)
    low, mid, high = (freqs > 0) & (freqs < 0.06), (freqs > 0.15) & (freqs < 0.25), freqs > 0.125
    assert np.all(np.abs(np.log(p_bi[low] / p_gt[low])) < 0.2)
    assert np.median(p_bi[mid] / p_gt[mid]) < 0.35
    assert np.all(p_bi[high] < p_gt[high])


def test_white_noise_spectrum_is_flat_at_its_variance():
    rng = np.random.default_rng(0)
    sigma = 0.1
    noise = rng.normal(0.0, sigma, (256, 256))
    freqs, power = radial_power_spectrum(noise, n_bins=32)
    assert freqs.shape == power.shape == (32,)
    assert freqs[0] == pytest.approx(0.5 / 64) and freqs[-1] == pytest.approx(0.5 - 0.5 / 64)
    rel = power[1:] / sigma ** 2  # ring 0 holds the (random) mean
    assert np.all(np.abs(rel - 1.0) < 0.3)
    assert abs(rel[:15].mean() / rel[15:].mean() - 1.0) < 0.1  # no slope
    # a flat spectrum puts the share of DFT bins that lie in a band into that band
    r = np.hypot(np.fft.fftfreq(256)[:, None], np.fft.fftfreq(256)[None, :])
    share = np.mean((r >= 0.25) & (r <= 0.5))
    assert high_frequency_energy(noise, band=(0.25, 0.5)) == pytest.approx(share, abs=0.01)


def test_smooth_image_spectrum_decays():
    yy, xx = np.mgrid[0:128, 0:128] / 127.0
    smooth = 0.2 + 0.6 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.4) ** 2) / 0.05) + 0.1 * xx
    freqs, power = radial_power_spectrum(smooth)
    assert freqs.shape == (64,) and np.all(np.isfinite(power))
    assert power[1] > 1e3 * power[-1]
    assert np.mean(np.diff(np.log(power[1:32])) < 0) > 0.8  # mostly decreasing over the lower half


def test_log_magnitude_spectrum_is_centred_log_of_the_luma_dft(face):
    gt, _ = face
    spec = log_magnitude_spectrum(gt)
    expected = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(rgb_to_y(gt) / 255.0, norm="ortho"))))
    np.testing.assert_allclose(spec, expected, rtol=1e-10, atol=1e-12)
    assert np.unravel_index(np.argmax(spec), spec.shape) == (64, 64)  # DC in the centre
    # grayscale and channel-first tensors are accepted
    np.testing.assert_allclose(log_magnitude_spectrum(torch.from_numpy(gt).permute(2, 0, 1)), spec)
    gray = (rgb_to_y(gt) / 255.0)
    np.testing.assert_allclose(log_magnitude_spectrum(gray), spec)
    assert log_magnitude_spectrum(gray[:, :100]).shape == (128, 100)


def test_error_and_weight_maps(face):
    gt, bicubic = face
    assert np.count_nonzero(spectral_error_map(gt, gt.copy())) == 0
    assert np.count_nonzero(ffl_weight_map(gt, gt.copy())) == 0
    err = spectral_error_map(bicubic, gt, log=False)
    expected = np.abs(np.fft.fftshift(np.fft.fft2(luma(bicubic), norm="ortho") - np.fft.fft2(luma(gt), norm="ortho")))
    np.testing.assert_allclose(err, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(spectral_error_map(bicubic, gt), np.log1p(expected), rtol=1e-9, atol=1e-12)
    w = ffl_weight_map(bicubic, gt)
    assert w.shape == (128, 128) and w.min() >= 0.0 and w.max() == pytest.approx(1.0)
    ref = frequency_weight_matrix(torch.from_numpy(luma(bicubic))[None, None], torch.from_numpy(luma(gt))[None, None])
    np.testing.assert_allclose(w, np.fft.fftshift(ref[0, 0].numpy()))
    np.testing.assert_allclose(w, expected / expected.max(), rtol=1e-9, atol=1e-12)  # alpha = 1
    w2 = ffl_weight_map(bicubic, gt, alpha=2.0)
    np.testing.assert_allclose(w2, (expected / expected.max()) ** 2, rtol=1e-9, atol=1e-12)
    # the bicubic error lives at the high frequencies: the centre of the map is small
    c = slice(64 - 8, 64 + 8)
    assert w[c, c].mean() < w.mean()


def test_bad_inputs():
    with pytest.raises(ValueError, match="same size"):
        spectral_error_map(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="one frame"):
        log_magnitude_spectrum(np.zeros((2, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="mode"):
        high_frequency_energy(np.zeros((8, 8)), mode="sum")
    with pytest.raises(ValueError, match="band"):
        high_frequency_energy(np.zeros((8, 8)), band=(0.4, 0.2))


def test_band_spectral_error_levels(face):
    from vfhgan_core.metrics.spectral import band_edges, band_spectral_error

    gt, bicubic = face
    t_gt = torch.from_numpy(gt).permute(2, 0, 1)[None].double() / 255
    t_bi = torch.from_numpy(bicubic).permute(2, 0, 1)[None].double() / 255
    assert band_edges(4).tolist() == [0.0, 0.125, 0.25, 0.375, 0.5]
    # a missing image is as wrong as the target is strong in every band: 0 dB
    np.testing.assert_allclose(band_spectral_error(torch.zeros_like(t_gt), t_gt), 0.0, atol=1e-9)
    assert np.all(band_spectral_error(t_gt, t_gt) < -200)
    # the bicubic round trip keeps the lowest band and loses the bands above the 32×32 Nyquist limit
    err = band_spectral_error(t_bi, t_gt, n_bands=8)
    assert err[0] < -25 and np.all(err[2:] > -12) and err[0] < err[1] < err[2]
    # white noise of variance σ² costs σ² per DFT bin: the error level follows the band's target energy
    noise = torch.randn(t_gt.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.01
    noisy = band_spectral_error(t_gt + noise, t_gt, n_bands=8)
    fy = np.fft.fftfreq(128)[:, None]
    r = np.sqrt(fy ** 2 + np.fft.fftfreq(128)[None, :] ** 2)
    ft = torch.fft.fft2(t_gt[0], norm="ortho").abs().square().sum(0).numpy()
    for k in range(8):
        ring = (r >= k / 16) & (r < (k + 1) / 16) if k < 7 else (r >= 7 / 16) & (r <= 0.5)
        expected = 10 * np.log10(3 * 1e-4 * ring.sum() / ft[ring].sum())
        assert noisy[k] == pytest.approx(expected, abs=0.5)
    with pytest.raises(ValueError, match="equal shape"):
        band_spectral_error(t_gt, t_gt[..., :64])


def test_mean_above_takes_the_bands_from_a_frequency_up() -> None:
    from vfhgan_core.metrics.spectral import band_edges, bands_above, mean_above

    edges = band_edges(8)
    assert bands_above(edges, 0.125).tolist() == [False, False] + [True] * 6
    values = np.arange(8, dtype=float)
    assert mean_above(values, edges, 0.125) == pytest.approx(np.mean(values[2:]))
    values[3] = np.nan                                   # a band without data is left out
    assert mean_above(values, edges, 0.125) == pytest.approx(np.mean([2, 4, 5, 6, 7]))
    assert np.isnan(mean_above(values[:1], band_edges(1), 0.125))      # no band starts above 0.125


def test_ring_counts_turn_ring_means_back_into_the_total_power() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    counts = ring_counts((128, 128))
    assert counts.shape == (64,) and counts.min() >= 1
    assert counts.sum() == int((radial_frequency((128, 128)) <= 0.5).sum())
    _, power = radial_power_spectrum(frame)
    # ring mean × ring size summed = the power of every bin inside the 0.5 cycles/pixel disc
    spectrum = np.abs(np.fft.fft2(luma(frame), norm="ortho")) ** 2
    inside = radial_frequency((128, 128)) <= 0.5
    assert float((power * counts).sum()) == pytest.approx(float(spectrum[inside].sum()), rel=1e-9)
    assert ring_counts((128, 128), n_bins=16).sum() == counts.sum()
