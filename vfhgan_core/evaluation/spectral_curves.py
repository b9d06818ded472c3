"""How a generator's spectral error changed during training: the ``spectral_curves.json`` of a weights folder.

At every validation the trainer (``train/train_vfhgan.py``) records the relative spectral error
of the validation frames band by band (:func:`vfhgan_core.metrics.spectral.band_spectral_error`, the
measure of the app's frequency-loss lab) and writes the whole history beside the exported
weights. The app's *Frequency view* draws it for the chosen variants: how the error above the
32×32 input's Nyquist limit closed over the steps, with and without the frequency loss.

File format (JSON)::

    {"band_edges": [0.0, 0.0625, ..., 0.5],      cycles per HR pixel
     "high_band_start": 0.125,                    the input's Nyquist limit
     "steps": [200, 400, ...],
     "band_error_db": [[...n_bands...], ...],     one row per step
     "bicubic_band_error_db": [...n_bands...]}    the same frames upsampled by bicubic
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.metrics.spectral import band_edges, band_spectral_error, mean_above

__all__ = ["SPECTRAL_CURVES_FILE", "SpectralCurves", "load_spectral_curves"]

SPECTRAL_CURVES_FILE = "spectral_curves.json"


@dataclass
class SpectralCurves:
    """Per-band relative spectral error (dB) of the validation frames at each validation step."""

    band_edges: list[float]
    high_band_start: float
    steps: list[int] = field(default_factory=list)
    band_error_db: list[list[float]] = field(default_factory=list)
    bicubic_band_error_db: list[float] | None = None

    @classmethod
    def empty(cls, n_bands: int = 8, scale: int = 4) -> "SpectralCurves":
        """No step yet; ``n_bands`` equal bands, the high band starting at the ×``scale`` input's Nyquist limit."""
        return cls(band_edges=[float(e) for e in band_edges(n_bands)], high_band_start=0.5 / scale)

    @property
    def n_bands(self) -> int:
        return len(self.band_edges) - 1

    def record(self, step: int, sr: torch.Tensor, gt: torch.Tensor, bicubic: torch.Tensor | None = None) -> list[float]:
        """Add (or replace) ``step``'s row from restored and true frames ``(N, 3, H, W)``; returns the row."""
        row = [float(v) for v in band_spectral_error(sr, gt, self.n_bands)]
        if bicubic is not None and self.bicubic_band_error_db is None:
            self.bicubic_band_error_db = [float(v) for v in band_spectral_error(bicubic, gt, self.n_bands)]
        if step in self.steps:       # a resumed run validates the same step again
            self.band_error_db[self.steps.index(step)] = row
        else:
            self.steps.append(int(step))
            self.band_error_db.append(row)
        return row

    def above_nyquist_db(self) -> list[float]:
        """Mean error of the bands above the input's Nyquist limit, one value per step."""
        return [mean_above(row, self.band_edges, self.high_band_start) for row in self.band_error_db]

    def bicubic_above_nyquist_db(self) -> float | None:
        if self.bicubic_band_error_db is None:
            return None
        return mean_above(self.bicubic_band_error_db, self.band_edges, self.high_band_start)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SpectralCurves":
        try:
            curves = cls(band_edges=[float(e) for e in data["band_edges"]],
                         high_band_start=float(data["high_band_start"]),
                         steps=[int(s) for s in data.get("steps", [])],
                         band_error_db=[[float(v) for v in row] for row in data.get("band_error_db", [])],
                         bicubic_band_error_db=(None if data.get("bicubic_band_error_db") is None
                                                else [float(v) for v in data["bicubic_band_error_db"]]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a spectral-curves record ({type(exc).__name__}: {exc})") from None
        if len(curves.steps) != len(curves.band_error_db) or any(len(r) != curves.n_bands for r in curves.band_error_db):
            raise ValueError("spectral-curves record: one row of n_bands values per step is needed")
        return curves

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``folder/spectral_curves.json`` and return its path."""
        path = Path(folder) / SPECTRAL_CURVES_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SpectralCurves":
        path = Path(path)
        if path.is_dir():
            path = path / SPECTRAL_CURVES_FILE
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def load_spectral_curves(variant: str, source: str | os.PathLike | None = None) -> SpectralCurves | None:
    """The training curves of ``variant`` from the same source as its weights, or ``None`` when it has none.

    Local folders are read directly; a Hub repo is read from the cache, or downloaded when the
    Hub can be reached (:func:`vfhgan_core.weights.hub.resolve_file`). Weights trained before the curves
    were recorded have no such file.
    """
    from vfhgan_core.weights.hub import resolve_file, variant_source

    try:
        path, subfolder = variant_source(variant, source)
        return SpectralCurves.load(resolve_file(path, SPECTRAL_CURVES_FILE, subfolder=subfolder))
    except WeightsNotFoundError:
        return None
