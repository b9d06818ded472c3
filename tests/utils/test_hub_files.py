"""One loader for every trained network: the lip reader gets the generator's offline guard and strict loading."""
from __future__ import annotations

import time
from pathlib import Path

import huggingface_hub
import pytest
import torch

from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.models.lipreading import LipReader, LipReaderConfig
from vfhgan_core.utils.hub_files import CONNECT_TIMEOUT, load_pretrained

SHIPPED_READER = Path(__file__).resolve().parents[2] / "assets" / "weights" / "lipreader"


def test_the_shipped_lip_reader_loads_strictly_in_eval_mode() -> None:
    reader = LipReader.from_pretrained(SHIPPED_READER)
    assert not reader.training and reader.config.num_classes == 51
    same = load_pretrained(LipReader, LipReaderConfig, SHIPPED_READER, what="lip reader")
    for (name, a), (_, b) in zip(reader.state_dict().items(), same.state_dict().items()):
        assert torch.equal(a, b), name


def test_an_unreachable_hub_fails_fast_for_the_lip_reader_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="cannot be reached"):
        LipReader.from_pretrained("org/never-downloaded-reader")
    assert time.perf_counter() - t0 < CONNECT_TIMEOUT + 1


def test_weights_of_another_network_are_refused_with_the_files_named(tmp_path: Path) -> None:
    VFHGANGenerator(GeneratorConfig(use_audio=False)).save_pretrained(tmp_path / "gen")
    with pytest.raises(WeightsNotFoundError, match="not a valid lip reader config|do not fit the lip reader"):
        LipReader.from_pretrained(tmp_path / "gen")
    LipReader(LipReaderConfig(num_classes=51, width_mult=0.25)).save_pretrained(tmp_path / "reader")
    (tmp_path / "reader" / "model.safetensors").write_bytes(b"damaged")
    with pytest.raises(WeightsNotFoundError, match="do not fit the lip reader"):
        LipReader.from_pretrained(tmp_path / "reader")
