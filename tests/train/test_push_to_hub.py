"""train/push_to_hub.py, the command line: dry run, bad folders, offline push, bad repo ids.

What it calls is tested in tests/weights/test_folder_format.py (selection, validation) and
tests/weights/test_publish.py (staging, the repo card, the upload, the checks before the network).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vfhgan_core.weights.publish import staged_files
from weights_fixtures import copy_variant, make_weights_dir

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "train" / "push_to_hub.py"



@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """assets/weights-like folder: two variants, the shipped lip reader and an unrelated folder."""
    return make_weights_dir(tmp_path_factory.mktemp("weights"))


# --------------------------------------------------------------------------- command line


def _run(*args: str, offline: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_dry_run_builds_the_repo_folder(weights_dir: Path, tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    # offline mode on: a dry run needs no network at all
    res = _run("org/vfhgan", "--weights-dir", str(weights_dir), "--variants", "audio-ffl-lip",
               "--include-lipreader", "--staging-dir", str(staging), "--dry-run", offline=True)
    assert res.returncode == 0, res.stderr
    assert f"staged org/vfhgan in {staging}" in res.stdout and "nothing uploaded" in res.stdout
    listed = {line.split()[0] for line in res.stdout.splitlines() if line.startswith("  ")}
    assert listed == {p for p, _ in staged_files(staging)}
    assert "audio-ffl-lip/model.safetensors" in listed and "lipreader/model.safetensors" in listed
    assert not any(p.startswith("noaudio") for p in listed)


def test_cli_bad_folder_exits_2_without_traceback(weights_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "w"
    copy_variant(weights_dir, tmp_path, as_name="audio-noffl-lip")
    (copy_variant(weights_dir, tmp_path, name="noaudio-noffl-nolip") / "README.md").unlink()
    staging = tmp_path / "stage"
    res = _run("org/vfhgan", "--weights-dir", str(root), "--staging-dir", str(staging), "--dry-run")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    # every bad folder is reported at once, with what to do
    assert "experiment.json says variant 'audio-ffl-lip'" in res.stderr
    assert "missing README.md" in res.stderr and "export_weights.py" in res.stderr
    assert not staging.exists()


def test_cli_push_offline_fails_fast(weights_dir: Path, tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    t0 = time.perf_counter()
    res = _run("org/vfhgan", "--weights-dir", str(weights_dir), "--token", "hf_dummy", "--staging-dir", str(staging),
               offline=True)
    assert time.perf_counter() - t0 < 10
    assert res.returncode == 1
    assert "HF_HUB_OFFLINE" in res.stderr and "nothing was uploaded" in res.stderr and "Traceback" not in res.stderr
    assert not staging.exists()


def test_cli_rejects_a_repo_id_without_namespace(weights_dir: Path) -> None:
    res = _run("vfhgan", "--weights-dir", str(weights_dir), "--dry-run", offline=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "no namespace" in res.stderr and "user-or-org/vfhgan" in res.stderr
    res = _run("org/bad name", "--weights-dir", str(weights_dir), "--dry-run", offline=True)
    assert res.returncode == 2 and "not a valid Hub repo id" in res.stderr
