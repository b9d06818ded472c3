"""The networks and losses of a VFH-GAN training run, built the same way by every script.

:func:`build_networks` seeds torch with the experiment's seed and then builds, in this order, the
generator, the discriminator (when a loss needs one), the training loss and the pixel warm-up
loss, so that variants of one architecture start from the same weights; a generator to start
from (``init_from``) is loaded last.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from accelerate.utils import set_seed
from torch import nn

from vfhgan_core.experiment import ExperimentConfig
from vfhgan_core.losses.total import VFHGANLoss
from vfhgan_core.models.discriminator import PatchDiscriminator
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.training.checkpoints import init_generator_from
from vfhgan_core.training.gan_step import pixel_warmup_loss

__all__ = ["RunNetworks", "build_networks"]


@dataclass
class RunNetworks:
    """What one run trains and with what.

    Attributes:
        generator: the generator (from ``init_from`` when given).
        discriminator: the patch discriminator; ``None`` when no loss needs it.
        loss: the run's generator and discriminator losses (eq. 11).
        warmup_loss: the pixel-only loss of the warm-up steps; ``None`` without a warm-up.
    """

    generator: VFHGANGenerator
    discriminator: PatchDiscriminator | None
    loss: VFHGANLoss
    warmup_loss: nn.Module | None

    def describe(self) -> str:
        """One line for the log: parameter counts and the loss terms."""
        d = self.discriminator
        return (f"{self.generator.num_parameters()} parameters; discriminator: "
                f"{f'{sum(p.numel() for p in d.parameters())} parameters' if d is not None else 'none'}; "
                f"losses: {json.dumps(self.loss.describe())}")


def build_networks(exp: ExperimentConfig, lip_reader: nn.Module | None = None,
                   init_folder: str | Path | None = None) -> RunNetworks:
    """The run's networks and losses, seeded with ``exp.optim.seed`` (see the module docstring).

    Args:
        exp: the experiment.
        lip_reader: the frozen lip reader of the lip-reading loss (``None`` when it is off).
        init_folder: generator weights to start from (:func:`~vfhgan_core.training.checkpoints.resolve_init_weights`).
    """
    set_seed(exp.optim.seed)
    generator = VFHGANGenerator(exp.generator)
    discriminator = PatchDiscriminator(exp.discriminator) if exp.losses.uses_discriminator else None
    loss = VFHGANLoss(exp.losses, lip_reader=lip_reader)
    warmup_loss = pixel_warmup_loss(exp.losses) if exp.optim.pixel_warmup_steps else None
    if init_folder is not None:
        init_generator_from(generator, init_folder)
    return RunNetworks(generator, discriminator, loss, warmup_loss)
