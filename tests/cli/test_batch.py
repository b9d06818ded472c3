"""``enhance-batch``: many real videos, resumable, a killed run, and two processes under ``accelerate launch``."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vfhgan_core.cli.batch import REPORT_NAME, find_videos, launch_command, output_paths
from vfhgan_core.io import probe_video, read_video

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def videos(tmp_path: Path, data_dir: Path) -> Path:
    """Four real clips in a tree (GRID s1, another GRID speaker, a clip without audio) and a broken file."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("bbaf2n", "bbaf3s"):
        shutil.copy(data_dir / "grid_s1" / "video" / f"{name}.mp4", src)
    shutil.copy(data_dir / "grid_speakers" / "lbax4n.mpg", src / "sub")
    shutil.copy(data_dir / "no_audio" / "happy.mp4", src / "sub")
    (src / "sub" / "broken.mp4").write_text("not a video")
    (src / ".hidden").mkdir()
    shutil.copy(data_dir / "grid_s1" / "video" / "bbaf4p.mp4", src / ".hidden")   # left out: hidden folder
    return src


def _batch(src: Path, out: Path, *extra: str, launcher: list[str] | None = None, **popen) -> subprocess.Popen:
    cmd = [*(launcher or [sys.executable, "-m"]), "vfhgan_core", "enhance-batch", str(src), str(out),
           "--detector-model", str(REPO.parent / "shared" / "models" / "scrfd_500m.onnx"), "--quiet", *extra]
    env = dict(os.environ, VFHGAN_DETECTOR_MODEL="")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _run(src: Path, out: Path, *extra: str, launcher: list[str] | None = None, timeout: float = 300):
    proc = _batch(src, out, *extra, launcher=launcher)
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stdout, stderr


def _report(out: Path) -> dict:
    return json.loads((out / REPORT_NAME).read_text())


def test_finds_videos_and_mirrors_the_tree(videos: Path, tmp_path: Path) -> None:
    found = [str(p.relative_to(videos)) for p in find_videos(videos)]
    assert found == ["bbaf2n.mp4", "bbaf3s.mp4", "sub/broken.mp4", "sub/happy.mp4", "sub/lbax4n.mpg"]
    out = tmp_path / "out"
    main, comparison = output_paths(videos, out, videos / "sub" / "lbax4n.mpg", "simulate")
    assert main == out / "sub" / "lbax4n.mp4" and comparison == out / "sub" / "lbax4n_comparison.mp4"
    assert output_paths(videos, out, videos / "bbaf2n.mp4", "real") == (out / "bbaf2n.mp4", None)


def test_a_batch_restores_every_video_once_and_resumes(videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc, stdout, stderr = _run(videos, out, "--mode", "simulate")
    assert rc == 0, stderr[-2000:]
    report = _report(out)
    assert report["counts"] == {"done": 4, "skipped": 0, "failed": 1}
    items = {i["source"]: i for i in report["items"]}
    assert "not a video" in items["sub/broken.mp4"]["reason"]
    for src in ("bbaf2n.mp4", "bbaf3s.mp4", "sub/lbax4n.mpg", "sub/happy.mp4"):
        main, comparison = output_paths(videos, out, videos / src, "simulate")
        info = probe_video(main)
        assert info.frame_count == items[src]["frames"] > 0 and (info.width, info.height) == (128, 128)
        assert probe_video(comparison).frame_count == items[src]["frames"]
    assert report["frames_per_second"] > 0 and "4 done, 0 skipped, 1 failed" in stdout
    assert "failed sub/broken.mp4" in stdout

    # a rerun skips what is done and retries only the failure
    rc, stdout, _ = _run(videos, out, "--mode", "simulate")
    report = _report(out)
    assert report["counts"] == {"done": 0, "skipped": 4, "failed": 1}
    assert all("already done" in i["reason"] for i in report["items"] if i["status"] == "skipped")


def test_a_killed_run_leaves_nothing_taken_as_done(videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _batch(videos, out, "--mode", "real")
    first = out / "bbaf2n.mp4"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)                               # well into the second video's encoding, or before it
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the batch ended before it could be killed"
    # every visible output is a whole video; an interrupted one exists only as a hidden partial file
    for path in out.rglob("*.mp4"):
        if not path.name.startswith("."):
            assert probe_video(path).frame_count == 75, path
    rc, _, stderr = _run(videos, out, "--mode", "real")
    assert rc == 0, stderr[-2000:]
    report = _report(out)
    statuses = {i["source"]: i["status"] for i in report["items"]}
    assert statuses["bbaf2n.mp4"] == "skipped" and statuses["sub/broken.mp4"] == "failed"
    assert sorted(statuses.values()).count("done") + sorted(statuses.values()).count("skipped") == 4
    assert not [p for p in out.rglob(".*.part.mp4")], "the killed run's partial file was not removed"
    # real mode pastes the face back into the full frame (GRID's 360x288, upscaled where the face is small)
    info = probe_video(out / "bbaf3s.mp4")
    assert info.width >= 360 and info.height >= 288


def test_two_processes_under_accelerate_split_the_videos(videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # --multi_gpu is Accelerate's multi-process launcher; on a CPU-only machine it runs CPU processes (gloo)
    rc, stdout, stderr = _run(videos, out, "--mode", "real", launcher=launch_command(2))
    assert rc == 0, stderr[-3000:]
    report = _report(out)
    assert report["processes"] == 2
    sources = [i["source"] for i in report["items"]]
    assert sorted(sources) == sorted(set(sources)) and len(sources) == 5      # every video exactly once
    assert {i["process"] for i in report["items"]} == {0, 1}                   # both processes worked
    assert report["counts"] == {"done": 4, "skipped": 0, "failed": 1}
    assert stdout.count("4 done, 0 skipped, 1 failed") == 1                    # one report for the launch
    assert not (out / ".enhance_batch").exists()


def test_input_problems_are_refused_with_a_reason(videos: Path, tmp_path: Path) -> None:
    rc, _, stderr = _run(videos / "bbaf2n.mp4", tmp_path / "o")
    assert rc == 2 and "is not a folder" in stderr and "use enhance for one file" in stderr
    rc, _, stderr = _run(videos, videos / "out")
    assert rc == 2 and "lies inside the input folder" in stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, stderr = _run(empty, tmp_path / "o2")
    assert rc == 2 and "no video below" in stderr


def test_the_self_ensemble_is_applied_and_recorded(data_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(data_dir / "grid_speakers" / "lbax4n.mpg", src)
    outputs = {}
    for flag in ((), ("--self-ensemble",)):
        out = tmp_path / ("both" if flag else "plain")
        rc, _, stderr = _run(src, out, "--mode", "simulate", *flag)
        assert rc == 0, stderr[-2000:]
        report = _report(out)
        assert report["counts"]["done"] == 1 and report["self_ensemble"] is bool(flag)
        outputs[bool(flag)] = read_video(output_paths(src, out, src / "lbax4n.mpg", "simulate")[0]).frames
    assert outputs[True].shape == outputs[False].shape
    assert np.abs(outputs[True].astype(int) - outputs[False].astype(int)).mean() > 0.1
