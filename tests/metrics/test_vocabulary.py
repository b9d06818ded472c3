"""vfhgan_core.metrics.vocabulary: the one table that names, labels and formats every reported metric."""
from __future__ import annotations

import pytest

from vfhgan_core.evaluation.results_tables import markdown_report
from vfhgan_core.metrics import ERQA_VERSION, METRICS, canonical_metrics, erqa, metric


def test_one_vocabulary_names_labels_and_formats_every_metric():
    assert metric("temporal_flicker") is METRICS["flicker"] and metric("mouth_psnr") is METRICS["mouth_psnr_y"]
    assert METRICS["psnr_y"].heading == "PSNR-Y (dB) ↑" and METRICS["flicker"].heading.endswith("↓")
    assert METRICS["hf_energy_ratio"].heading == METRICS["hf_energy_ratio"].label      # no direction: ideal is 1
    assert METRICS["word_acc"].format(0.8312) == "83.1%" and METRICS["ssim_y"].format(None) == "—"
    # older files' names are read as today's, a prefix kept; unknown names pass through
    old = {"mouth_psnr": 29.5, "bicubic/temporal_flicker": 1.5, "psnr_y": 31.0, "lr": 1e-4}
    assert canonical_metrics(old) == {"mouth_psnr_y": 29.5, "bicubic/flicker": 1.5, "psnr_y": 31.0, "lr": 1e-4}
    with pytest.raises(KeyError, match="unknown metric"):
        metric("psnr")
    # the reports use it: the evaluation tables' headings and figures are the vocabulary's
    bicubic = {"psnr_y": 28.123, "word_acc": 0.5}
    report = {"variants": [], "methods": {"bicubic": bicubic}, "clips": [],
              "datasets": {"grid": {"methods": {"bicubic": bicubic}, "clips": 1, "frames": 75}}}
    tables = markdown_report(report)
    assert f"| {METRICS['psnr_y'].heading} |" in tables and "| 28.12 |" in tables and "| 50.0% |" in tables


def test_the_reported_erqa_version_is_the_one_measured() -> None:
    import inspect

    assert METRICS["erqa"].label == f"ERQA v{ERQA_VERSION}" == "ERQA v1.0"
    assert inspect.signature(erqa).parameters["version"].default == ERQA_VERSION
