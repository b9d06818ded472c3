"""``prepare`` end to end on real clips: shards, manifest, resume, bad files."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vfhgan_core.data.prepare import discover_sources, prepare_dataset
from vfhgan_core.data.shards import load_shard
from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.detection import DetectorConfig

GRID = ("bbaf2n", "bbaf3s", "bbaf4p")


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A small GRID-like tree (video/ + align/) plus clips that must be skipped."""
    root = tmp_path_factory.mktemp("src") / "mini set"
    (root / "video").mkdir(parents=True)
    (root / "align").mkdir()
    for name in GRID:
        os.symlink(data_dir / "grid_s1" / "video" / f"{name}.mp4", root / "video" / f"{name}.mp4")
        shutil.copy(data_dir / "grid_s1" / "align" / f"{name}.align", root / "align")
    os.symlink(data_dir / "grid_speakers" / "lbax4n.mpg", root / "video" / "lbax4n.mpg")
    os.symlink(data_dir / "no_audio" / "happy.mp4", root / "video" / "silent.mp4")
    (root / "video" / "notes.mp4").write_text("this is a text file, not a video\n")
    real = (data_dir / "grid_s1" / "video" / "bbaf5a.mp4").read_bytes()
    (root / "video" / "truncated.mp4").write_bytes(real[: len(real) // 10])
    return root


@pytest.fixture(scope="module")
def config(detector_model: Path) -> PipelineConfig:
    return PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))


def test_discover_gives_unique_ids_and_alignments(source_tree: Path) -> None:
    clips = {c.clip_id: c for c in discover_sources([source_tree])}
    assert "mini_set/video/bbaf2n" in clips
    assert clips["mini_set/video/bbaf2n"].align.name == "bbaf2n.align"
    assert clips["mini_set/video/lbax4n"].align is None
    with pytest.raises(FileNotFoundError, match="nowhere"):
        discover_sources([source_tree / "nowhere"])


@pytest.mark.slow
def test_prepare_writes_shards_manifest_and_resumes(source_tree: Path, config: PipelineConfig, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = prepare_dataset([source_tree], out, config, workers=2, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    by_id = {c["clip_id"].split("/")[-1]: c for c in manifest["clips"]}
    assert len(by_id) == 7
    for name in (*GRID, "lbax4n"):
        assert by_id[name]["status"] == "ok", by_id[name]
    assert by_id["silent"]["reason"] == "no_audio"
    assert by_id["notes"]["reason"] == "not_a_video"
    assert by_id["truncated"]["reason"] in {"corrupt", "not_a_video"}
    for name in ("silent", "notes", "truncated"):
        assert by_id[name]["status"] == "skipped" and by_id[name]["message"]
    assert summary.frames_per_second > 0

    shard = load_shard(out / by_id["bbaf2n"]["shard"])
    t = shard.num_frames
    assert t == 75 and shard.hr.shape == (75, 128, 128, 3) and shard.hr.dtype == np.uint8
    np.testing.assert_allclose(np.diff(shard.timestamps), 0.04, atol=1e-6)
    assert shard.mel_windows.shape == (75, 1, 80, 16)
    assert shard.meta["fps"] == pytest.approx(25.0)
    assert [w[0] for w in shard.words][:3] == ["sil", "bin", "blue"]
    assert shard.meta["detector"] and shard.meta["frames_interpolated"] >= 0
    # mouth boxes inside the crop, around the mouth keypoints, below the nose
    boxes, kps = shard.mouth_boxes, shard.keypoints
    assert np.all(boxes >= 0) and np.all(boxes <= 128)
    assert np.all(boxes[:, 0] <= kps[:, 3, 0]) and np.all(boxes[:, 2] >= kps[:, 4, 0])
    assert np.all(kps[:, 2, 1] < (boxes[:, 1] + boxes[:, 3]) / 2)
    # mpg without frame count in the container: every frame decoded and cropped
    mpg = load_shard(out / by_id["lbax4n"]["shard"])
    assert mpg.num_frames == 75 and mpg.meta["words"] == []

    # resume: nothing is redone
    again = prepare_dataset([source_tree], out, config, workers=2, progress=False)
    assert again.processed == 0 and again.reused == 7
    # runs that reuse the folder at the same time (two evaluations sharing a cache) do not clash
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: prepare_dataset([source_tree], out, config, workers=1, progress=False),
                             range(8)))
    assert all(r.processed == 0 and r.reused == 7 for r in runs)
    assert not list(out.glob(".*.tmp"))

    # a source whose time changed but whose content did not (a copy, re-provisioned data) is
    # still done; one whose content changed, at the same size, is redone
    notes, truncated = source_tree / "video" / "notes.mp4", source_tree / "video" / "truncated.mp4"
    os.utime(notes, (notes.stat().st_atime, notes.stat().st_mtime + 3600))
    data = truncated.read_bytes()
    truncated.write_bytes(data[:100] + bytes(255 - b for b in data[100:200]) + data[200:])
    touched = prepare_dataset([source_tree], out, config, workers=1, progress=False)
    assert touched.processed == 1 and touched.reused == 6
    assert all(len(json.loads(line)["source_sha256"]) == 64
               for line in (out / "manifest.jsonl").read_text().splitlines())

    # an interrupted write (left-over temporary file) and a damaged shard are redone
    damaged = out / by_id["bbaf3s"]["shard"]
    damaged.write_bytes(damaged.read_bytes()[:1000])
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    (damaged.parent / f".{damaged.name}.{int(finished.stdout)}.tmp").write_bytes(b"partial")
    # ... but a temporary file that a running prepare (here: our parent process) is
    # still writing is left alone
    busy = damaged.parent / f".other.npz.{os.getppid()}.tmp"
    busy.write_bytes(b"being written")
    third = prepare_dataset([source_tree], out, config, workers=1, progress=False)
    assert third.processed == 1 and third.reused == 6
    assert load_shard(damaged).num_frames == 75
    assert list(damaged.parent.glob(".*.tmp")) == [busy]  # (tests/data/test_shards.py: which are kept)


