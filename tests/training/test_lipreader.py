"""vfhgan_core/training/lipreader.py: config, schedule, a tiny real training run on prepared GRID clips, the shipped
lip reader. (Its command line, train/train_lipreader.py: tests/train/test_train_lipreader.py.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.data.words import GRID_VOCABULARY, MouthAugmentConfig, SentenceSplit, WordClipDataset
from vfhgan_core.models.lipreading import LipReader, LipReaderConfig
from vfhgan_core.training import lipreader as tl
from vfhgan_core.training.schedules import lr_factor

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "train" / "configs" / "lipreader_grid.json"
CLIPS = ("bbaf2n", "bbaf3s", "bbaf4p")


@pytest.fixture(scope="module")
def prepared(prepare_grid_s1) -> Path:
    """Three real GRID s1 clips prepared into shards (about 10 s)."""
    return prepare_grid_s1(CLIPS, "lipreader_prepared")


def _tiny_config(data: Path, out: Path, steps: int = 40) -> "tl.LipReaderTrainConfig":
    return tl.LipReaderTrainConfig(
        data=tl.WordDataConfig(
            data_dir=str(data), frames=8, split=SentenceSplit(heldout=("bbaf3s",)),
            augmentation=MouthAugmentConfig(random_crop=False, flip_prob=0.0, time_mask_max=0, max_shift=0)),
        model=LipReaderConfig(relu_type="relu", trunk_channels=(4, 8, 8, 8), tcn_hidden_dim=4,
                              tcn_num_layers=2, tcn_dropout=0.0, num_classes=len(GRID_VOCABULARY)),
        optim=tl.LipReaderOptimConfig(batch_size=12, lr=1e-2, weight_decay=0.0, warmup_steps=2, max_steps=steps,
                             label_smoothing=0.0),
        out_dir=str(out), seed=0, num_threads=1, eval_every=10, log_every=5, eval_batch_size=8,
    )


def test_shipped_config_loads_and_round_trips() -> None:
    config = tl.load_config(CONFIG)
    assert from_dict(tl.LipReaderTrainConfig, to_dict(config)) == config
    assert config.model.num_classes == len(config.data.vocabulary) == 51
    assert config.data.frames >= 8 and config.num_threads == 2
    with pytest.raises(ValueError, match="unknown field"):
        from_dict(tl.LipReaderTrainConfig, {**to_dict(config), "epochs": 3})


def test_the_lip_reader_schedule_is_the_shared_warm_up_and_cosine() -> None:
    # the factor itself: tests/training/test_schedules.py
    optim = tl.LipReaderOptimConfig(warmup_steps=10, max_steps=100, min_lr_ratio=0.01)
    assert [optim.lr_factor(s) for s in range(0, 120, 5)] == [lr_factor(s, 10, 100, 0.01) for s in range(0, 120, 5)]
    assert optim.lr_factor(0) == pytest.approx(0.1) and optim.lr_factor(100) == pytest.approx(0.01)


@pytest.mark.slow
def test_tiny_training_run_learns_and_writes_a_loadable_model(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = _tiny_config(prepared, out)
    torch.set_num_threads(1)
    result = tl.train(config, command="python train/train_lipreader.py --tiny")
    assert result.steps == 40
    # the loss goes down on the 12 training words (no augmentation, no dropout)
    train_losses = [h["train_loss"] for h in result.history if "train_loss" in h]
    assert len(train_losses) == 8
    assert train_losses[-1] < 0.5 * train_losses[0]
    assert result.train_loss_last < result.train_loss_first

    # the saved model is the best evaluated one and loads with the Hub mixin
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    model = LipReader.from_pretrained(out)
    assert model.config == config.model
    heldout = WordClipDataset(prepared, "heldout", frames=8, split_rule=config.data.split)
    again = tl.evaluate(model, DataLoader(heldout, batch_size=8), GRID_VOCABULARY, result.best.step,
                        torch.device("cpu"))
    assert again.count == result.best.count == 6
    assert again.accuracy == pytest.approx(result.best.accuracy)
    assert again.loss == pytest.approx(result.best.loss, rel=1e-4)
    evals = [h["heldout_accuracy"] for h in result.history if "heldout_accuracy" in h]
    assert len(evals) == 4 and result.best.accuracy == max(evals)
    # among the evaluations that tie on accuracy (common with 6 held-out words) the lowest loss wins
    tied = [h["heldout_loss"] for h in result.history if h.get("heldout_accuracy") == max(evals)]
    assert result.best.loss == pytest.approx(min(tied))
    # it fits its training words: far better than chance (1/51) on them
    train_set = WordClipDataset(prepared, "train", frames=8, split_rule=config.data.split)
    fit = tl.evaluate(model, DataLoader(train_set, batch_size=12), GRID_VOCABULARY, 0, torch.device("cpu"))
    assert fit.count == 12 and fit.accuracy > 0.5

    # model card and training record
    card = (out / "README.md").read_text()
    assert f"{result.best.accuracy:.1%}" in card and "CC BY 4.0" in card
    assert "python train/train_lipreader.py --tiny" in card and "held-out" in card
    record = json.loads((out / "training.json").read_text())
    assert record["heldout_sentences"] == ["bbaf3s"] and record["train_sentences"] == 2
    assert record["steps"] == 40 and from_dict(tl.LipReaderTrainConfig, record["config"]) == config
    log_lines = (out / "train_log.jsonl").read_text().splitlines()
    assert len(log_lines) == len(result.history)


def test_a_wrong_class_count_is_refused_before_any_work(tmp_path: Path) -> None:
    config = _tiny_config(tmp_path / "no-data", tmp_path / "unused", steps=2)
    config.model = LipReaderConfig(trunk_channels=(4, 8, 8, 8), tcn_hidden_dim=4, num_classes=10)
    with pytest.raises(ValueError, match="num_classes"):
        tl.train(config)
    assert not (tmp_path / "unused").exists()


# --------------------------------------------------------------------------- the shipped weights

SHIPPED = REPO / "assets" / "weights" / "lipreader"
HELDOUT_CLIPS = ("bbal6n", "bbaz4n")  # held out by the shipped split rule (checked below)


@pytest.fixture(scope="module")
def prepared_heldout(prepare_grid_s1) -> Path:
    """Two GRID s1 sentences the shipped lip reader never saw in training, prepared here."""
    return prepare_grid_s1(HELDOUT_CLIPS, "lipreader_heldout")


@pytest.mark.slow
def test_shipped_lip_reader_loads_and_reads_unseen_sentences(prepared_heldout: Path) -> None:
    record = json.loads((SHIPPED / "training.json").read_text())
    config = from_dict(tl.LipReaderTrainConfig, record["config"])
    assert config.model == tl.load_config(CONFIG).model  # made with the shipped config
    assert set(HELDOUT_CLIPS) <= set(record["heldout_sentences"])
    assert all(config.data.split.is_heldout(n) for n in HELDOUT_CLIPS)

    model = LipReader.from_pretrained(SHIPPED)
    assert not model.training and model.config == config.model
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert (SHIPPED / "model.safetensors").stat().st_size < 8_000_000
    card = (SHIPPED / "README.md").read_text()
    assert f"{record['best']['accuracy']:.1%}" in card and "CC BY 4.0" in card

    words = WordClipDataset(prepared_heldout, "all", config.data.vocabulary, config.data.frames)
    result = tl.evaluate(model, DataLoader(words, batch_size=12), config.data.vocabulary, 0, torch.device("cpu"))
    assert result.count == 12
    assert result.accuracy >= 0.5  # chance is 1/51
