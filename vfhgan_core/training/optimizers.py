"""The optimisers of a run: the generator's parameter groups (one learning rate, or a faster audio
branch), both networks' optimisers with their schedules, and the generator's moving average."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from vfhgan_core.experiment import OptimConfig
from vfhgan_core.training.schedules import generator_lr_factor

__all__ = ["RunOptimizers", "build_optimizers", "generator_param_groups"]

#: the generator attribute holding CMFE-B (absent in a no-audio generator)
AUDIO_BRANCH = "cross_modal"


def generator_param_groups(generator: torch.nn.Module, optim: OptimConfig) -> list[dict[str, Any]]:
    """Parameter groups for the generator's optimiser.

    With ``optim.audio_branch_lr_scale == 1`` or a generator without an audio branch this is
    one group at ``lr_g`` (the optimiser state of earlier runs still loads). Otherwise the
    audio branch's parameters form a second group at ``lr_g × audio_branch_lr_scale``. The
    learning-rate schedule multiplies each group's rate alike. With
    ``optim.train_audio_branch_only`` the audio branch's group is the only one.

    Raises:
        ValueError: ``train_audio_branch_only`` for a generator without an audio branch.
    """
    branch = getattr(generator, AUDIO_BRANCH, None)
    params = [p for p in generator.parameters() if p.requires_grad]
    if optim.train_audio_branch_only:
        if branch is None:
            raise ValueError("optim.train_audio_branch_only needs a generator with an audio branch "
                             "(generator.use_audio true)")
        return [{"params": list(branch.parameters()), "lr": optim.lr_g * optim.audio_branch_lr_scale,
                 "name": AUDIO_BRANCH}]
    if branch is None or optim.audio_branch_lr_scale == 1.0:
        return [{"params": params, "lr": optim.lr_g, "name": "generator"}]
    fast = {id(p) for p in branch.parameters()}
    return [
        {"params": [p for p in params if id(p) not in fast], "lr": optim.lr_g, "name": "generator"},
        {"params": [p for p in params if id(p) in fast], "lr": optim.lr_g * optim.audio_branch_lr_scale,
         "name": AUDIO_BRANCH},
    ]


@dataclass
class RunOptimizers:
    """The optimisers, learning-rate schedules and EMA of one run (discriminator's: ``None`` without one)."""

    generator: torch.optim.Optimizer
    generator_schedule: torch.optim.lr_scheduler.LambdaLR
    discriminator: torch.optim.Optimizer | None
    discriminator_schedule: torch.optim.lr_scheduler.LambdaLR | None
    ema: AveragedModel | None


def build_optimizers(generator: torch.nn.Module, discriminator: torch.nn.Module | None,
                     optim_of: Callable[[], OptimConfig]) -> RunOptimizers:
    """Adam (AdamW with weight decay) for each network, their warm-up + cosine schedules, and the EMA.

    ``optim_of`` returns the run's current optimiser settings: the schedules read it at every step,
    so a time budget that sets ``max_steps`` during the run reshapes the decay
    (:class:`~vfhgan_core.training.step_budget.StepBudget`).
    """
    o = optim_of()
    opt_cls = torch.optim.AdamW if o.weight_decay else torch.optim.Adam
    opt_g = opt_cls(generator_param_groups(generator, o), lr=o.lr_g, betas=o.betas, weight_decay=o.weight_decay)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lambda step: generator_lr_factor(optim_of(), step))
    ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(o.ema_decay), use_buffers=True) \
        if o.ema_decay > 0 else None
    opt_d = sched_d = None
    if discriminator is not None:
        opt_d = opt_cls(discriminator.parameters(), lr=o.lr_d, betas=o.betas, weight_decay=o.weight_decay)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lambda step: generator_lr_factor(optim_of(), step))
    return RunOptimizers(opt_g, sched_g, opt_d, sched_d, ema)
