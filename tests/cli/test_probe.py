"""``probe`` on real clips: what the pipeline sees (library call and formatting)."""
from __future__ import annotations

from pathlib import Path

import pytest

from vfhgan_core.cli.probe import format_probe, probe_clip
from vfhgan_core.faces.detection import DetectorConfig


@pytest.fixture(scope="module")
def det(detector_model: Path) -> DetectorConfig:
    return DetectorConfig(model_path=str(detector_model))


def test_grid_mpg_without_frame_count(data_dir: Path, det: DetectorConfig) -> None:
    report = probe_clip(str(data_dir / "grid_speakers" / "bbaf2n.mpg"), det)
    assert report["fps"] == pytest.approx(25.0)
    assert report["frame_count"] == pytest.approx(75, abs=1)
    assert (report["width"], report["height"]) == (360, 288)
    assert report["audio"]["duration"] == pytest.approx(report["duration"], abs=0.1)
    faces = report["faces"]
    assert faces["max_faces"] == 1 and faces["track_coverage"] > 0.95
    text = format_probe(report)
    assert "25.0 fps" in text and "track covers" in text


@pytest.mark.slow
def test_two_faces_are_reported(data_dir: Path, det: DetectorConfig) -> None:
    report = probe_clip(str(data_dir / "multi_face" / "interview.mp4"), det, max_seconds=3)
    assert report["faces"]["max_faces"] >= 2
    assert "faces are visible" in format_probe(report)


def test_clip_without_audio_says_so(data_dir: Path) -> None:
    report = probe_clip(str(data_dir / "no_audio" / "129.mp4"), None)
    assert report["audio"] is None and report["fps"] == pytest.approx(30.0)
    assert "faces" not in report
    assert "no audio stream" in format_probe(report)
