"""vfhgan_core/weights/run_record.py: the typed facts of a training run, as its weights folder's training.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vfhgan_core.weights.rounds import round_of
from vfhgan_core.weights.run_record import TRAINING_JSON, RunRecord

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for p in (REPO / "assets" / "weights").iterdir()
                 if (p / "experiment.json").is_file() and (p / TRAINING_JSON).is_file())


def test_every_shipped_variant_record_round_trips_to_the_same_json(tmp_path: Path) -> None:
    assert len(SHIPPED) >= 10
    for folder in SHIPPED:
        original = json.loads((folder / TRAINING_JSON).read_text())
        record = RunRecord.read(folder)
        assert record is not None and record.steps == original["steps"] > 0, folder.name
        assert isinstance(record.train_clips, int) and isinstance(record.wall_time_s, float)
        out = tmp_path / folder.name
        out.mkdir()
        record.write(out)
        again = json.loads((out / TRAINING_JSON).read_text())
        assert again == original and list(again) == list(original), folder.name   # same keys, same order


def test_fields_left_unset_are_not_written_and_clip_ids_stay_out_of_the_file(tmp_path: Path) -> None:
    record = RunRecord(steps=5, device="cpu", clip_ids=["grid_s1/video/bbaf2n"], val_same_recordings={})
    assert record.to_dict() == {"clip_ids": ["grid_s1/video/bbaf2n"], "val_same_recordings": {}, "device": "cpu",
                                "steps": 5}
    record.write(tmp_path)
    assert json.loads((tmp_path / TRAINING_JSON).read_text()) == {"val_same_recordings": {}, "device": "cpu",
                                                                  "steps": 5}
    # a checkpoint keeps clip_ids (trainer_state.json's "extra") and reads them back
    assert RunRecord.from_dict(record.to_dict()) == record
    assert RunRecord.read(tmp_path / "nowhere") is None


def test_an_unknown_key_or_a_damaged_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / TRAINING_JSON).write_text(json.dumps({"steps": 3, "stpes": 4}))
    with pytest.raises(ValueError, match=r"training.json: unknown field\(s\) stpes"):
        RunRecord.read(tmp_path)
    (tmp_path / TRAINING_JSON).write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        RunRecord.read(tmp_path)
    (tmp_path / TRAINING_JSON).write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        RunRecord.read(tmp_path)


def test_types_are_coerced_and_a_round_is_its_round_keys() -> None:
    record = RunRecord.from_dict({"steps": 300, "wall_time_s": 12, "variant": "audio-ffl-lip", "device": "cpu",
                                  "losses": {"frequency": 1.0}, "train_clips": 9, "command": None})
    assert record.wall_time_s == 12.0 and isinstance(record.wall_time_s, float) and record.command is None
    assert round_of(record) == {"variant": "audio-ffl-lip", "device": "cpu", "steps": 300, "wall_time_s": 12.0,
                                "losses": {"frequency": 1.0}}
    assert round_of(record) == round_of(record.to_dict())


def test_the_summary_says_how_much_training_the_weights_had() -> None:
    assert RunRecord().summary() is None
    assert RunRecord(steps=300, wall_time_s=660.0, device="CPU (x86_64, 2 cores)").summary() == \
        "300 steps, 11.0 min on CPU (x86_64, 2 cores)"
    assert RunRecord(steps=5000, wall_time_s=3 * 3600.0).summary() == "5,000 steps, 3.0 h"
    # weights trained over rounds: the totals, split by device
    shipped = RunRecord.read(REPO / "assets" / "weights" / "audio-ffl-lip")
    total = shipped.total
    text = shipped.summary()
    assert text.startswith(f"{total['steps']:,} steps in {total['rounds']} rounds, ")
    assert all(device in text for device in total["wall_time_s_by_device"])
