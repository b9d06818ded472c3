"""Training the project's own word-level GRID lip reader (the frozen network of the lip-reading loss).

Data: word clips of prepared GRID shards (:class:`vfhgan_core.data.words.WordClipDataset`),
split by sentence; the held-out sentences give the word accuracy that picks the best model
(ties, common on a small held-out set, go to the lower held-out loss).
Model: :class:`vfhgan_core.models.lipreading.LipReader` (3D conv + ResNet-18 family trunk +
multi-scale TCN), by default the narrow :meth:`LipReaderConfig.grid` preset. Optimiser:
AdamW with linear warm-up and cosine decay, optional label smoothing, Accelerate for device
placement (``Accelerator(cpu=True)`` on a machine without GPU needs no accelerate config).

Output folder: ``model.safetensors`` + ``config.json`` (``LipReader.save_pretrained``, the
best held-out accuracy so far, then the lowest held-out loss), ``README.md`` (model card),
``training.json`` (config, held-out sentences, evaluation history, timings) and ``train_log.jsonl``.

:func:`train` runs it from a :class:`LipReaderTrainConfig`; ``train/train_lipreader.py`` is its
command line::

    python train/train_lipreader.py --config train/configs/lipreader_grid.json \\
        --data ../prepared/grid_s1 --out assets/weights/lipreader
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.data.words import (
    GRID_VOCABULARY,
    GRID_WORD_GROUPS,
    MouthAugmentConfig,
    SentenceSplit,
    WordClipDataset,
)
from vfhgan_core.models.lipreading import LipReader, LipReaderConfig
from vfhgan_core.training.schedules import lr_factor
from vfhgan_core.weights.model_card import write_lipreader_card

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- config


@dataclass
class WordDataConfig:
    """Where the prepared shards are and how word clips are cut from them.

    Attributes:
        data_dir: output folder of ``vfhgan prepare`` (relative paths: from the working directory).
        frames: frames per word clip (16 = 0.64 s at 25 fps).
        vocabulary: the words in label order (GRID's 51).
        split: the train / held-out split by sentence.
        augmentation: training-time augmentation.
    """

    data_dir: str = "../prepared/grid_s1"
    frames: int = 16
    vocabulary: tuple[str, ...] = GRID_VOCABULARY
    split: SentenceSplit = field(default_factory=SentenceSplit)
    augmentation: MouthAugmentConfig = field(default_factory=MouthAugmentConfig)


@dataclass
class LipReaderOptimConfig:
    """AdamW with linear warm-up then cosine decay to ``min_lr_ratio * lr`` at ``max_steps``
    (:func:`vfhgan_core.training.schedules.lr_factor`, the generator's schedule too).

    Attributes:
        batch_size: word clips per step.
        lr: peak learning rate.
        weight_decay: AdamW decay of conv / linear weights (not of biases, norms, PReLU).
        warmup_steps: linear warm-up from 0.
        max_steps: optimiser steps in all.
        min_lr_ratio: final learning rate as a share of ``lr``.
        label_smoothing: cross-entropy label smoothing (0 = none).
        grad_clip: clip the global gradient norm to this (0 = no clipping).
    """

    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 100
    max_steps: int = 3000
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    grad_clip: float = 5.0

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier at optimiser step ``step`` (0-based)."""
        return lr_factor(step, self.warmup_steps, self.max_steps, self.min_lr_ratio)


@dataclass
class LipReaderTrainConfig:
    """Everything a training run depends on (saved to ``training.json`` and the model card).

    Attributes:
        data: word clips.
        model: lip-reader architecture (``num_classes`` must equal the vocabulary size).
        optim: optimisation.
        out_dir: output folder.
        seed: seeds Python, NumPy and torch (data order, augmentation, initialisation).
        num_threads: torch CPU threads.
        cpu: run on the CPU even when a GPU is present.
        eval_every: steps between held-out evaluations (and at the last step).
        log_every: steps between train-loss log lines.
        eval_batch_size: word clips per evaluation batch.
        max_minutes: stop early (evaluating and saving first) after this much wall time; 0 = no limit.
    """

    data: WordDataConfig = field(default_factory=WordDataConfig)
    model: LipReaderConfig = field(default_factory=LipReaderConfig.grid)
    optim: LipReaderOptimConfig = field(default_factory=LipReaderOptimConfig)
    out_dir: str = "runs/lipreader_grid"
    seed: int = 0
    num_threads: int = 2
    cpu: bool = True
    eval_every: int = 250
    log_every: int = 25
    eval_batch_size: int = 64
    max_minutes: float = 0.0


@dataclass
class EvalResult:
    """Held-out evaluation: word accuracy, mean cross-entropy, per-word and per-group accuracy."""

    step: int
    accuracy: float
    loss: float
    count: int
    per_word: dict[str, float] = field(default_factory=dict)
    per_group: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What :func:`train` did."""

    out_dir: Path
    best: EvalResult | None
    last: EvalResult | None
    steps: int
    seconds: float
    train_loss_first: float
    train_loss_last: float
    history: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- pieces


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (decay if param.dim() > 1 and "act" not in name else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _group_of(word: str) -> str:
    for group, words in GRID_WORD_GROUPS.items():
        if word in words:
            return group
    return "other"


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, vocabulary: Sequence[str], step: int,
             device: torch.device) -> EvalResult:
    """Word accuracy and mean cross-entropy (no smoothing) of ``model`` on ``loader``."""
    was_training = model.training
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    hits = np.zeros(len(vocabulary), dtype=np.int64)
    seen = np.zeros(len(vocabulary), dtype=np.int64)
    for batch in loader:
        mouths = batch["mouths"].to(device)
        labels = batch["label"].to(device)
        logits = model(mouths, lengths=batch["length"].to(device))
        loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
        ok = (logits.argmax(dim=1) == labels).cpu().numpy()
        lab = labels.cpu().numpy()
        np.add.at(seen, lab, 1)
        np.add.at(hits, lab, ok.astype(np.int64))
        total += len(lab)
        correct += int(ok.sum())
    model.train(was_training)
    per_word = {w: float(hits[i] / seen[i]) for i, w in enumerate(vocabulary) if seen[i]}
    per_group: dict[str, float] = {}
    for group in (*GRID_WORD_GROUPS, "other"):
        idx = [i for i, w in enumerate(vocabulary) if _group_of(w) == group and seen[i]]
        if idx:
            per_group[group] = float(hits[idx].sum() / seen[idx].sum())
    return EvalResult(step=step, accuracy=correct / max(1, total), loss=loss_sum / max(1, total),
                      count=total, per_word=per_word, per_group=per_group)


def _infinite(loader: DataLoader):
    while True:
        yield from loader


# --------------------------------------------------------------------------- training


def train(config: LipReaderTrainConfig, command: str = "") -> TrainResult:
    """Train a lip reader as ``config`` says; see the module docstring for what is written."""
    if config.model.num_classes != len(config.data.vocabulary):
        raise ValueError(f"model.num_classes ({config.model.num_classes}) must equal the vocabulary size "
                         f"({len(config.data.vocabulary)})")
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.num_threads)
    set_seed(config.seed)
    accelerator = Accelerator(cpu=config.cpu)
    device = accelerator.device

    t0 = time.perf_counter()
    data = config.data
    train_set = WordClipDataset(data.data_dir, "train", data.vocabulary, data.frames, augment=True,
                                split_rule=data.split, augmentation=data.augmentation)
    heldout_set = WordClipDataset(data.data_dir, "heldout", data.vocabulary, data.frames, augment=False,
                                  split_rule=data.split)
    log.info("word clips: %d train (%d sentences), %d held out (%d sentences); loaded in %.0f s",
             len(train_set), len(train_set.clip_ids), len(heldout_set), len(heldout_set.clip_ids),
             time.perf_counter() - t0)
    if len(heldout_set) == 0:
        raise ValueError("no held-out word clips: raise data.split.heldout_fraction or list held-out sentences")

    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(train_set, batch_size=config.optim.batch_size, shuffle=True,
                              drop_last=len(train_set) >= config.optim.batch_size, generator=generator)
    heldout_loader = DataLoader(heldout_set, batch_size=config.eval_batch_size, shuffle=False)

    model = LipReader(config.model)
    num_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(_param_groups(model, config.optim.weight_decay), lr=config.optim.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: config.optim.lr_factor(s))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()

    history: list[dict[str, Any]] = []
    log_path = out_dir / "train_log.jsonl"
    log_path.write_text("")
    best: EvalResult | None = None
    last: EvalResult | None = None
    losses: list[float] = []
    window_loss, window_hits, window_n = 0.0, 0, 0
    first_loss = float("nan")
    step = 0
    t_train = time.perf_counter()
    deadline = t_train + config.max_minutes * 60 if config.max_minutes > 0 else math.inf

    def record(entry: dict[str, Any]) -> None:
        history.append(entry)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def run_eval() -> None:
        nonlocal best, last
        result = evaluate(model, heldout_loader, data.vocabulary, step, device)
        last = result
        improved = best is None or (result.accuracy, -result.loss) > (best.accuracy, -best.loss)
        if improved:
            best = result
            accelerator.unwrap_model(model).save_pretrained(out_dir)
        record({"step": step, "heldout_accuracy": result.accuracy, "heldout_loss": result.loss,
                "best": improved, "seconds": round(time.perf_counter() - t_train, 1)})
        log.info("step %d: held-out accuracy %.1f%% (loss %.3f)%s", step, 100 * result.accuracy, result.loss,
                 "  * best" if improved else "")

    batches = _infinite(train_loader)
    while step < config.optim.max_steps:
        batch = next(batches)
        mouths = batch["mouths"].to(device)
        labels = batch["label"].to(device)
        logits = model(mouths, lengths=batch["length"].to(device))
        loss = F.cross_entropy(logits, labels, label_smoothing=config.optim.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if config.optim.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        value = float(loss.detach())
        if step == 1:
            first_loss = value
        losses.append(value)
        window_loss += value * len(labels)
        window_hits += int((logits.detach().argmax(1) == labels).sum())
        window_n += len(labels)
        if step % config.log_every == 0 or step == config.optim.max_steps:
            elapsed = time.perf_counter() - t_train
            record({"step": step, "train_loss": window_loss / window_n, "train_accuracy": window_hits / window_n,
                    "lr": scheduler.get_last_lr()[0], "seconds": round(elapsed, 1)})
            log.info("step %d/%d: train loss %.3f, acc %.1f%%, lr %.2e, %.2f s/step", step,
                     config.optim.max_steps, window_loss / window_n, 100 * window_hits / window_n,
                     scheduler.get_last_lr()[0], elapsed / step)
            window_loss, window_hits, window_n = 0.0, 0, 0
        out_of_time = time.perf_counter() > deadline
        if step % config.eval_every == 0 or step == config.optim.max_steps or out_of_time:
            run_eval()
        if out_of_time:
            log.warning("stopping at step %d: max_minutes=%s reached", step, config.max_minutes)
            break

    seconds = time.perf_counter() - t_train
    tail = losses[-min(len(losses), config.log_every):]
    result = TrainResult(out_dir=out_dir, best=best, last=last, steps=step, seconds=seconds,
                         train_loss_first=first_loss, train_loss_last=float(np.mean(tail)), history=history)
    heldout_names = sorted(heldout_set.sentences)
    device_text = (f"{'a CPU' if config.cpu or not torch.cuda.is_available() else 'a GPU'} "
                   f"({os.cpu_count()} cores, {platform.machine()}, torch threads: {config.num_threads})")
    facts = {
        "config": to_dict(config),
        "command": command,
        "steps": step,
        "train_seconds": round(seconds, 1),
        "data_seconds": round(t_train - t0, 1),
        "train_loss_first": first_loss,
        "train_loss_last": result.train_loss_last,
        "num_parameters": num_params,
        "train_words": len(train_set),
        "train_sentences": len(train_set.clip_ids),
        "heldout_words": len(heldout_set),
        "heldout_sentences": heldout_names,
        "best": to_dict(best) if best else None,
        "last": to_dict(last) if last else None,
        "history": history,
        "torch": torch.__version__,
        "device": device_text,
    }
    (out_dir / "training.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
    write_lipreader_card(out_dir, facts)   # the card is written from the record, as every card
    return result


# --------------------------------------------------------------------------- command line


def load_config(path: str | Path | None) -> LipReaderTrainConfig:
    """Read a :class:`LipReaderTrainConfig` from JSON (defaults where a key is missing)."""
    if path is None:
        return LipReaderTrainConfig()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lip-reader config {path} does not exist (e.g. train/configs/lipreader_grid.json)")
    try:
        return from_dict(LipReaderTrainConfig, json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"lip-reader config {path} is not valid JSON ({exc})") from None
