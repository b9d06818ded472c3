"""Weights resolver: variant names, bundled/local/Hub sources, offline without stalls."""
from __future__ import annotations

import time
from pathlib import Path

import huggingface_hub
import pytest
import torch

from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.weights import hub


def test_variant_names_round_trip() -> None:
    names = set()
    for audio in (True, False):
        for ffl in (True, False):
            for lip in (True, False):
                name = hub.variant_name(audio, ffl, lip)
                assert hub.parse_variant(name) == {"audio": audio, "frequency_loss": ffl, "lip_loss": lip, "attention": True,
                                                   "real_world": False}
                names.add(name)
    assert len(names) == 8 and hub.DEFAULT_VARIANT in names
    assert hub.variant_name(attention=False) == "audio-ffl-lip-noattn"
    # the blind-degradation (real-world) flavour of any variant, the attention ablation included
    assert hub.variant_name(real_world=True) == "audio-ffl-lip-real"
    assert hub.parse_variant("audio-ffl-lip-real")["real_world"] is True
    assert hub.parse_variant("audio-ffl-lip-noattn-real") == {
        "audio": True, "frequency_loss": True, "lip_loss": True, "attention": False, "real_world": True}
    for bad in ("audio-ffl-lip-real-noattn", "audio-ffl-lip-real-real", "audio-ffl-lip-clean"):
        with pytest.raises(ValueError, match="variant name"):
            hub.parse_variant(bad)
    with pytest.raises(ValueError, match="variant name"):
        hub.parse_variant("audio-lip")


@pytest.fixture
def weights_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    VFHGANGenerator(GeneratorConfig(use_audio=False)).save_pretrained(tmp_path / "noaudio-noffl-nolip")
    (tmp_path / "notes").mkdir()
    return tmp_path


def test_local_folder_of_variants(weights_dir: Path) -> None:
    assert hub.list_variants(weights_dir) == ["noaudio-noffl-nolip"]
    gen = hub.load_generator("noaudio-noffl-nolip", weights_dir)
    assert not gen.config.use_audio and not gen.training
    # a folder that is itself one variant's weights
    assert hub.load_generator("noaudio-noffl-nolip", weights_dir / "noaudio-noffl-nolip").config == gen.config
    with pytest.raises(WeightsNotFoundError, match="variants there: noaudio-noffl-nolip"):
        hub.load_generator("audio-ffl-lip", weights_dir)


def _cached_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_id: str, variant: str) -> Path:
    """A Hub repo as the cache holds it after a download (offline mode on): the snapshot folder of ``variant``,
    holding a no-audio generator's weights."""
    home = tmp_path / "hf"
    for name, value in (("HF_HOME", str(home)), ("HF_HUB_CACHE", str(home / "hub")), ("HF_HUB_OFFLINE", True)):
        monkeypatch.setattr(huggingface_hub.constants, name, value)
    rev = "a" * 40
    repo = home / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    folder = repo / "snapshots" / rev / variant
    VFHGANGenerator(GeneratorConfig(use_audio=False)).save_pretrained(folder)
    return folder


def test_a_variant_s_run_record_comes_from_where_its_weights_do(weights_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from vfhgan_core.weights.run_record import RunRecord

    # the bundled weights carry their records; a folder without training.json has none
    bundled = hub.load_run_record("audio-ffl-lip")
    assert bundled == RunRecord.read(hub.BUNDLED_WEIGHTS / "audio-ffl-lip") and bundled.steps
    assert hub.load_run_record("noaudio-noffl-nolip", weights_dir) is None
    with pytest.raises(WeightsNotFoundError, match="no weights for variant"):
        hub.load_run_record("audio-ffl-lip", weights_dir)
    # a damaged record is an error naming the file
    (weights_dir / "noaudio-noffl-nolip" / "training.json").write_text('{"steps": 3, "colour": "red"}')
    with pytest.raises(ValueError, match="training.json"):
        hub.load_run_record("noaudio-noffl-nolip", weights_dir)
    # from a Hub repo in the cache, offline: the same file next to the weights
    folder = _cached_repo(tmp_path, monkeypatch, "org/records", "noaudio-noffl-nolip")
    RunRecord(steps=12, wall_time_s=30.0, device="CPU").write(folder)
    assert hub.load_run_record("noaudio-noffl-nolip", "org/records").steps == 12


def test_hub_repo_from_cache_offline(weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cached_repo(tmp_path, monkeypatch, "org/vfhgan", "noaudio-noffl-nolip")
    assert not hub.load_generator("noaudio-noffl-nolip", "org/vfhgan").config.use_audio
    t0 = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="offline mode"):
        hub.load_generator("audio-ffl-lip", "org/vfhgan")
    assert time.perf_counter() - t0 < 2


def test_uncached_repo_online_without_network_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Online mode but no route to the Hub (as on our machines): a quick, clear error, no retry stall."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="cannot be reached"):
        hub.load_generator("audio-ffl-lip", "org/never-downloaded")
    assert time.perf_counter() - t0 < hub.CONNECT_TIMEOUT + 1


def test_not_a_folder_nor_repo_id() -> None:
    with pytest.raises(WeightsNotFoundError, match="neither an existing folder nor a Hub repo id"):
        hub.load_generator("audio-ffl-lip", "/no/such/dir with spaces")


def test_the_lip_reader_loads_frozen_or_says_how_to_train_one(tmp_path: Path) -> None:
    from vfhgan_core.weights.hub import BUNDLED_WEIGHTS, load_lip_reader

    reader = load_lip_reader(BUNDLED_WEIGHTS / "lipreader")
    assert not reader.training and reader.config.num_classes > 0
    with pytest.raises(WeightsNotFoundError, match="train_lipreader.py"):
        load_lip_reader(tmp_path / "no-reader")
