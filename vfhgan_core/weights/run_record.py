"""What a training run produced: :class:`RunRecord`, stored as a weights folder's ``training.json``.

The trainer (``train/train_vfhgan.py``) fills one record as the run goes (data counts, device,
loss weights, then steps and time at the end); :func:`vfhgan_core.weights.folder_format.write_weights_folder`
writes it into the folder and the model card reads it; ``train/export_weights.py``,
``train/train_router.py`` and :func:`vfhgan_core.weights.folder_format.validate_variant_folder` read
it back. Every field is optional: a field left ``None`` is not written, so the JSON keys are those
of the files written before this class (``assets/weights/*/training.json``), and a file with a key
this class does not know is an error naming the key (as for every typed config,
:func:`vfhgan_core.config.from_dict`).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from vfhgan_core.config import from_dict, to_dict

__all__ = ["TRAINING_JSON", "RunRecord"]

#: the file of a weights folder that holds its :class:`RunRecord`
TRAINING_JSON = "training.json"


@dataclass
class RunRecord:
    """Facts of one training run that only the trainer knows (``training.json``).

    Attributes:
        command: the training command.
        train_clips, train_frames, val_clips, val_frames: data counts.
        train_speakers, val_speakers: speaker groups of the split.
        clip_ids: some training and validation clip ids, for the card's dataset detection
            (:func:`vfhgan_core.weights.licences.dataset_licences`); kept in checkpoints, not
            written into ``training.json``.
        train_clip_ids: every training clip id; ``train_clip_fingerprints``: their speech
            fingerprints (``vfhgan evaluate`` leaves them out of its scores).
        val_same_recordings: validation clips left out, being training recordings under another
            name (``{validation id: training id}``); ``val_training_recordings``: such clips the
            run did validate on, found afterwards.
        num_processes, mixed_precision, device: where and how it ran.
        variant, losses: the variant trained and its loss weights (what a round keeps).
        time_budget: the step count chosen from a wall-clock budget
            (:class:`vfhgan_core.training.step_budget.StepBudget`'s ``record``).
        steps, wall_time_s: steps done and the run's training time, summed over its parts when it
            was stopped and continued with ``--resume``.
        resumed_at: the steps at which the run was continued from a checkpoint (``--resume``), in
            order; ``command`` is then the command that started it (a resumed run gives the same
            weights as an uninterrupted one).
        rounds, total: the earlier runs these weights went through and their sum
            (:mod:`vfhgan_core.weights.rounds`).
        routing: the router's training facts of a routed generator (``train/train_router.py``).
        num_parameters: the generator's parameter count.
        license: of the weights (the card's default is ``apache-2.0``); ``repo_id``: for the
            card's usage snippet.
    """

    command: str | None = None
    train_clips: int | None = None
    train_frames: int | None = None
    val_clips: int | None = None
    val_frames: int | None = None
    train_speakers: list[str] | None = None
    val_speakers: list[str] | None = None
    clip_ids: list[str] | None = None
    train_clip_ids: list[str] | None = None
    train_clip_fingerprints: dict[str, Any] | None = None
    val_same_recordings: dict[str, str] | None = None
    val_training_recordings: dict[str, str] | None = None
    num_processes: int | None = None
    mixed_precision: str | None = None
    device: str | None = None
    variant: str | None = None
    losses: dict[str, float] | None = None
    time_budget: dict[str, Any] | None = None
    steps: int | None = None
    wall_time_s: float | None = None
    resumed_at: list[int] | None = None
    rounds: list[dict[str, Any]] | None = None
    total: dict[str, Any] | None = None
    routing: dict[str, Any] | None = None
    num_parameters: int | None = None
    license: str | None = None
    repo_id: str | None = None

    def to_dict(self, *, with_clip_ids: bool = True) -> dict[str, Any]:
        """The fields that are set, as JSON-ready values (``clip_ids`` left out unless ``with_clip_ids``)."""
        data = {k: v for k, v in to_dict(self).items() if v is not None}
        if not with_clip_ids:
            data.pop("clip_ids", None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """The record of a ``training.json`` object (or a checkpoint's ``extra``); unknown keys raise ``ValueError``."""
        return from_dict(cls, {k: v for k, v in data.items() if v is not None})

    def replace(self, **changes: Any) -> RunRecord:
        return dataclasses.replace(self, **changes)

    def summary(self) -> str | None:
        """How much training the weights had, in plain words (``None`` when the record has no step count):
        ``942 steps in 3 rounds, 25.5 min (CPU 21.7 min, NVIDIA H200 3.8 min)`` or ``300 steps, 11.0 min
        on CPU (x86_64, 2 cores)``."""
        total = self.total or {}
        if total.get("steps"):
            text = f"{int(total['steps']):,} steps in {total.get('rounds', len(self.rounds or ()) + 1)} rounds"
            if total.get("wall_time_s"):
                text += f", {_minutes(total['wall_time_s'])}"
                devices = total.get("wall_time_s_by_device") or {}
                if len(devices) > 1:
                    text += " (" + ", ".join(f"{d} {_minutes(s)}" for d, s in devices.items()) + ")"
                elif devices:
                    text += f" on {next(iter(devices))}"
            return text
        if not self.steps:
            return None
        text = f"{self.steps:,} steps"
        if self.wall_time_s:
            text += f", {_minutes(self.wall_time_s)}"
        return text + (f" on {self.device}" if self.device else "")

    def write(self, folder: str | Path) -> Path:
        """Write ``folder/training.json`` (without ``clip_ids``) and return its path."""
        path = Path(folder) / TRAINING_JSON
        path.write_text(json.dumps(self.to_dict(with_clip_ids=False), indent=2, default=str) + "\n",
                        encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: str | Path) -> RunRecord | None:
        """The record in ``folder/training.json``; ``None`` without that file.

        Raises:
            ValueError: the file is not a JSON object of known keys (the message names the file).
        """
        path = Path(folder) / TRAINING_JSON
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object")
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None


def _minutes(seconds: float) -> str:
    """``25.5 min``, or ``1.6 h`` from 90 minutes on."""
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
