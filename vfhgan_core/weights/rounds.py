"""Training rounds: the history of weights trained over several runs, sessions and machines.

A shipped variant may be the work of several runs: a GPU campaign, then CPU rounds that each
start from the weights the round before exported (``init_from``). Each run writes its own facts
into its weights folder's ``training.json``; this module carries the earlier runs' facts along
under ``"rounds"``, so the last folder holds the whole history, and sums it, so that the model
card can say how long the weights trained in all, and on what.

A round is a plain dict: ``variant``, ``device``, ``steps``, ``wall_time_s``, ``command`` and
``losses`` (the loss weights of that run), all optional. Folders written before rounds were kept
count as one round made of their own facts.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vfhgan_core.weights.run_record import RunRecord

__all__ = ["ROUND_KEYS", "round_of", "rounds_before", "rounds_total"]

#: the facts of a run that a round keeps
ROUND_KEYS = ("variant", "device", "steps", "wall_time_s", "command", "losses", "resumed_at")


def round_of(facts: Mapping[str, Any] | RunRecord) -> dict[str, Any]:
    """The round-sized part of one run's ``training.json`` facts (a :class:`RunRecord` or its dict)."""
    if isinstance(facts, RunRecord):
        facts = facts.to_dict()
    return {k: facts[k] for k in ROUND_KEYS if k in facts}


def rounds_before(init_folder: str | Path | None) -> list[dict[str, Any]]:
    """Every round that produced the weights in ``init_folder``, oldest first.

    A folder without ``training.json`` (e.g. weights from elsewhere) gives an empty history; one
    whose ``training.json`` is not JSON raises ``ValueError`` naming the file.
    """
    if init_folder is None:
        return []
    path = Path(init_folder) / "training.json"
    if not path.is_file():
        return []
    try:
        facts = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); the weights' training history cannot be read") from None
    last = round_of(facts)
    experiment = Path(init_folder) / "experiment.json"
    if ("losses" not in last or "variant" not in last) and experiment.is_file():
        # folders written before rounds were kept: their loss weights are in the saved config
        saved = json.loads(experiment.read_text())
        last.setdefault("variant", saved.get("variant"))
        last.setdefault("losses", {k: v for k, v in saved.get("losses", {}).items()
                                   if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return [dict(r) for r in facts.get("rounds", [])] + [last]


def _device_kind(device: str) -> str:
    return "CPU" if str(device).upper().startswith("CPU") else str(device)


def rounds_total(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"rounds": n, "steps": sum, "wall_time_s": sum, "wall_time_s_by_device": {kind: sum}}``.

    Devices are grouped as ``"CPU"`` or the GPU's name. Rounds without a time add none.
    """
    by_device: dict[str, float] = {}
    steps = 0
    for r in rounds:
        steps += int(r.get("steps") or 0)
        if r.get("wall_time_s") is not None:
            kind = _device_kind(r.get("device", "unknown"))
            by_device[kind] = by_device.get(kind, 0.0) + float(r["wall_time_s"])
    return {"rounds": len(rounds), "steps": steps, "wall_time_s": sum(by_device.values()),
            "wall_time_s_by_device": by_device}
