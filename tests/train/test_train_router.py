"""End to end: train/train_router.py joins the shipped degraded-input and clean-input experts, on real clips."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vfhgan_core.data.prepare import prepare_dataset
from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.detection import DetectorConfig
from vfhgan_core.weights.hub import load_generator

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "train" / "train_router.py"
WEIGHTS = REPO / "assets" / "weights"


def _run(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, data_dir: Path, detector_model: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train_router")
    config = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
    out = {}
    for name, clips in (("train", [data_dir / "grid_s1" / "video" / f"{c}.mp4" for c in ("bbaf3s", "bbaf4p")]),
                        ("val", [data_dir / "grid_speakers" / f"{c}.mpg" for c in ("lbax4n", "sbia1a")])):
        summary = prepare_dataset(clips, root / name, config, workers=2, progress=False)
        assert len(summary.ok) == len(clips), [r.message for r in summary.skipped]
        out[name] = root / name
    return out


def test_the_router_joins_both_experts_into_one_variant_folder(prepared, tmp_path: Path) -> None:
    proc = _run("--degraded", WEIGHTS / "audio-ffl-lip-real", "--clean", WEIGHTS / "audio-ffl-lip",
                "--out", tmp_path, "--train-data", prepared["train"], "--val-data", prepared["val"],
                "--val-speakers", "--samples", 40, "--steps", 30, "--threads", 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "audio-ffl-lip-real"
    routed = load_generator("audio-ffl-lip-real", source=tmp_path)
    assert routed.config.router is not None
    # the experts are copied unchanged: only the router was trained
    shipped = load_generator("audio-ffl-lip-real", source=WEIGHTS).degraded_expert()
    clean = load_generator("audio-ffl-lip", source=WEIGHTS)
    for mine, theirs in ((routed.degraded_expert(), shipped), (routed.clean_expert, clean)):
        for (k, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), k
    facts = json.loads((folder / "training.json").read_text())["routing"]
    assert facts["steps"] == 30 and facts["train_windows"] == 40 and facts["clean_expert_variant"] == "audio-ffl-lip"
    scores = facts["val_scores"]
    for kind in ("clean", "degraded"):
        assert scores[f"{kind}/windows"] > 0
        assert 0.0 <= scores[f"{kind}/mean_weight"] <= 1.0
    # on the same validation windows, the clean expert wins on clean inputs and the degraded one on degraded inputs
    assert scores["clean/psnr_y_clean_expert"] > scores["clean/psnr_y_degraded_expert"]
    assert scores["degraded/psnr_y_degraded_expert"] > scores["degraded/psnr_y_clean_expert"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["psnr_y_clean_inputs"] == pytest.approx(scores["clean/psnr_y_routed"])
    card = (folder / "README.md").read_text()
    assert "## Routing between two experts" in card and "blind real-video chain" in card
    assert "train_router.py" in card


def test_the_router_refuses_a_clean_trained_generator_as_its_degraded_expert(tmp_path: Path) -> None:
    proc = _run("--degraded", WEIGHTS / "audio-ffl-lip", "--clean", WEIGHTS / "audio-ffl-lip", "--out", tmp_path)
    assert proc.returncode == 2
    assert "trained on clean inputs" in proc.stderr and "Traceback" not in proc.stderr
    missing = _run("--degraded", tmp_path / "nothing", "--clean", WEIGHTS / "audio-ffl-lip", "--out", tmp_path)
    assert missing.returncode == 2 and "holds no exported generator" in missing.stderr
