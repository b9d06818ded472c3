"""Markdown tables of an evaluation report, in the layout of the paper's Tables 1–3.

* Table 1 (audio and attention): metrics × {w/o audio, audio w/o attention, audio and
  attention}, i.e. ``noaudio-ffl-lip``, ``audio-ffl-lip-noattn``, ``audio-ffl-lip``.
* Table 2 (losses): metrics × {a. perceptual + adversarial, b. + frequency, c. + lip,
  d. + both}, i.e. ``audio-noffl-nolip``, ``audio-ffl-nolip``, ``audio-noffl-lip``,
  ``audio-ffl-lip`` (and the same without audio when those variants were evaluated).
* Table 3 (comparison): methods × datasets × {PSNR, SSIM, ERQA}: bicubic and ours.

Each of Tables 1 and 2 is given per dataset; then every method and every clip.
A variant the report lacks shows as "—".
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vfhgan_core.metrics import METRICS
from vfhgan_core.weights.variants import DEFAULT_VARIANT

__all__ = ["markdown_report"]
FULL = DEFAULT_VARIANT
TABLE1 = (("w/o audio", "noaudio-ffl-lip"), ("audio", "audio-ffl-lip-noattn"), ("audio and attention", FULL))
TABLE2 = (("a. perc. + adv.", "noffl-nolip"), ("b. + frequency", "ffl-nolip"),
          ("c. + lip-reading", "noffl-lip"), ("d. + frequency + lip-reading", "ffl-lip"))


def _fmt(metric: str, value: Any) -> str:
    known = METRICS.get(metric)
    return known.format(value) if known is not None else "—" if value is None else f"{value:.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _metric_rows(methods: Mapping[str, Mapping[str, float]], columns: Sequence[str],
                 metrics: Sequence[str]) -> list[list[str]]:
    rows = []
    for metric in metrics:
        if not any(metric in methods.get(c, {}) for c in columns):
            continue
        rows.append([METRICS[metric].heading] + [_fmt(metric, methods.get(c, {}).get(metric)) for c in columns])
    return rows


def _present_metrics(report: Mapping[str, Any]) -> list[str]:
    seen = {k for m in report["methods"].values() for k in m}
    return [m for m in METRICS if m in seen]


def markdown_report(report: Mapping[str, Any], title: str = "VFH-GAN evaluation") -> str:
    """The report of :func:`vfhgan_core.evaluation.runs.evaluate` as markdown."""
    metrics = _present_metrics(report)
    out = [f"# {title}", ""]
    cfg = report.get("config", {})
    out.append(f"ERQA v{report.get('erqa_version')}; degradation {cfg.get('degradation')} ×{cfg.get('scale')}; "
               f"high-frequency band {tuple(cfg.get('high_band', ()))} cycles/pixel of the 128×128 frame; "
               f"sentences: {cfg.get('sentences')}. Means over clips; word accuracy pooled over words.")
    if cfg.get("blind_degradation"):
        out += ["", f"**Blind degradations**: every clip's LR input was made by its own draw of the real-video "
                    f"chain (seed {cfg.get('degradation_seed', 0)}; the parameters of each clip are in the JSON "
                    "report)."]
    if cfg.get("speech", "matched") != "matched":
        out += ["", f"**Speech ablation**: the audio-conditioned variants heard **{cfg['speech']}** speech "
                    "(`--speech`), not the clip's own."]
    if cfg.get("self_ensemble"):
        out += ["", "**Flip self-ensemble**: every variant restored each frame also mirrored and averaged the two "
                    "(`--self-ensemble`, twice the compute); bicubic is the same."]
    if cfg.get("occlude_mouth"):
        out += ["", "**Mouth occluded**: the mouth of every LR input frame was blurred beyond reading "
                    "(`--occlude-mouth`), so only the speech could tell a variant its shape."]
    out.append("")
    excluded = sorted(report.get("excluded_training_clips") or ())
    if excluded:
        shown = ", ".join(excluded[:12]) + (f", … ({len(excluded) - 12} more)" if len(excluded) > 12 else "")
        out += [f"Left out because the variants trained on them: {len(excluded)} clip(s) ({shown}).", ""]
    twins = report.get("same_recordings") or {}
    if twins:
        out += ["Of those, the same recording as a training clip under another name (same speech fingerprint): "
                + ", ".join(f"{clip} = {train}" for clip, train in sorted(twins.items())) + ".", ""]
    datasets = report["datasets"]

    out += ["## Table 3: comparison with bicubic", ""]
    header = ["Method"] + [f"{d} {m}" for d in datasets for m in ("PSNR", "SSIM", "ERQA")]
    rows = []
    for method in ("bicubic", *report["variants"]):
        row = [method]
        for d in datasets.values():
            values = d["methods"].get(method, {})
            row += [_fmt(m, values.get(m)) for m in ("psnr_y", "ssim_y", "erqa")]
        rows.append(row)
    out += [_table(header, rows), ""]

    for name, d in datasets.items():
        methods = d["methods"]
        out += [f"## {name} ({d['clips']} clips, {d['frames']} frames)", ""]
        out += ["### Table 1: audio and attention", ""]
        cols = [v for _, v in TABLE1]
        out += [_table(["Metric"] + [f"{label} (`{v}`)" for label, v in TABLE1],
                       _metric_rows(methods, cols, metrics)), ""]
        for audio in ("audio", "noaudio"):
            cols = [f"{audio}-{suffix}" for _, suffix in TABLE2]
            if not any(c in methods for c in cols):
                continue
            out += [f"### Table 2: losses ({'with' if audio == 'audio' else 'without'} audio)", ""]
            out += [_table(["Metric"] + [f"{label} (`{c}`)" for (label, _), c in zip(TABLE2, cols)],
                           _metric_rows(methods, cols, metrics)), ""]
        out += ["### Every method", ""]
        order = [m for m in ("bicubic", *report["variants"], "ground_truth") if m in methods]
        rows = [[m] + [_fmt(k, methods[m].get(k)) for k in metrics] for m in order]
        out += [_table(["Method"] + [METRICS[k].heading for k in metrics], rows), ""]

    out += ["## Every clip (PSNR-Y dB / ERQA)", ""]
    methods = ("bicubic", *report["variants"])
    rows = []
    for clip in report["clips"]:
        rows.append([clip["dataset"], clip["name"], str(clip["frames"])] + [
            f"{_fmt('psnr_y', clip['methods'][m].get('psnr_y'))} / {_fmt('erqa', clip['methods'][m].get('erqa'))}"
            if m in clip["methods"] else "—" for m in methods])
    out += [_table(["Dataset", "Clip", "Frames", *methods], rows), ""]
    return "\n".join(out)
