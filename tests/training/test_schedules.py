"""vfhgan_core/training/schedules.py: the one warm-up + cosine learning-rate factor of every training script."""
from __future__ import annotations

import math

import pytest

from vfhgan_core.experiment import OptimConfig
from vfhgan_core.training.schedules import generator_lr_factor, lr_factor


def test_learning_rate_warms_up_then_decays_to_the_floor() -> None:
    factors = [lr_factor(s, 10, 100, 0.01) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))  # cosine: never rises
    assert lr_factor(100, 10, 100, 0.01) == pytest.approx(0.01) == lr_factor(500, 10, 100, 0.01)
    assert lr_factor(55, 10, 100, 0.01) == pytest.approx(0.505)  # half way: mean of 1 and 0.01
    assert lr_factor(0, 0, 100, 0.01) == 1.0
    assert lr_factor(50, 10, 100, 0.01, schedule="constant") == 1.0 and lr_factor(4, 10, 100, 0.01, "constant") == 0.5
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        lr_factor(50, 10, 100, 0.01, schedule="linear")


def test_the_generator_schedule_is_the_same_function() -> None:
    for schedule in ("cosine", "constant"):
        o = OptimConfig(warmup_steps=20, max_steps=200, min_lr_ratio=0.05, lr_schedule=schedule)
        assert [generator_lr_factor(o, s) for s in range(0, 260, 7)] == \
            [lr_factor(s, 20, 200, 0.05, schedule) for s in range(0, 260, 7)]


def test_the_generator_schedule_of_an_optim_config() -> None:
    o = OptimConfig(max_steps=110, warmup_steps=10, lr_schedule="cosine", min_lr_ratio=0.1)
    assert generator_lr_factor(o, 0) == pytest.approx(0.1)
    assert generator_lr_factor(o, 9) == pytest.approx(1.0)
    assert generator_lr_factor(o, 10) == pytest.approx(1.0)
    assert generator_lr_factor(o, 60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert generator_lr_factor(o, 110) == pytest.approx(0.1)
    assert generator_lr_factor(OptimConfig(warmup_steps=0, lr_schedule="constant"), 500) == 1.0
