"""vfhgan_core/training/step_budget.py: the step count chosen from a measured rate, alone and agreed by several jobs."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from vfhgan_core.training.step_budget import StepBudget


def _feed(budget: StepBudget, per_step: float, start: float = 0.0, until: int | None = None) -> int | None:
    budget.start(now=start)
    chosen = None
    for step in range(1, (until or budget.decide_at) + 1):
        got = budget.observe(step, now=start + 5.0 + step * per_step)   # 5 s of start-up before step 1
        chosen = got if got is not None else chosen
    return chosen


def test_the_steps_that_fit_the_budget_are_chosen_once() -> None:
    budget = StepBudget(seconds=100.0, upper=10_000, skip_steps=10, timed_steps=20, reserve=0.1)
    chosen = _feed(budget, per_step=0.1)
    # at step 30: 8 s used, 92 s left, 90 % of it at 0.1 s/step -> 828 more steps
    assert chosen == 30 + 828
    assert budget.record["s_per_step_measured"] == pytest.approx(0.1)
    assert budget.observe(31, now=100.0) is None       # decided once only


def test_never_more_than_the_config_and_never_fewer_than_measured() -> None:
    assert _feed(StepBudget(seconds=1e6, upper=500, skip_steps=5, timed_steps=5), per_step=0.1) == 500
    assert _feed(StepBudget(seconds=2.0, upper=500, skip_steps=5, timed_steps=5), per_step=1.0) == 11


def test_jobs_agree_on_the_smallest_step_count(tmp_path: Path) -> None:
    rates = {"fast": 0.05, "slow": 0.2, "medium": 0.1}
    chosen: dict[str, int | None] = {}

    def job(name: str) -> None:
        b = StepBudget(seconds=60.0, upper=100_000, skip_steps=2, timed_steps=4, sync_dir=tmp_path,
                       sync_jobs=len(rates), name=name)
        chosen[name] = _feed(b, rates[name])
        assert b.record["steps_affordable"] >= chosen[name]

    threads = [threading.Thread(target=job, args=(n,)) for n in rates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    alone = _feed(StepBudget(seconds=60.0, upper=100_000, skip_steps=2, timed_steps=4), rates["slow"])
    assert set(chosen.values()) == {alone}


def test_a_missing_job_does_not_hold_the_others_forever(tmp_path: Path) -> None:
    b = StepBudget(seconds=60.0, upper=100_000, skip_steps=2, timed_steps=4, sync_dir=tmp_path, sync_jobs=2,
                   sync_timeout_s=1.0, name="alone")
    assert _feed(b, 0.1) == _feed(StepBudget(seconds=60.0, upper=100_000, skip_steps=2, timed_steps=4), 0.1)


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        StepBudget(seconds=0, upper=100)
    with pytest.raises(ValueError, match="must exceed"):
        StepBudget(seconds=10, upper=50)


def test_a_budget_from_the_command_line_is_seconds_or_a_deadline() -> None:
    import time

    from vfhgan_core.errors import VFHGANError

    assert StepBudget.from_spec("600", 1000).seconds == 600.0
    by = StepBudget.from_spec(f"@{time.time() + 300}", 1000, skip_steps=5, timed_steps=10)
    assert 290 < by.seconds <= 300 and by.decide_at == 15
    with pytest.raises(VFHGANError, match="that time has passed"):
        StepBudget.from_spec(f"@{time.time() - 1}", 1000)
