"""The one table of the metrics the project reports: their names, labels, formats and directions.

Every report reads it: the ``evaluate`` command's tables (:mod:`vfhgan_core.evaluation.results_tables`),
the model cards (:mod:`vfhgan_core.weights.model_card`), the app's metrics table and the trainer's logs.
A new metric gets its :class:`Metric` row here and its function in the module of its kind
(:mod:`~vfhgan_core.metrics.image`, :mod:`~vfhgan_core.metrics.temporal`, :mod:`~vfhgan_core.metrics.spectral`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ERQA_VERSION", "METRICS", "Metric", "canonical_metrics", "metric"]

#: ERQA version reported everywhere (the erqa package's Python default, and the version of the paper's time)
ERQA_VERSION = "1.0"


@dataclass(frozen=True)
class Metric:
    """One metric as every report names, labels and formats it.

    Attributes:
        key: its name in reports, ``metrics.json`` and logs (``val/<key>``).
        label: what people read (``"PSNR-Y (dB)"``).
        fmt: how a value is written (``"{:.2f}"``).
        higher_is_better: ``True`` / ``False``, or ``None`` where neither (a ratio whose ideal is 1).
        aliases: names older files use for it (read as ``key``).
    """

    key: str
    label: str
    fmt: str
    higher_is_better: bool | None
    aliases: tuple[str, ...] = ()

    @property
    def heading(self) -> str:
        """The label with its direction: ``PSNR-Y (dB) ↑``."""
        arrow = {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]
        return self.label + arrow

    def format(self, value: Any) -> str:
        """``value`` as reports write it; ``—`` for a missing one."""
        return "—" if value is None else self.fmt.format(value)


#: every metric the project reports, in the order tables show them
METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("psnr_y", "PSNR-Y (dB)", "{:.2f}", True),
    Metric("ssim_y", "SSIM-Y", "{:.4f}", True),
    Metric("erqa", f"ERQA v{ERQA_VERSION}", "{:.3f}", True),
    Metric("mouth_psnr_y", "mouth PSNR-Y (dB)", "{:.2f}", True, aliases=("mouth_psnr",)),
    Metric("flicker", "temporal flicker (Y levels)", "{:.3f}", False, aliases=("temporal_flicker",)),
    Metric("hf_error_db", "HF spectrum error (dB)", "{:.2f}", False),
    Metric("hf_energy_ratio", "HF energy SR/GT (1 = GT)", "{:.3f}", None),
    Metric("word_acc", "lip-reading word accuracy", "{:.1%}", True),
)}
_BY_ALIAS = {alias: m for m in METRICS.values() for alias in m.aliases}


def metric(name: str) -> Metric:
    """The :class:`Metric` called ``name`` (its key or an older alias)."""
    found = METRICS.get(name) or _BY_ALIAS.get(name)
    if found is None:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return found


def canonical_metrics(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with older metric names (also after a ``prefix/``) renamed to their keys; others unchanged."""
    out = {}
    for name, value in values.items():
        prefix, _, last = name.rpartition("/")
        alias = _BY_ALIAS.get(last)
        out[f"{prefix}/{alias.key}" if prefix and alias else alias.key if alias else name] = value
    return out
