"""The command line as a user runs it: ``python -m vfhgan_core ...`` in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vfhgan_core", *args], capture_output=True, text=True, timeout=timeout
    )


def test_probe_json(data_dir: Path, detector_model: Path) -> None:
    res = run_cli("probe", str(data_dir / "grid_s1" / "video" / "bbaf2n.mp4"), "--json",
                  "--detector-model", str(detector_model))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["fps"] == pytest.approx(25.0) and report["faces"]["max_faces"] == 1


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda d, t: d / "voxceleb2" / "Audio_Source_681600002.mp3", "not a video|no video"),
        (lambda d, t: t / "notes.txt", "not a video"),
        (lambda d, t: t / "missing.mp4", "no such file|not found|does not exist"),
    ],
)
def test_bad_input_is_one_clear_line(make, expect, data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    res = run_cli("probe", str(make(data_dir, tmp_path)), "--no-faces")
    assert res.returncode == 2
    assert res.stderr.startswith("error: ")
    assert "Traceback" not in res.stderr
    import re

    assert re.search(expect, res.stderr, re.I), res.stderr


def test_drawn_face_is_reported_as_found(data_dir: Path, detector_model: Path) -> None:
    """``yongen.mp4`` is an anime character: SCRFD finds its face, and probe says so plainly."""
    res = run_cli("probe", str(data_dir / "no_audio" / "yongen.mp4"), "--seconds", "2",
                  "--detector-model", str(detector_model), "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["audio"] is None
    assert report["faces"]["max_faces"] == 1 and report["faces"]["track_coverage"] > 0.9


def test_prepare_cli_reports_counts(data_dir: Path, detector_model: Path, tmp_path: Path) -> None:
    res = run_cli("prepare", str(data_dir / "grid_s1" / "video" / "bbaf2n.mp4"),
                  str(data_dir / "no_audio" / "fear.mp4"), "--out", str(tmp_path / "o"),
                  "--workers", "1", "--quiet", "--detector-model", str(detector_model))
    assert res.returncode == 0, res.stderr
    assert "1 clips ok, 1 skipped (no_audio: 1)" in res.stdout
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["ok"] == 1 and manifest["skipped"] == 1


@pytest.fixture(scope="module")
def faceless_clip(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A real GRID clip's plain background (top-left corner, no face) with its real speech."""
    from vfhgan_core.io import read_audio, read_video, write_video

    src = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    clip = read_video(src)
    out = tmp_path_factory.mktemp("faceless") / "background only.mp4"
    return write_video(out, clip.frames[:, :96, :96], 25, audio=read_audio(src))


def test_clip_without_face_is_skipped_with_reason(faceless_clip: Path, detector_model: Path, tmp_path: Path) -> None:
    res = run_cli("probe", str(faceless_clip), "--detector-model", str(detector_model), "--json")
    assert res.returncode == 0, res.stderr
    faces = json.loads(res.stdout)["faces"]
    assert faces["reason"] == "no_face" and "face" in faces["error"]
    res = run_cli("prepare", str(faceless_clip), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet",
                  "--detector-model", str(detector_model))
    assert res.returncode == 0, res.stderr
    assert "0 clips ok, 1 skipped (no_face: 1)" in res.stdout


def test_bench_json_lists_machine_and_rows() -> None:
    res = run_cli("bench", "--only", "bicubic", "--only", "generator", "--repeats", "2", "--batch-size", "4", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    text = json.dumps(report)
    assert "bicubic" in text and "threads" in text


def test_enhance_can_simulate_a_real_video_degradation(data_dir: Path, detector_model: Path, tmp_path: Path) -> None:
    clip = data_dir / "grid_speakers" / "lbax4n.mpg"
    out = tmp_path / "face.mp4"
    res = run_cli("enhance", str(clip), str(out), "--degrade", "blind", "--degrade-seed", "3", "--duration", "1",
                  "--detector-model", str(detector_model))
    assert res.returncode == 0, res.stderr
    assert "simulated input: the real-video chain, seed 3: " in res.stdout and " downsampling" in res.stdout
    assert out.is_file() and (tmp_path / "face_comparison.mp4").is_file()
    # the chain is the simulated input of simulate mode: real mode refuses it in one clear line
    refused = run_cli("enhance", str(clip), str(tmp_path / "real.mp4"), "--mode", "real", "--degrade", "blind",
                      "--detector-model", str(detector_model))
    assert refused.returncode == 2 and refused.stderr.startswith("error: ") and "--mode simulate" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "real.mp4").exists()
    hidden = run_cli("enhance", str(clip), str(tmp_path / "real.mp4"), "--mode", "real", "--occlude-mouth",
                     "--detector-model", str(detector_model))
    assert hidden.returncode == 2 and "--occlude-mouth" in hidden.stderr and "--mode simulate" in hidden.stderr
    assert "Traceback" not in hidden.stderr


def test_enhance_with_the_flip_self_ensemble(data_dir: Path, detector_model: Path, tmp_path: Path) -> None:
    clip = data_dir / "grid_speakers" / "lbax4n.mpg"
    res = run_cli("enhance", str(clip), str(tmp_path / "face.mp4"), "--mode", "real", "--self-ensemble",
                  "--duration", "1", "--detector-model", str(detector_model))
    assert res.returncode == 0, res.stderr
    assert "restored 25 frames (1.0 s of video) with audio-ffl-lip (flip self-ensemble: two passes a frame)" in res.stdout
    assert (tmp_path / "face.mp4").is_file()
