"""The training data behind a set of weights: which known datasets a run used, under which licence.

Read by the model cards (:mod:`vfhgan_core.weights.model_card`) and by the validator of weights
folders (:mod:`vfhgan_core.weights.folder_format`), which gathers the licences of every variant
for a Hub repo's card.
"""
from __future__ import annotations

from vfhgan_core.experiment import ExperimentConfig

__all__ = ["DATASET_LICENCES", "dataset_licences"]

#: datasets recognised in data sources and clip ids: key → (name, licence, note)
DATASET_LICENCES: dict[str, tuple[str, str, str]] = {
    "grid": ("GRID audiovisual sentence corpus (Cooke, Barker, Cunningham & Shao, 2006)", "CC BY 4.0",
             "attribution required"),
    "voxceleb": ("VoxCeleb2 (Chung, Nagrani & Zisserman, 2018), clips distributed with PC-AVS", "CC BY 4.0",
                 "attribution required"),
    "hdtf": ("HDTF (Zhang, Li, Ding & Fan, 2021)", "research use only",
             "YouTube material: weights trained on it are for research use"),
}


def dataset_licences(experiment: ExperimentConfig, clip_ids: list[str] | None = None) -> list[tuple[str, str, str]]:
    """``(name, licence, note)`` of each known dataset the run's sources or clip ids mention.

    Sources that match no known dataset give an ``(source, "unknown", ...)`` entry so a card
    never hides data of unknown licence.
    """
    texts = [s.lower() for s in (*experiment.data.train, *experiment.data.val)] + \
            [c.lower() for c in (clip_ids or [])]
    found: dict[str, tuple[str, str, str]] = {}
    for key, entry in DATASET_LICENCES.items():
        if any(key in t for t in texts):
            found[key] = entry
    for src in (*experiment.data.train, *experiment.data.val):
        if not any(key in src.lower() for key in DATASET_LICENCES):
            found[src] = (src, "unknown", "check the licence of this data before sharing the weights")
    return list(found.values())
