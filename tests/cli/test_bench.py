"""The benchmark: rows, figures, the table and the CLI entry points (tiny repeat counts)."""
from __future__ import annotations

import argparse
import json

import pytest
import torch

from vfhgan_core.cli import bench
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator

GENERATOR_ROWS = ["generator default", "generator default w/o audio", "generator default w/o attention",
                  "generator large"]
ROW_KEYS = {"name", "kind", "input", "params_m", "gflops_per_frame", "batched_ms_per_frame", "batched_fps",
            "batch1_ms_per_frame", "batch1_fps", "measured", "note"}


@pytest.fixture(scope="module")
def result():
    return bench.run_benchmarks(batch_size=2, repeats=1, warmup=0, lip_frames=3)


def test_result_has_machine_settings_and_every_row(result):
    assert set(result) == {"machine", "settings", "rows", "notes"}
    machine = result["machine"]
    assert machine["torch"] == torch.__version__ and machine["cores"] >= 1 and machine["torch_threads"] >= 1
    assert machine["cpu"]
    assert result["settings"]["batch_size"] == 2 and result["settings"]["repeats"] == 1
    names = [r["name"] for r in result["rows"]]
    assert names[0] == "bicubic ×4"
    assert names[1:5] == GENERATOR_ROWS
    assert names[-1] == bench.PAPER_GENERATOR["name"]
    lip_skipped = any("lip reader skipped" in n for n in result["notes"])
    assert ("lip reader" in names) != lip_skipped
    for row in result["rows"]:
        assert set(row) == ROW_KEYS


def test_measured_figures_are_positive_and_consistent(result):
    rows = {r["name"]: r for r in result["rows"]}
    for row in rows.values():
        if not row["measured"]:
            continue
        for key in ("batched_ms_per_frame", "batched_fps", "batch1_ms_per_frame", "batch1_fps"):
            assert row[key] > 0, (row["name"], key)
        assert row["batched_fps"] == pytest.approx(1000 / row["batched_ms_per_frame"])
        assert row["batch1_fps"] == pytest.approx(1000 / row["batch1_ms_per_frame"])
    for name, config in zip(GENERATOR_ROWS, (GeneratorConfig.small(), GeneratorConfig.small(use_audio=False),
                                             GeneratorConfig.small(use_attention=False), GeneratorConfig.large())):
        row = rows[name]
        assert row["params_m"] == pytest.approx(VFHGANGenerator(config).num_parameters() / 1e6)
        assert row["gflops_per_frame"] > 0.05
    default, no_audio = rows["generator default"], rows["generator default w/o audio"]
    assert no_audio["params_m"] < default["params_m"]
    assert no_audio["gflops_per_frame"] < default["gflops_per_frame"]
    assert rows["generator large"]["gflops_per_frame"] > 3 * default["gflops_per_frame"]
    assert rows["bicubic ×4"]["params_m"] is None and rows["bicubic ×4"]["gflops_per_frame"] is None
    if "lip reader" in rows:
        assert rows["lip reader"]["params_m"] > 1 and rows["lip reader"]["gflops_per_frame"] > 0.05
    paper = rows[bench.PAPER_GENERATOR["name"]]
    assert paper["measured"] is False and paper["params_m"] == 38.3 and paper["gflops_per_frame"] == 64.8


def test_table_lists_every_row(result):
    text = bench.format_benchmarks(result)
    for row in result["rows"]:
        assert row["name"] in text
    assert "GFLOPs/frame" in text and "frames/s batched" in text
    assert "measured elsewhere" in text
    assert result["machine"]["cpu"] in text
    assert f"{result['rows'][1]['params_m']:.2f}" in text


def test_include_selects_parts_and_threads_are_restored():
    before = torch.get_num_threads()
    only = bench.run_benchmarks(batch_size=2, repeats=1, warmup=0, threads=1, include=("bicubic",))
    assert [r["name"] for r in only["rows"]] == ["bicubic ×4"]          # no paper row without generators
    assert only["machine"]["torch_threads"] == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="unknown benchmark part"):
        bench.run_benchmarks(include=("gpu",))


def test_cli_prints_json_or_a_table(capsys):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--only", "bicubic", "--batch-size", "2", "--repeats", "1", "--json"])
    assert bench.run(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["batch_size"] == 2 and data["rows"][0]["name"] == "bicubic ×4"
    args = parser.parse_args(["--only", "bicubic", "--batch-size", "2", "--repeats", "1"])
    assert bench.run(args) == 0
    out = capsys.readouterr().out
    assert "bicubic ×4" in out and "ms/frame batched" in out
