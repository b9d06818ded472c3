"""vfhgan_core.weights.rounds: the history of weights trained over several runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vfhgan_core.weights.rounds import ROUND_KEYS, round_of, rounds_before, rounds_total

REPO = Path(__file__).resolve().parents[2]


def test_weights_written_before_rounds_count_as_one_round_of_their_own_facts(tmp_path: Path) -> None:
    old = {"command": "python train/train_vfhgan.py ...", "device": "NVIDIA H200", "steps": 342,
           "wall_time_s": 220.2, "train_clips": 506}
    (tmp_path / "training.json").write_text(json.dumps(old))
    (only,) = rounds_before(tmp_path)
    assert only == {k: old[k] for k in ROUND_KEYS if k in old} and "train_clips" not in only
    assert rounds_before(None) == [] and rounds_before(tmp_path / "elsewhere") == []
    # their loss weights and variant come from the config saved beside them
    (tmp_path / "experiment.json").write_text(json.dumps(
        {"variant": "audio-ffl-lip", "losses": {"frequency": 1.0, "frequency_at_64": True, "lip_reading": 2e-4}}))
    (only,) = rounds_before(tmp_path)
    assert only["variant"] == "audio-ffl-lip" and only["losses"] == {"frequency": 1.0, "lip_reading": 2e-4}


def test_history_grows_by_one_round_per_run_and_sums_per_device(tmp_path: Path) -> None:
    first = {"variant": "v", "device": "NVIDIA H200", "steps": 342, "wall_time_s": 220.0}
    second = {"variant": "v", "device": "CPU (x86_64, 2 cores)", "steps": 300, "wall_time_s": 600.0,
              "resumed_at": [202], "rounds": [first]}
    (tmp_path / "training.json").write_text(json.dumps(second))
    history = rounds_before(tmp_path)
    assert history == [first, round_of(second)] and history[1]["resumed_at"] == [202]  # an interrupted round says so
    third = {"device": "CPU (x86_64, 2 cores)", "steps": 300, "wall_time_s": 540.0}
    total = rounds_total([*history, third])
    assert total == {"rounds": 3, "steps": 942, "wall_time_s": 1360.0,
                     "wall_time_s_by_device": {"NVIDIA H200": 220.0, "CPU": 1140.0}}


def test_a_damaged_history_is_named(tmp_path: Path) -> None:
    (tmp_path / "training.json").write_text("{not json")
    with pytest.raises(ValueError, match="training.json is not valid JSON"):
        rounds_before(tmp_path)


def test_every_shipped_variant_reads(tmp_path: Path) -> None:
    for folder in sorted((REPO / "assets" / "weights").iterdir()):
        if (folder / "training.json").is_file():
            history = rounds_before(folder)
            assert history and history[-1].get("steps", 0) > 0, folder.name
