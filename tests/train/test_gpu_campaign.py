"""train/gpu_campaign.py end to end on the CPU: pack real prepared clips, run the whole campaign
chain with 3 steps a run (``--tiny``), and read the split archive back.

The same command, without ``--tiny --cpu``, is what a GPU machine runs (train/README.md §7).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vfhgan_core.data.prepare import prepare_dataset
from vfhgan_core.data.shards import load_shard
from vfhgan_core.data.windows import find_clip_shards
from vfhgan_core.experiment import load_experiment
from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.detection import DetectorConfig
from vfhgan_core.weights.hub import load_generator

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "train" / "gpu_campaign.py"
CLIPS = {
    "grid_s1": ["video/bbaf2n.mp4", "video/bbaf3s.mp4", "video/bbaf4p.mp4", "align/bbaf2n.align",
                "align/bbaf3s.align", "align/bbaf4p.align"],
    "grid_speakers": ["lbax4n.mpg", "sbia1a.mpg"],
    # all of it: the configs name its validation speakers, and the trainer refuses absent ones
    "voxceleb2": None,
}


def _run(*args, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([*map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, data_dir: Path, detector_model: Path) -> Path:
    """The configs' three data folders, by name, each with a few real clips."""
    videos, root = tmp_path_factory.mktemp("videos"), tmp_path_factory.mktemp("prepared")
    config = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
    for source, files in CLIPS.items():
        if files is None:
            files = [p.name for p in (data_dir / source).iterdir() if p.suffix == ".mp4"]
        for rel in files:
            (videos / source / rel).parent.mkdir(parents=True, exist_ok=True)
            (videos / source / rel).symlink_to(data_dir / source / rel)
        summary = prepare_dataset([videos / source], root / source, config, workers=2, progress=False)
        assert summary.ok and not summary.skipped, [r.message for r in summary.skipped]
    return root


@pytest.fixture(scope="module")
def campaign(prepared: Path, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("campaign")
    pack, out, work = tmp / "pack", tmp / "out", tmp / "work"
    _run(sys.executable, DRIVER, "pack", pack, "--prepared-root", prepared, "--s1-clips", "2")
    proc = _run("bash", REPO / "train" / "gpu_campaign.sh", pack, out, "--tiny", "--cpu", "--work", work,
                "--only", "noaudio-noffl-lip", "--part-mib", "1")
    return {"pack": pack, "out": out, "work": work, "log": proc.stdout}


def test_pack_takes_the_configs_sources_and_leaves_held_out_sentences_behind(prepared, campaign) -> None:
    index = json.loads((campaign["pack"] / "pack.json").read_text())
    assert set(index["sources"]) == set(CLIPS)
    s1 = [c["clip_id"] for c in index["sources"]["grid_s1"]]
    assert len(s1) == 2 and all(c.startswith("grid_s1/video/") for c in s1)
    heldout = load_experiment(REPO / "train" / "configs" / "audio-ffl-lip.json").data.holdout_sentences
    assert not any(heldout.is_heldout(c.rsplit("/", 1)[-1]) for c in s1)
    vox = find_clip_shards(prepared / "voxceleb2")
    assert index["frames"] == sum(c["frames"] for clips in index["sources"].values() for c in clips)
    assert {c["clip_id"] for c in index["sources"]["voxceleb2"]} == set(vox)


def test_every_run_of_the_campaign_trains_and_is_exported(campaign) -> None:
    out, work = campaign["out"], campaign["work"]
    summary = json.loads((out / "campaign.json").read_text())
    assert set(summary["runs"]) == {"pretrain-noaudio", "noaudio-noffl-lip", "noaudio-noffl-lip@lip5"}
    assert all(r["exit"] == 0 for r in summary["runs"].values()), summary["runs"]
    assert {s["steps"] for s in summary["steps"].values()} == {3}
    # the archive was split (--part-mib 1) and nothing else was left beside it
    parts = sorted(out.glob("campaign.tar.gz.*"))
    assert len(parts) >= 2 and not (out / "weights").exists()

    dest = out.parent / "results"
    _run(sys.executable, DRIVER, "unpack-results", out / "campaign.tar.gz", dest)
    variant = load_generator("noaudio-noffl-lip", source=dest / "weights")
    assert variant.config.use_audio is False
    exp = load_experiment(dest / "weights" / "noaudio-noffl-lip" / "experiment.json")
    assert all(str(p).startswith(str(work / "prepared")) for p in exp.data.train)
    assert exp.init_from == str(work / "runs" / "pretrain-noaudio")
    sweep = load_experiment(dest / "sweeps" / "lip5" / "noaudio-noffl-lip" / "experiment.json")
    assert sweep.losses.lip_reading == pytest.approx(5 * exp.losses.lip_reading)
    assert sweep.to_dict()["optim"] == exp.to_dict()["optim"]
    assert (dest / "logs" / "noaudio-noffl-lip.log").is_file()


def test_the_unpacked_clips_are_what_the_trainer_read(prepared, campaign) -> None:
    unpacked = find_clip_shards(campaign["work"] / "prepared" / "grid_speakers")
    original = find_clip_shards(prepared / "grid_speakers")
    assert unpacked.keys() == original.keys()
    for cid in original:
        a, b = load_shard(original[cid]), load_shard(unpacked[cid])
        assert a.hr.shape == b.hr.shape and a.words == b.words