def test_other_settings_in_same_folder_are_refused(source_tree: Path, config: PipelineConfig, tmp_path: Path) -> None:
    from vfhgan_core.errors import VFHGANError

    out = tmp_path / "o"
    prepare_dataset([source_tree / "video" / "notes.mp4"], out, config, workers=1, progress=False)
    other = PipelineConfig(detector=config.detector, detect_every=5)
    with pytest.raises(VFHGANError, match="other settings"):
        prepare_dataset([source_tree / "video" / "notes.mp4"], out, other, workers=1, progress=False)


def test_folder_prepared_before_a_setting_existed_is_reused(source_tree: Path, config: PipelineConfig,
                                                             tmp_path: Path) -> None:
    from vfhgan_core.errors import VFHGANError

    out = tmp_path / "o"
    clip = source_tree / "video" / "notes.mp4"
    first = prepare_dataset([clip], out, config, workers=1, progress=False)
    # as an older version wrote it: without two settings that exist now
    saved = json.loads((out / "prepare_config.json").read_text())
    del saved["pipeline"]["chunk_frames"], saved["pipeline"]["detector"]["download_timeout"]
    (out / "prepare_config.json").write_text(json.dumps(saved))
    again = prepare_dataset([clip], out, config, workers=1, progress=False)
    assert again.processed == 0 and again.reused == first.processed
    rewritten = json.loads((out / "prepare_config.json").read_text())
    assert rewritten["pipeline"]["chunk_frames"] == config.chunk_frames
    # a missing setting means its default, so asking for another value is refused
    (out / "prepare_config.json").write_text(json.dumps(saved))
    with pytest.raises(VFHGANError, match="other settings"):
        prepare_dataset([clip], out, PipelineConfig(detector=config.detector, chunk_frames=config.chunk_frames + 1),
                        workers=1, progress=False)
    # settings this version does not know are refused too
    saved["pipeline"]["from_the_future"] = 1
    (out / "prepare_config.json").write_text(json.dumps(saved))
    with pytest.raises(VFHGANError, match="other settings"):
        prepare_dataset([clip], out, config, workers=1, progress=False)
