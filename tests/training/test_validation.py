"""vfhgan_core/training/validation.py and samples.py: the validation frames, their metrics and the sample grid."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vfhgan_core.metrics import mouth_psnr, psnr_y, temporal_flicker, to_uint8_rgb
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.training.samples import sample_grid, validation_grid
from vfhgan_core.training.validation import bicubic_up, frame_metrics, run_validation


def _frames(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 16, 16, generator=g), size=(128, 128), mode="bilinear")


def test_bicubic_up_is_the_centre_frame_upscaled_and_clamped() -> None:
    windows = torch.rand(2, 5, 3, 32, 32)
    windows[:, 2] = 0.5
    up = bicubic_up(windows, 4)
    assert up.shape == (2, 3, 128, 128) and torch.allclose(up, torch.full_like(up, 0.5))
    assert bicubic_up(torch.rand(1, 5, 3, 32, 32) * 3 - 1, 4).min() >= 0


def test_frame_metrics_are_the_library_metrics_with_flicker_per_sequence() -> None:
    gt = _frames(4, 0)
    sr = (gt + 0.05 * torch.randn(4, 3, 128, 128, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    boxes = torch.tensor([[40.0, 70.0, 90.0, 110.0]]).expand(4, 4)
    found = frame_metrics(sr, gt, boxes, seq_len=2)
    sr8, gt8 = to_uint8_rgb(sr), to_uint8_rgb(gt)
    assert set(found) == {"psnr_y", "ssim_y", "erqa", "mouth_psnr_y", "flicker"}
    assert found["psnr_y"] == psnr_y(sr8, gt8) and 20 < found["psnr_y"] < 40
    assert found["mouth_psnr_y"] == mouth_psnr(sr8, gt8, boxes.numpy())
    assert found["flicker"] == np.mean([temporal_flicker(sr8[:2], gt8[:2]), temporal_flicker(sr8[2:], gt8[2:])])
    assert frame_metrics(gt, gt, boxes, seq_len=2)["ssim_y"] > found["ssim_y"]


class _Windows(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        hr = _frames(2, i)
        lr = F.interpolate(hr, size=(32, 32), mode="area")
        return {"lr": lr[:, None].expand(-1, 5, -1, -1, -1).contiguous(), "hr": hr,
                "mel": torch.zeros(2, 1, 80, 16), "mouth_boxes": torch.tensor([[40.0, 70.0, 90.0, 110.0]] * 2)}


def test_validation_restores_every_frame_and_keeps_the_generator_mode() -> None:
    torch.manual_seed(0)
    generator = VFHGANGenerator(GeneratorConfig(use_audio=False, widths=(8, 8, 0), depths=(1, 0, 0))).train()
    res = run_validation(generator, _Windows(), torch.device("cpu"), use_audio=False, batch_size=2)
    assert generator.training
    assert {k: tuple(v.shape) for k, v in res.items()} == {"sr": (6, 3, 128, 128), "bicubic": (6, 3, 128, 128),
                                                           "gt": (6, 3, 128, 128), "boxes": (6, 4)}
    assert torch.equal(res["gt"][2], _Windows()[1]["hr"][0]) and 0 <= res["sr"].min() and res["sr"].max() <= 1
    grid = validation_grid(_Windows(), res, seq_len=2, num_frames=5, scale=4, rows=2)
    assert grid.shape == (2 * 128, 7 * 128, 3) and grid.dtype == np.uint8
    # the GT tile of the second row is the last sample's first frame
    assert np.array_equal(grid[128:, 3 * 128:4 * 128], to_uint8_rgb(_Windows()[2]["hr"][0])[0])


def test_sample_grid_zooms_the_mouth_to_the_tile() -> None:
    gt = torch.zeros(1, 3, 128, 128)
    gt[:, :, 70:110, 40:90] = 1.0                                    # the mouth box is white
    grid = sample_grid(torch.zeros(1, 3, 32, 32), gt, gt, gt, torch.tensor([[40.0, 70.0, 90.0, 110.0]]), 4)
    assert grid.shape == (128, 7 * 128, 3)
    assert (grid[:, 6 * 128:] == 255).all() and (grid[:, :128] == 0).all()


def test_the_validator_measures_bicubic_once_records_the_curves_and_draws_the_grid() -> None:
    from vfhgan_core.evaluation.spectral_curves import SpectralCurves
    from vfhgan_core.training.validation import Validator

    torch.manual_seed(0)
    generator = VFHGANGenerator(GeneratorConfig(use_audio=False, widths=(8, 8, 0), depths=(1, 0, 0)))
    curves = SpectralCurves.empty(n_bands=8, scale=4)
    validator = Validator(_Windows(), torch.device("cpu"), False, seq_len=2, num_frames=5, scale=4, curves=curves)
    first = validator(generator, 0)
    baseline = dict(validator.baseline)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(0.01)
    second = validator(generator, 10)
    assert validator.baseline == baseline and second.metrics["bicubic/psnr_y"] == first.metrics["bicubic/psnr_y"]
    assert set(first.metrics) == {*baseline, *(f"bicubic/{k}" for k in baseline)}
    assert curves.steps == [0, 10] and "val/spectrum/above_nyquist_db" in second.scalars
    assert second.scalars["val/psnr_y"] == second.metrics["psnr_y"] and first.grid.shape == (3 * 128, 7 * 128, 3)
    assert first.summary.startswith("psnr_y ") and "(bicubic " in first.summary
