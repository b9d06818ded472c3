"""What a training script records about its run besides the weights: the device it ran on, the
facts of its data (:class:`~vfhgan_core.weights.run_record.RunRecord`), its config for TensorBoard."""
from __future__ import annotations

import json
import os
import platform
from typing import Any

import torch

from vfhgan_core.config import to_dict
from vfhgan_core.experiment import ExperimentConfig
from vfhgan_core.training.datasets import ExperimentData
from vfhgan_core.weights.run_record import RunRecord

__all__ = ["data_record", "device_name", "flat_config"]


def device_name(device: torch.device) -> str:
    """The GPU's name, or ``CPU (<processor>, <n> cores)``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def data_record(data: ExperimentData, val_seq_len: int, **facts: Any) -> RunRecord:
    """The :class:`RunRecord` of a run's data (counts, speakers, clip ids and fingerprints) and ``facts``."""
    split, train_ds, val_ds = data.split, data.train, data.val
    return RunRecord(
        train_clips=len(train_ds.clips), train_frames=train_ds.total_frames,
        val_clips=len(val_ds.clips), val_frames=len(val_ds) * val_seq_len,
        train_speakers=list(split.train_speakers), val_speakers=list(split.val_speakers),
        clip_ids=sorted(split.train)[:50] + sorted(split.val)[:50],
        # every training clip and its speech fingerprint, so `vfhgan evaluate` can keep them
        # out of the scores, also when a data source holds one under another name
        train_clip_ids=sorted(c.clip_id for c in train_ds.clips),
        train_clip_fingerprints={c.clip_id: split.fingerprints.get(c.clip_id)
                                 for c in sorted(train_ds.clips, key=lambda c: c.clip_id)},
        val_same_recordings=dict(split.same_recordings),
    ).replace(**facts)


def flat_config(exp: ExperimentConfig) -> dict[str, Any]:
    """Scalar hyper-parameters for TensorBoard's hparams view (nested keys joined by '.')."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (int, float, str, bool)):
            flat[prefix] = value
        elif value is None:
            flat[prefix] = "none"
        else:
            flat[prefix] = json.dumps(value)

    walk("", to_dict(exp))
    return flat
