"""A training run's checkpoint folders (written, listed, resumed), its step counter, a clean stop on a
signal, and the generator weights a run starts from (``init_from``)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
from dataclasses import replace
from pathlib import Path

from vfhgan_core.config import to_dict
from vfhgan_core.errors import VFHGANError, WeightsNotFoundError
from vfhgan_core.experiment import ExperimentConfig, load_experiment, save_experiment
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


class TrainState:
    """The step counter, saved and restored by Accelerate with the other state
    (``accelerator.register_for_checkpointing``)."""

    def __init__(self) -> None:
        self.step = 0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step = int(state["step"])


def resume_checkpoint(resume: str | None, root: Path, experiment: ExperimentConfig) -> Path | None:
    """The checkpoint a run continues from: ``resume`` is ``"latest"`` (the newest complete checkpoint
    under ``root``, ``None`` when there is none yet), a checkpoint folder, or ``None`` (a new run, which
    ``root`` must not hold checkpoints of).

    Raises:
        VFHGANError: not a complete checkpoint; one trained with another config (only
            ``optim.max_steps`` may change); a new run in a folder that holds checkpoints.
    """
    if not resume:
        if list_checkpoints(root):
            raise VFHGANError(f"{root.parent} already holds checkpoints: pass --resume latest to continue, or "
                              "choose another --output-dir")
        return None
    if resume == "latest":
        ckpts = list_checkpoints(root)
        found = ckpts[-1] if ckpts else None
        if found is None:
            log.info("--resume latest: no checkpoint in %s yet, starting a new run", root)
            return None
    else:
        found = Path(resume)
        if not (found / "trainer_state.json").is_file():
            raise VFHGANError(f"{found} is not a complete checkpoint of this trainer "
                              "(no trainer_state.json); use --resume latest or a checkpoint-N folder")
    previous = load_experiment(found / "experiment.json")
    if previous.fingerprint() != experiment.fingerprint():
        raise VFHGANError(
            f"the config differs from the one {found} was trained with (only optim.max_steps may "
            f"change on resume); resume without --config to use {root.parent / 'experiment.json'}"
        )
    return found


def save_checkpoint(accelerator, root: Path, step: int, generator: VFHGANGenerator, experiment: ExperimentConfig,
                    trainer_state: dict, limit: int | None = None) -> Path:
    """Write ``root/checkpoint-NNNNNNN`` on every process and return it.

    Accelerate's ``save_state`` is written under a temporary name; the main process adds the
    (EMA) generator as a ``save_pretrained`` folder ``ema_generator/``, ``experiment.json`` and
    ``trainer_state.json`` (``trainer_state`` as JSON), then renames the folder, so a checkpoint
    that exists is complete, and removes the oldest beyond ``limit``.
    """
    name = f"{CHECKPOINT_PREFIX}{step:07d}"
    tmp = root / f".tmp-{name}"
    final = root / name
    main_proc = accelerator.is_main_process
    if main_proc:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()     # every process has written its part before the rename
    if main_proc:
        generator.save_pretrained(tmp / "ema_generator")
        save_experiment(experiment, tmp / "experiment.json")
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if limit:
            for old in list_checkpoints(root)[:-limit]:
                shutil.rmtree(old, ignore_errors=True)
        log.info("saved %s", final)
    accelerator.wait_for_everyone()
    return final


class StopRequest:
    """SIGTERM and SIGINT ask the run to stop: :attr:`requested` turns true, and the loop saves a
    checkpoint at the next step boundary and ends (``--resume latest`` goes on from there)."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> StopRequest:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        self.requested = True
        log.warning("signal %d: saving a checkpoint and stopping after this step", signum)
