"""train/train_variants.py: which configs run, in which order, from which pretrain."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("train_variants", REPO / "train" / "train_variants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_fine_tune_waits_for_the_pretrain_it_starts_from(runner) -> None:
    jobs = runner.discover(None)
    configs = {p.stem for p in (REPO / "train" / "configs").glob("*.json")} - runner.NOT_VARIANTS
    assert set(jobs) == configs
    for name, job in jobs.items():
        init_from = json.loads(job.config.read_text()).get("init_from")
        if job.is_pretrain:
            assert job.needs == [] and init_from is None, name
        else:
            # the run named by init_from (runs/<run>/final) is a job of the same set: the pretrain, or for
            # a real-world variant the clean variant it is fine-tuned from
            assert job.needs == [Path(init_from).parts[1]] and job.needs[0] in jobs, name
            if name.endswith("-real"):
                assert job.needs == [name.removesuffix("-real")], name
            else:
                assert jobs[job.needs[0]].is_pretrain, name


def test_a_subset_brings_its_pretrains_and_unknown_names_are_refused(runner) -> None:
    jobs = runner.discover(["noaudio-ffl-lip", "audio-ffl-lip-noattn"])
    assert set(jobs) == {"noaudio-ffl-lip", "pretrain-noaudio", "audio-ffl-lip-noattn", "pretrain-audio-noattn"}
    # all the way down: the real-world variant brings its clean variant and that one's pretrain
    assert set(runner.discover(["audio-ffl-lip-real"])) == {"audio-ffl-lip-real", "audio-ffl-lip", "pretrain-audio"}
    with pytest.raises(SystemExit, match="unknown variant.*audio-ffl-lipp"):
        runner.discover(["audio-ffl-lipp"])


def test_a_round_continues_every_fine_tune_from_its_shipped_weights(runner, tmp_path: Path) -> None:
    weights = REPO / "assets" / "weights"
    jobs = runner.discover(None, weights, tmp_path / "round")
    fine_tunes = {p.stem for p in (REPO / "train" / "configs").glob("*.json")} - runner.NOT_VARIANTS
    fine_tunes = {n for n in fine_tunes if not n.startswith("pretrain") and not n.endswith("-real")}
    assert set(jobs) == fine_tunes and len(jobs) == 9
    for name, job in jobs.items():
        assert job.needs == [] and not job.is_pretrain
        assert job.init_from == weights / name and job.run_dir == tmp_path / "round" / name
    (tmp_path / "partial" / "audio-ffl-lip").mkdir(parents=True)
    with pytest.raises(SystemExit, match="no weights for audio-ffl-lip at"):
        runner.discover(["audio-ffl-lip"], tmp_path / "partial")
    assert set(runner.discover(["noaudio-ffl-lip"], weights)) == {"noaudio-ffl-lip"}  # only those asked for


def test_an_audio_graft_round_starts_each_audio_variant_from_its_no_audio_twin(runner, tmp_path: Path) -> None:
    weights = REPO / "assets" / "weights"
    jobs = runner.discover(None, weights, tmp_path / "round", graft_audio=True)
    assert len(jobs) == 9
    for name, job in jobs.items():
        if name.startswith("audio-") and not name.endswith("-noattn"):
            assert job.init_from == weights / name.replace("audio-", "noaudio-", 1), name
        else:                                    # no-audio variants, and -noattn (no no-audio twin)
            assert job.init_from == weights / name, name
    # the twin must exist: a folder with only the audio variant's weights is refused
    partial = tmp_path / "partial" / "audio-ffl-lip"
    partial.mkdir(parents=True)
    (partial / "model.safetensors").write_bytes(b"")
    with pytest.raises(SystemExit, match="no weights for audio-ffl-lip at .*noaudio-ffl-lip"):
        runner.discover(["audio-ffl-lip"], tmp_path / "partial", graft_audio=True)
