"""Typed configs round-trip through JSON; typos are reported."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vfhgan_core.config import from_dict, load_json, save_json, to_dict
from vfhgan_core.faces.clip import PipelineConfig


@dataclass(frozen=True)
class Inner:
    sizes: tuple[int, ...] = (1, 3, 5)
    name: str | None = None


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    rate: float = 1.0
    maybe: Inner | None = None


def test_nested_round_trip(tmp_path: Path) -> None:
    obj = Outer(inner=Inner(sizes=(7, 9), name="x"), rate=2, maybe=Inner())
    save_json(obj, tmp_path / "c.json")
    back = load_json(Outer, tmp_path / "c.json")
    assert back == obj
    assert isinstance(back.inner.sizes, tuple) and isinstance(back.rate, float)


def test_unknown_key_is_named() -> None:
    with pytest.raises(ValueError, match="ratee"):
        from_dict(Outer, {"ratee": 3})


def test_pipeline_config_round_trips() -> None:
    cfg = PipelineConfig(detect_every=3)
    assert from_dict(PipelineConfig, to_dict(cfg)) == cfg
