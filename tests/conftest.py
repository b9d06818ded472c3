"""Shared fixtures: where the real data and the test detector model live.

The data is read from ``../shared`` beside the repository (or ``$VFHGAN_SHARED``);
it is never copied into the repository.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# shared clips: fixtures defined in media_fixtures.py, registered here (the io tests' GRID clip and its
# re-encodings; a fixed face and mouth of speaker s1 for the mouth crop and the lip-reading loss)
from media_fixtures import grid, grid_frames, grid_speech, made, s1_face_crops  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VFHGAN_SHARED", REPO.parent / "shared")).resolve()
DATA = SHARED / "data"
DETECTOR_MODEL = SHARED / "models" / "scrfd_500m.onnx"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test data missing: {path} (clone the project with ../shared beside it "
                    "or set VFHGAN_SHARED)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``: the real talking-face clips."""
    return _require(DATA)


@pytest.fixture(scope="session")
def detector_model() -> Path:
    """``../shared/models/scrfd_500m.onnx``: the SCRFD detector used in tests."""
    return _require(DETECTOR_MODEL)


@pytest.fixture(scope="session")
def grid_clip(data_dir: Path) -> Path:
    """A GRID s1 clip (mp4, 25 fps, 3 s) with its word alignment beside it in ``align/``."""
    return data_dir / "grid_s1" / "video" / "bbaf2n.mp4"


@pytest.fixture(scope="session")
def prepare_grid_s1(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, detector_model: Path):
    """Factory: prepare the named GRID s1 clips into a new temporary folder and return it.

    Runs the real ``prepare`` (SCRFD at det size 320, one worker); fails if a clip is skipped.
    """
    from vfhgan_core.data.prepare import prepare_dataset
    from vfhgan_core.faces.clip import PipelineConfig
    from vfhgan_core.faces.detection import DetectorConfig

    def make(names: tuple[str, ...], tag: str = "prepared") -> Path:
        out = tmp_path_factory.mktemp(tag)
        config = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
        videos = [data_dir / "grid_s1" / "video" / f"{name}.mp4" for name in names]
        summary = prepare_dataset(videos, out, config, workers=1, progress=False)
        assert len(summary.ok) == len(names), [r.message for r in summary.skipped]
        return out

    return make


@pytest.fixture(scope="module")
def server(detector_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """``python app.py`` with two test variants (``app_fixtures``), one per test module; stopped after it."""
    from app_fixtures import start_test_app

    srv = start_test_app(detector_model, tmp_path_factory)
    yield srv
    srv.stop()
