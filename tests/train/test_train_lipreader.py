"""train/train_lipreader.py, the command line of vfhgan_core.training.lipreader, run as a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vfhgan_core.config import to_dict
from vfhgan_core.data.words import GRID_VOCABULARY, MouthAugmentConfig, SentenceSplit
from vfhgan_core.models.lipreading import LipReader, LipReaderConfig
from vfhgan_core.training import lipreader as tl

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "train" / "train_lipreader.py"


@pytest.fixture(scope="module")
def prepared(prepare_grid_s1) -> Path:
    return prepare_grid_s1(("bbaf2n", "bbaf3s", "bbaf4p"), "lipreader_prepared")


@pytest.mark.slow
def test_options_override_the_config_file_and_the_run_is_recorded(prepared: Path, tmp_path: Path) -> None:
    config = tl.LipReaderTrainConfig(
        data=tl.WordDataConfig(data_dir="elsewhere", frames=8, split=SentenceSplit(heldout=("bbaf3s",)),
                               augmentation=MouthAugmentConfig(random_crop=False, flip_prob=0.0, time_mask_max=0,
                                                               max_shift=0)),
        model=LipReaderConfig(relu_type="relu", trunk_channels=(4, 8, 8, 8), tcn_hidden_dim=4, tcn_num_layers=2,
                              tcn_dropout=0.0, num_classes=len(GRID_VOCABULARY)),
        optim=tl.LipReaderOptimConfig(batch_size=12, lr=1e-2, max_steps=50), out_dir=str(tmp_path / "unused"),
        num_threads=2, eval_every=10, log_every=5, eval_batch_size=8)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(to_dict(config)))
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--config", str(path), "--data", str(prepared),
                           "--out", str(out), "--max-steps", "3", "--eval-every", "3", "--lr", "0.02",
                           "--threads", "1"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best held-out word accuracy" in proc.stderr
    record = json.loads((out / "training.json").read_text())
    ran = record["config"]
    assert record["steps"] == 3 and "--max-steps 3" in record["command"]
    assert ran["data"]["data_dir"] == str(prepared) and ran["optim"]["lr"] == 0.02 and ran["num_threads"] == 1
    assert ran["out_dir"] == str(out) and ran["optim"]["batch_size"] == 12        # the rest from the file
    assert LipReader.from_pretrained(out).config.num_classes == 51
    assert "python train/train_lipreader.py --config" in (out / "README.md").read_text()


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--config", str(tmp_path / "nope.json")],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2 and "nope.json does not exist" in proc.stderr and "Traceback" not in proc.stderr
