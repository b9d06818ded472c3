"""train/train_variants.py, run as a subprocess (``--plan``): which configs run, in which order, from which pretrain."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "train" / "train_variants.py"
#: configs that are not variants: the smoke test's and the lip reader's
NOT_VARIANTS = {"smoke", "lipreader_grid"}
WEIGHTS = REPO / "assets" / "weights"


def plan(*args: str) -> dict[str, dict]:
    """The jobs ``train_variants.py`` would run, as it prints them with ``--plan``."""
    proc = subprocess.run([sys.executable, str(SCRIPT), "--plan", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def refused(*args: str) -> str:
    """The error of a plan that cannot run (exit status 1, no traceback)."""
    proc = subprocess.run([sys.executable, str(SCRIPT), "--plan", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.stderr


def test_every_fine_tune_waits_for_the_pretrain_it_starts_from() -> None:
    jobs = plan()
    configs = {p.stem for p in (REPO / "train" / "configs").glob("*.json")} - NOT_VARIANTS
    assert set(jobs) == configs
    for name, job in jobs.items():
        init_from = json.loads(Path(job["config"]).read_text()).get("init_from")
        if job["is_pretrain"]:
            assert job["needs"] == [] and init_from is None, name
        else:
            # the run named by init_from (runs/<run>/final) is a job of the same set: the pretrain, or for
            # a real-world variant the clean variant it is fine-tuned from
            assert job["needs"] == [Path(init_from).parts[1]] and job["needs"][0] in jobs, name
            if name.endswith("-real"):
                assert job["needs"] == [name.removesuffix("-real")], name
            else:
                assert jobs[job["needs"][0]]["is_pretrain"], name


def test_a_subset_brings_its_pretrains_and_unknown_names_are_refused() -> None:
    jobs = plan("--only", "noaudio-ffl-lip", "audio-ffl-lip-noattn")
    assert set(jobs) == {"noaudio-ffl-lip", "pretrain-noaudio", "audio-ffl-lip-noattn", "pretrain-audio-noattn"}
    # all the way down: the real-world variant brings its clean variant and that one's pretrain
    assert set(plan("--only", "audio-ffl-lip-real")) == {"audio-ffl-lip-real", "audio-ffl-lip", "pretrain-audio"}
    assert "unknown variant" in refused("--only", "audio-ffl-lipp") and "audio-ffl-lipp" in refused(
        "--only", "audio-ffl-lipp")


def test_a_round_continues_every_fine_tune_from_its_shipped_weights(tmp_path: Path) -> None:
    jobs = plan("--continue-from", str(WEIGHTS), "--runs", str(tmp_path / "round"))
    fine_tunes = {p.stem for p in (REPO / "train" / "configs").glob("*.json")} - NOT_VARIANTS
    fine_tunes = {n for n in fine_tunes if not n.startswith("pretrain") and not n.endswith("-real")}
    assert set(jobs) == fine_tunes and len(jobs) == 9
    for name, job in jobs.items():
        assert job["needs"] == [] and not job["is_pretrain"]
        assert Path(job["init_from"]) == WEIGHTS / name and Path(job["run_dir"]) == tmp_path / "round" / name
    (tmp_path / "partial" / "audio-ffl-lip").mkdir(parents=True)
    assert "no weights for audio-ffl-lip at" in refused("--only", "audio-ffl-lip", "--continue-from",
                                                        str(tmp_path / "partial"))
    assert set(plan("--only", "noaudio-ffl-lip", "--continue-from", str(WEIGHTS))) == {"noaudio-ffl-lip"}


def test_an_audio_graft_round_starts_each_audio_variant_from_its_no_audio_twin(tmp_path: Path) -> None:
    jobs = plan("--continue-from", str(WEIGHTS), "--runs", str(tmp_path / "round"), "--graft-audio")
    assert len(jobs) == 9
    for name, job in jobs.items():
        if name.startswith("audio-") and not name.endswith("-noattn"):
            assert Path(job["init_from"]) == WEIGHTS / name.replace("audio-", "noaudio-", 1), name
        else:                                    # no-audio variants, and -noattn (no no-audio twin)
            assert Path(job["init_from"]) == WEIGHTS / name, name
    # the twin must exist: a folder with only the audio variant's weights is refused
    partial = tmp_path / "partial" / "audio-ffl-lip"
    partial.mkdir(parents=True)
    (partial / "model.safetensors").write_bytes(b"")
    error = refused("--only", "audio-ffl-lip", "--continue-from", str(tmp_path / "partial"), "--graft-audio")
    assert "no weights for audio-ffl-lip at" in error and "noaudio-ffl-lip" in error


def test_graft_audio_needs_a_round() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--plan", "--graft-audio"], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 2 and "--graft-audio needs --continue-from" in proc.stderr

