"""How many training steps fit a wall-clock budget, measured during the run itself.

A borrowed GPU machine comes for a fixed few minutes, and how fast a step runs there (with
how many other jobs beside it) is not known in advance. :class:`StepBudget` times a window
of steps early in the run, while the learning rate is still warming up, and from that rate
fixes ``max_steps`` so that the run ends inside its budget. The cosine decay then runs over
the steps that will really happen, and the chosen number is written into the run's
config, so the run can be repeated with a plain step count.

Jobs started together (the variants of one campaign) can agree on one number, the smallest
any of them can afford: each writes its proposal into a shared folder and waits for the
others. Variants compared with one another thus train for the same number of steps.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from vfhgan_core.errors import VFHGANError

log = logging.getLogger(__name__)

__all__ = ["StepBudget"]


@dataclass
class StepBudget:
    """Chooses ``max_steps`` from a wall-clock budget.

    Attributes:
        seconds: the wall-clock the run's steps may take, counted from :meth:`start`.
        upper: the most steps to allow (the config's ``max_steps``).
        skip_steps: steps not timed (start-up: loader workers, kernel selection).
        timed_steps: steps timed after those.
        reserve: fraction of the remaining time kept back for validation, checkpoints and
            the final export.
        sync_dir: folder where jobs started together agree on one step count (None: alone).
        sync_jobs: how many jobs share ``sync_dir``.
        sync_timeout_s: how long to wait for the others before deciding alone.
        name: this job's name in ``sync_dir``.
    """

    seconds: float
    upper: int
    skip_steps: int = 20
    timed_steps: int = 40
    reserve: float = 0.12
    sync_dir: Path | None = None
    sync_jobs: int = 1
    sync_timeout_s: float = 180.0
    name: str = field(default_factory=lambda: str(os.getpid()))
    decided: int | None = None
    _t0: float | None = None
    _t_skip: float | None = None
    record: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError(f"the time budget must be positive seconds, got {self.seconds}")
        if self.upper <= self.skip_steps + self.timed_steps:
            raise ValueError(f"max_steps ({self.upper}) must exceed the {self.skip_steps + self.timed_steps} "
                             "steps the budget is measured on")

    @classmethod
    def from_spec(cls, spec: str, upper: int, **kwargs) -> StepBudget:
        """A budget from ``--time-budget``'s text: seconds from now, or ``@UNIX_TIME`` to end by.

        Raises:
            VFHGANError: that time has passed.
        """
        text = str(spec)
        seconds = float(text[1:]) - time.time() if text.startswith("@") else float(text)
        if seconds <= 0:
            raise VFHGANError(f"--time-budget {text}: that time has passed; give seconds or a later @UNIX_TIME")
        return cls(seconds=seconds, upper=upper, **kwargs)

    @property
    def decide_at(self) -> int:
        """The step after which the number of steps is fixed."""
        return self.skip_steps + self.timed_steps

    def start(self, now: float | None = None) -> None:
        """Call when the first training step begins."""
        self._t0 = time.perf_counter() if now is None else now

    def observe(self, step: int, now: float | None = None) -> int | None:
        """Call after every completed step; returns the chosen ``max_steps`` once, at :attr:`decide_at`."""
        if self.decided is not None or self._t0 is None:
            return None
        now = time.perf_counter() if now is None else now
        if step == self.skip_steps:
            self._t_skip = now
        if step != self.decide_at or self._t_skip is None:
            return None
        per_step = (now - self._t_skip) / self.timed_steps
        left = self.seconds - (now - self._t0)
        own = max(self.decide_at + 1, min(self.upper, step + int(left * (1.0 - self.reserve) / per_step + 1e-9)))
        agreed = self._agree(own)
        self.decided = agreed
        self.record = {"budget_s": self.seconds, "s_per_step_measured": round(per_step, 5),
                       "steps_affordable": own, "max_steps": agreed, "jobs_agreeing": self.sync_jobs}
        log.info("time budget %.0f s: %.3f s/step measured, %d steps affordable, max_steps set to %d",
                 self.seconds, per_step, own, agreed)
        return agreed

    def _agree(self, own: int) -> int:
        if self.sync_dir is None or self.sync_jobs <= 1:
            return own
        folder = Path(self.sync_dir)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{self.name}.tmp"
        tmp.write_text(json.dumps({"steps": own}))
        os.replace(tmp, folder / f"{self.name}.json")
        deadline = time.monotonic() + self.sync_timeout_s
        while True:
            proposals = {}
            for path in folder.glob("*.json"):
                try:
                    proposals[path.stem] = int(json.loads(path.read_text())["steps"])
                except (OSError, ValueError, KeyError):
                    continue
            if len(proposals) >= self.sync_jobs:
                return min(proposals.values())
            if time.monotonic() > deadline:
                log.warning("time budget: %d of %d jobs proposed a step count within %.0f s; taking the "
                            "smallest of those", len(proposals), self.sync_jobs, self.sync_timeout_s)
                return min(proposals.values())
            time.sleep(0.5)
