"""Learning-rate schedules shared by the training scripts: a linear warm-up, then cosine decay (or constant).

:func:`lr_factor` is the multiplier of the peak learning rate at an optimiser step, for
``torch.optim.lr_scheduler.LambdaLR``; the generator's schedule
(:func:`generator_lr_factor`, read from an experiment's :class:`~vfhgan_core.experiment.OptimConfig`)
and the lip reader's (``train/train_lipreader.py``) are both this one function.
"""
from __future__ import annotations

import math

from vfhgan_core.experiment import OptimConfig

__all__ = ["SCHEDULES", "generator_lr_factor", "lr_factor"]

#: what follows the warm-up
SCHEDULES = ("cosine", "constant")


def lr_factor(step: int, warmup_steps: int, max_steps: int, min_ratio: float, schedule: str = "cosine") -> float:
    """Learning-rate multiplier at optimiser step ``step`` (0-based).

    ``(step + 1) / warmup_steps`` during the warm-up, then 1 (``"constant"``) or a cosine from 1
    at the end of the warm-up to ``min_ratio`` at ``max_steps`` (and after it).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; one of {', '.join(SCHEDULES)}")
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, max(0.0, (step - warmup_steps) / span))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def generator_lr_factor(optim: OptimConfig, step: int) -> float:
    """The generator's (and discriminator's) multiplier at ``step``: ``optim``'s warm-up, schedule and floor."""
    return lr_factor(step, optim.warmup_steps, optim.max_steps, optim.min_lr_ratio, optim.lr_schedule)
