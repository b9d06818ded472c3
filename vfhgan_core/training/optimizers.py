"""The generator's optimiser parameter groups: one learning rate, or a faster audio branch."""
from __future__ import annotations

from typing import Any

import torch

from vfhgan_core.experiment import OptimConfig

__all__ = ["generator_param_groups"]

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
