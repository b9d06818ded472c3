"""Markdown tables of an evaluation report (paper's Tables 1-3 layout), from a real evaluation run.

One GRID s1 clip is prepared and scored by bicubic and the three Table 1 variants (tiny
untrained generators from ``train/configs/smoke.json``) with the shipped lip reader, over two
data sources (the prepared folder and its shard file), so Table 3 has two column groups.
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch

from vfhgan_core.data.windows import find_clip_shards
from vfhgan_core.evaluation.results_tables import markdown_report
from vfhgan_core.evaluation.runs import EvaluationConfig, evaluate
from vfhgan_core.experiment import load_experiment
from vfhgan_core.metrics import METRICS
from vfhgan_core.models.generator import VFHGANGenerator

REPO = Path(__file__).resolve().parents[2]
TABLE1 = ("noaudio-ffl-lip", "audio-ffl-lip-noattn", "audio-ffl-lip")
DASH = "—"


@pytest.fixture(scope="module")
def report(prepare_grid_s1, tmp_path_factory: pytest.TempPathFactory) -> dict:
    prepared = prepare_grid_s1(("bbaf3s",), "tables_prepared")
    (shard,) = find_clip_shards(prepared).values()
    weights = tmp_path_factory.mktemp("tables_weights")
    gen = load_experiment(REPO / "train" / "configs" / "smoke.json").generator
    torch.manual_seed(0)
    VFHGANGenerator(dataclasses.replace(gen, use_audio=False)).save_pretrained(weights / "noaudio-ffl-lip")
    VFHGANGenerator(dataclasses.replace(gen, use_attention=False)).save_pretrained(weights / "audio-ffl-lip-noattn")
    VFHGANGenerator(gen).save_pretrained(weights / "audio-ffl-lip")
    config = EvaluationConfig(weights=str(weights), lip_reader=str(REPO / "assets" / "weights" / "lipreader"))
    out = evaluate([prepared, shard], config, cache_dir=tmp_path_factory.mktemp("tables_cache"))
    assert sorted(out["variants"]) == sorted(TABLE1) and len(out["datasets"]) == 2
    return out


def tables(text: str) -> dict[tuple[str, str], list[list[str]]]:
    """``{(## heading, ### heading or ""): rows of the first table below it}``; rows are cell
    lists, the header first, the ``|---|`` line left out."""
    out: dict[tuple[str, str], list[list[str]]] = {}
    h2 = h3 = ""
    for line in text.splitlines():
        if line.startswith("## "):
            h2, h3 = line[3:], ""
        elif line.startswith("### "):
            h3 = line[4:]
        elif line.startswith("|") and not line.startswith("|---"):
            out.setdefault((h2, h3), []).append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def fmt(metric: str, value: float | None) -> str:
    return DASH if value is None else METRICS[metric].format(value)


def metric_row(rows: list[list[str]], metric: str) -> list[str]:
    (row,) = [r for r in rows if r[0] == METRICS[metric].heading]
    return row[1:]


def test_table3_has_a_column_group_per_dataset(report: dict) -> None:
    found = tables(markdown_report(report))
    rows = found[("Table 3: comparison with bicubic", "")]
    names = list(report["datasets"])
    assert rows[0] == ["Method"] + [f"{d} {m}" for d in names for m in ("PSNR", "SSIM", "ERQA")]
    assert [r[0] for r in rows[1:]] == ["bicubic", *report["variants"]]
    for row in rows[1:]:
        expected = []
        for d in names:
            means = report["datasets"][d]["methods"][row[0]]
            expected += [fmt(m, means[m]) for m in ("psnr_y", "ssim_y", "erqa")]
        assert row[1:] == expected


def test_tables_1_and_2_per_dataset(report: dict) -> None:
    found = tables(markdown_report(report))
    for name, dataset in report["datasets"].items():
        section = f"{name} ({dataset['clips']} clips, {dataset['frames']} frames)"
        methods = dataset["methods"]
        t1 = found[(section, "Table 1: audio and attention")]
        assert [c.split("`")[1] for c in t1[0][1:]] == list(TABLE1)
        for metric in ("psnr_y", "ssim_y", "erqa", "hf_energy_ratio", "word_acc"):
            assert metric_row(t1, metric) == [fmt(metric, methods[v][metric]) for v in TABLE1]
        # word accuracy as a percentage with one decimal
        assert metric_row(t1, "word_acc") == [f"{100 * methods[v]['word_acc']:.1f}%" for v in TABLE1]

        # only "d." of each Table 2 was evaluated; the other columns show a dash
        with_audio = found[(section, "Table 2: losses (with audio)")]
        assert [c.split("`")[1] for c in with_audio[0][1:]] == [
            "audio-noffl-nolip", "audio-ffl-nolip", "audio-noffl-lip", "audio-ffl-lip"]
        assert metric_row(with_audio, "psnr_y") == [DASH, DASH, DASH, fmt("psnr_y", methods["audio-ffl-lip"]["psnr_y"])]
        without = found[(section, "Table 2: losses (without audio)")]
        assert metric_row(without, "erqa") == [DASH, DASH, DASH, fmt("erqa", methods["noaudio-ffl-lip"]["erqa"])]

        every = found[(section, "Every method")]
        assert [r[0] for r in every[1:]] == ["bicubic", *report["variants"], "ground_truth"]
        labels = every[0][1:]
        (truth,) = [r[1:] for r in every if r[0] == "ground_truth"]
        for label, cell in zip(labels, truth):
            if label == METRICS["word_acc"].heading:
                assert cell == f"{100 * methods['ground_truth']['word_acc']:.1f}%"
            else:
                assert cell == DASH  # the ground truth has word figures only


def test_missing_variants_show_as_a_dash(report: dict) -> None:
    gone = "audio-ffl-lip-noattn"
    partial = copy.deepcopy(report)
    for dataset in partial["datasets"].values():
        del dataset["methods"][gone]
    for clip in partial["clips"]:
        del clip["methods"][gone]
    found = tables(markdown_report(partial))
    (row,) = [r for r in found[("Table 3: comparison with bicubic", "")] if r[0] == gone]
    assert row[1:] == [DASH] * 6  # PSNR, SSIM, ERQA of both datasets
    for name, dataset in partial["datasets"].items():
        section = f"{name} ({dataset['clips']} clips, {dataset['frames']} frames)"
        t1 = found[(section, "Table 1: audio and attention")]
        for row in t1[1:]:
            assert row[2] == DASH and row[1] != DASH and row[3] != DASH
    clips = found[("Every clip (PSNR-Y dB / ERQA)", "")]
    column = clips[0].index(gone)
    assert [r[column] for r in clips[1:]] == [DASH] * len(partial["clips"])
    assert all(r[clips[0].index("bicubic")] != DASH for r in clips[1:])

    # no variant without audio at all: no such Table 2, and the w/o-audio column is a dash
    audio_only = copy.deepcopy(report)
    audio_only["variants"] = [v for v in report["variants"] if not v.startswith("noaudio")]
    for dataset in audio_only["datasets"].values():
        del dataset["methods"]["noaudio-ffl-lip"]
    text = markdown_report(audio_only)
    assert "Table 2: losses (without audio)" not in text and "Table 2: losses (with audio)" in text
    for (h2, h3), rows in tables(text).items():
        if h3.startswith("Table 1"):
            assert all(r[1] == DASH for r in rows[1:])


def test_percent_formatting_and_every_clip(report: dict) -> None:
    edited = copy.deepcopy(report)
    first = next(iter(edited["datasets"].values()))
    first["methods"]["audio-ffl-lip"]["word_acc"] = 1 / 3
    first["methods"]["noaudio-ffl-lip"]["word_acc"] = 1.0
    text = markdown_report(edited, title="GRID check")
    assert text.startswith("# GRID check\n")
    assert f"ERQA v{report['erqa_version']}" in text and "sentences: all" in text
    name = next(iter(edited["datasets"]))
    section = f"{name} ({first['clips']} clips, {first['frames']} frames)"
    row = metric_row(tables(text)[(section, "Table 1: audio and attention")], "word_acc")
    assert row[0] == "100.0%" and row[2] == "33.3%"

    clips = tables(text)[("Every clip (PSNR-Y dB / ERQA)", "")]
    assert clips[0] == ["Dataset", "Clip", "Frames", "bicubic", *report["variants"]]
    assert len(clips) - 1 == len(report["clips"])
    for cells, clip in zip(clips[1:], report["clips"]):
        assert cells[:3] == [clip["dataset"], clip["name"], str(clip["frames"])]
        bicubic = clip["methods"]["bicubic"]
        assert cells[3] == f"{fmt('psnr_y', bicubic['psnr_y'])} / {fmt('erqa', bicubic['erqa'])}"
