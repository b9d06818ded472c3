"""Helpers for the tests of weights folders and their publication: a weights folder of two tiny variants.

Imported by ``tests/weights/test_folder_format.py``, ``tests/weights/test_publish.py`` and
``tests/train/test_push_to_hub.py`` (``tests/`` is on ``sys.path``: ``pythonpath`` in pyproject.toml);
each test module makes one folder with :func:`make_weights_dir` in a module-scoped fixture.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from vfhgan_core.experiment import load_experiment
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.weights.folder_format import write_weights_folder
from vfhgan_core.weights.run_record import RunRecord

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "train" / "configs" / "smoke.json"
LIPREADER = REPO / "assets" / "weights" / "lipreader"

METRICS = {
    "audio-ffl-lip": {"psnr_y": 31.2345, "ssim_y": 0.9012, "erqa": 0.512, "mouth_psnr": 29.5,
                      "temporal_flicker": 1.25, "bicubic/psnr_y": 30.1, "bicubic/ssim_y": 0.88,
                      "bicubic/erqa": 0.41, "bicubic/mouth_psnr": 28.0, "bicubic/temporal_flicker": 1.5},
    "noaudio-noffl-nolip": {"psnr_y": 30.8765, "ssim_y": 0.8954, "erqa": 0.47, "mouth_psnr": 29.1,
                            "temporal_flicker": 1.4, "bicubic/psnr_y": 30.1, "bicubic/ssim_y": 0.88,
                            "bicubic/erqa": 0.41, "bicubic/mouth_psnr": 28.0, "bicubic/temporal_flicker": 1.5},
}


def write_variant(root: Path, name: str, steps: int) -> Path:
    """A tiny trained-looking variant folder (smoke-sized generator with perturbed weights)."""
    exp = load_experiment(SMOKE)
    if name == "noaudio-noffl-nolip":
        exp = exp.with_overrides(variant=name, generator={"use_audio": False},
                                 losses={"frequency": 0.0, "lip_reading": 0.0})
    torch.manual_seed(steps)
    generator = VFHGANGenerator(exp.generator)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return write_weights_folder(root / name, generator, exp, METRICS[name], RunRecord(steps=steps, device="cpu"))


def make_weights_dir(root: Path) -> Path:
    """assets/weights-like folder in ``root``: two variants, the shipped lip reader and an unrelated folder."""
    write_variant(root, "audio-ffl-lip", steps=7)
    write_variant(root, "noaudio-noffl-nolip", steps=9)
    shutil.copytree(LIPREADER, root / "lipreader")
    (root / "notes").mkdir()
    return root


def copy_variant(weights_dir: Path, tmp_path: Path, name: str = "audio-ffl-lip", as_name: str | None = None) -> Path:
    dest = tmp_path / "w" / (as_name or name)
    shutil.copytree(weights_dir / name, dest)
    return dest
