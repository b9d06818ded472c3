"""A training run's checkpoint folders, and the generator weights a run starts from (``init_from``)."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from vfhgan_core.config import to_dict
from vfhgan_core.errors import VFHGANError, WeightsNotFoundError
from vfhgan_core.models.generator import AUDIO_BRANCH_FIELDS, VFHGANGenerator

CHECKPOINT_PREFIX = "checkpoint-"
_CHECKPOINT_RE = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")

log = logging.getLogger(__name__)


def resolve_init_weights(path: str) -> Path:
    """The ``save_pretrained`` folder behind ``init_from``: the folder itself, a run's ``final/``,
    or a checkpoint's ``ema_generator/`` (the newest checkpoint of a run folder)."""
    root = Path(path)
    candidates = [root, root / "final", root / "ema_generator"]
    ckpts = list_checkpoints(root / "checkpoints")
    if ckpts:
        candidates.append(ckpts[-1] / "ema_generator")
    for c in candidates:
        if (c / "config.json").is_file() and (c / "model.safetensors").is_file():
            return c
    raise WeightsNotFoundError(
        f"init_from {path!r} holds no generator weights (looked for config.json + model.safetensors in "
        f"{', '.join(str(c) for c in candidates)}). Run the pretrain config first, or set init_from to null."
    )


def init_generator_from(generator: VFHGANGenerator, path: str | Path) -> Path:
    """Copy pretrained weights into ``generator``.

    The architectures must be the same, with one exception, the audio graft: an audio generator
    may start from a no-audio generator with the same trunk (the fields of
    :data:`~vfhgan_core.models.generator.AUDIO_BRANCH_FIELDS` may differ). Every weight but the
    cross-modal branch (CMFE-B) is then copied and the branch keeps its fresh initialisation,
    whose zero-initialised output projection adds nothing, so the grafted generator restores
    exactly as its source until training teaches the branch something (train/README §4).
    """
    folder = resolve_init_weights(str(path))
    source = VFHGANGenerator.from_pretrained(folder)
    branch_of_source = {f: getattr(source.config, f) for f in AUDIO_BRANCH_FIELDS}
    graft = (generator.config.use_audio and not source.config.use_audio
             and source.config == replace(generator.config, use_audio=False, **branch_of_source))
    if source.config != generator.config and not graft:
        raise VFHGANError(
            f"init_from {folder} is a generator of another architecture: {to_dict(source.config)} "
            f"vs this run's {to_dict(generator.config)}. Start from the pretrain of the same architecture "
            "(or, for an audio generator, from a no-audio one with the same trunk)."
        )
    missing, unexpected = generator.load_state_dict(source.state_dict(), strict=not graft)
    if graft and (unexpected or any(not k.startswith("cross_modal.") for k in missing)):
        raise VFHGANError(f"audio graft from {folder}: weights outside the cross-modal branch do not match "
                          f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    if graft:
        log.info("audio graft: every weight but the cross-modal branch from the no-audio generator %s; "
                 "the branch starts fresh (%d tensors)", folder, len(missing))
    return folder


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT_RE.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]
