"""``vfhgan_core/data/speech_mouth.py``: how much of the mouth's shape the speech window predicts."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vfhgan_core.data.prepare import prepare_dataset
from vfhgan_core.data.shards import load_shard
from vfhgan_core.data.speech_mouth import MOUTH_PATCH, mouth_patches, probe_speech_mouth
from vfhgan_core.data.windows import find_clip_shards
from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.detection import DetectorConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, data_dir: Path, detector_model: Path) -> Path:
    """Sixteen GRID s1 sentences, prepared (about 75 frames each)."""
    videos = sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:16]
    out = tmp_path_factory.mktemp("speech_mouth")
    config = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
    summary = prepare_dataset(videos, out, config, workers=1, progress=False)
    assert len(summary.ok) == 16, summary.records
    return out


@pytest.fixture(scope="module")
def shards(prepared: Path):
    return [load_shard(p) for _, p in sorted(find_clip_shards(prepared).items())]


@pytest.mark.slow
def test_the_speech_predicts_the_mouth_better_than_speech_out_of_step(shards) -> None:
    probe = probe_speech_mouth(shards[:12], shards[12:])
    assert probe.train_frames > 400 and probe.test_frames > 100
    assert len(probe.r2_matched) == len(probe.r2_shifted) == len(probe.explained) == 5
    # the main mouth component (about a third of the crops' variance) is largely read from the
    # speech of sentences the regression never saw, and clearly less from speech half a second off
    assert probe.explained[0] > 0.2
    assert probe.r2_matched[0] > 0.3
    assert probe.r2_matched[0] > probe.r2_shifted[0] + 0.1


@pytest.mark.slow
def test_per_clip_scoring_ignores_how_loud_a_clip_was_recorded(shards) -> None:
    # a new recording: the same sentences 6 dB louder (log-mel + a constant) and twice the spread
    louder = [dataclasses.replace(s, mel_windows=s.mel_windows * 2.0 + 3.0) for s in shards[12:]]
    same = probe_speech_mouth(shards[:12], shards[12:], per_clip=True)
    moved = probe_speech_mouth(shards[:12], louder, per_clip=True)
    np.testing.assert_allclose(moved.r2_matched, same.r2_matched, atol=1e-3)
    # without it the regression reads the level, and the louder clips score differently
    plain = probe_speech_mouth(shards[:12], shards[12:])
    plain_moved = probe_speech_mouth(shards[:12], louder)
    assert abs(plain_moved.r2_matched[0] - plain.r2_matched[0]) > 0.05
    # the motion of the main component is still read from the speech, and less when it is out of step
    assert same.r2_matched[0] > 0.3
    assert same.r2_matched[0] > same.r2_shifted[0] + 0.1


def test_mouth_patches_are_normalised_crops(shards) -> None:
    patches = mouth_patches(shards[0], every=3)
    assert patches.shape == (len(range(0, shards[0].num_frames, 3)), MOUTH_PATCH[0] * MOUTH_PATCH[1])
    np.testing.assert_allclose(patches.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(patches.std(axis=1), 1.0, atol=0.02)
    assert patches.std(axis=0).mean() > 0.2           # the mouth moves from frame to frame
    with pytest.raises(ValueError, match="training and test clips"):
        probe_speech_mouth(shards[:2], [])


def test_the_probe_script_prints_the_table_and_refuses_a_bad_split(prepared: Path) -> None:
    script = str(REPO / "train" / "probe_speech_mouth.py")
    run = subprocess.run([sys.executable, script, "--data", str(prepared), "--clips", "16", "--test-clips", "4",
                          "--components", "3"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "fit on 12 clips" in run.stdout and "scored on 4 clips" in run.stdout
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split("|")[1].strip() for r in rows] == ["1", "2", "3"]
    assert "per clip" not in run.stdout
    per_clip = subprocess.run([sys.executable, script, "--data", str(prepared), "--clips", "16", "--test-clips", "4",
                               "--components", "2", "--per-clip"], capture_output=True, text=True, timeout=300)
    assert per_clip.returncode == 0, per_clip.stderr
    assert "per clip: speech and mouth taken around each clip's own mean" in per_clip.stdout
    assert [line[:4] for line in per_clip.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()] \
        == ["| 1 ", "| 2 "]
    bad = subprocess.run([sys.executable, script, "--data", str(prepared), "--clips", "16", "--test-clips", "16"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--test-clips must be between 1 and 15" in bad.stderr
    assert "Traceback" not in bad.stderr
