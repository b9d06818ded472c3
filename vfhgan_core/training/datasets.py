"""The training and validation windows of an experiment, built the same way by every training script."""
from __future__ import annotations

import time
from dataclasses import dataclass

from vfhgan_core.data.windows import (
    ClipSplit,
    FrameWindowDataset,
    load_window_clips,
    sentence_holdout,
    speaker_balanced_weights,
    split_clips,
)
from vfhgan_core.experiment import ExperimentConfig

__all__ = ["ExperimentData", "experiment_datasets"]


@dataclass
class ExperimentData:
    """The speaker-disjoint split of an experiment and its two datasets.

    Attributes:
        split: which clips went where (and the validation clips left out as training recordings).
        train: ``length`` augmented training samples drawn with the experiment's seed.
        val: a fixed set of validation samples (``data.val_samples_per_clip`` per clip).
        load_seconds: time spent reading the shards.
    """

    split: ClipSplit
    train: FrameWindowDataset
    val: FrameWindowDataset
    load_seconds: float


def experiment_datasets(exp: ExperimentConfig, length: int) -> ExperimentData:
    """Split ``exp.data`` by speaker, load its clips and build the training and validation windows.

    ``length`` is the number of training samples to draw (steps × batch × accumulation × processes).
    """
    d = exp.data
    held_out = sentence_holdout(d.train, d.holdout_sentences) if d.holdout_sentences else None
    split = split_clips(d.train, d.val, d.val_speakers, d.speaker_rules, d.max_train_clips, held_out)
    t0 = time.perf_counter()
    train_clips = load_window_clips(split.train.values(), d.scale, d.degradation)
    val_clips = load_window_clips(split.val.values(), d.scale, d.degradation)
    clip_weights = None
    if d.speaker_sampling_power != 1.0:
        clip_weights = speaker_balanced_weights([c.clip_id for c in train_clips],
                                                [max(c.num_frames - d.seq_len + 1, 1) for c in train_clips],
                                                d.speaker_rules, d.speaker_sampling_power)
    train = FrameWindowDataset(train_clips, d.num_frames, d.seq_len, train=True, seed=exp.optim.seed,
                               hflip_prob=d.hflip_prob, length=length, clip_weights=clip_weights,
                               color_jitter=d.color_jitter, geometric_jitter=d.geometric_jitter,
                               mouth_occlusion=d.mouth_occlusion,
                               degradation=d.degradation, scale=d.scale, blind=d.blind_degradation)
    val = FrameWindowDataset(val_clips, d.num_frames, d.val_seq_len, train=False, seed=exp.optim.seed,
                             samples_per_clip=d.val_samples_per_clip, degradation=d.degradation, scale=d.scale,
                             blind=d.blind_degradation)
    return ExperimentData(split, train, val, time.perf_counter() - t0)
