"""The inference facade on real clips: one object loads once and restores, writes and reports one progress bar."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.detection import DetectorConfig
from vfhgan_core.io import probe_video, read_video
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.pipelines.face_restorer import FaceRestorer, JobProgress
from vfhgan_core.pipelines.restore import RestoreOptions, restore_clip, write_face_video

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def detector_config(detector_model: Path) -> DetectorConfig:
    return DetectorConfig(model_path=str(detector_model), det_size=320)


@pytest.fixture(scope="module")
def restorer(detector_config: DetectorConfig) -> FaceRestorer:
    return FaceRestorer.load("noaudio-noffl-nolip", str(REPO / "assets" / "weights"), detector_config)


def test_job_progress_is_one_monotonic_bar_over_the_stages_and_writers() -> None:
    seen = []
    bar = JobProgress(lambda stage, f: seen.append(f), ["encode_comparison", "encode_face"])
    for stage in ("faces", "crops", "audio", "restore", "encode_comparison", "encode_face"):
        for f in (0.0, 0.5, 1.0):
            bar(stage, f)
    bar("faces", 0.2)                                   # a late report never moves the bar back
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == pytest.approx(1.0)
    assert bar.spans["faces"][1] > 0.5                  # face detection dominates on a CPU
    lo, hi = bar.spans["encode_comparison"]
    assert hi - lo == pytest.approx(bar.spans["encode_face"][1] - bar.spans["encode_face"][0])


def test_enhance_restores_and_writes_like_the_parts(restorer: FaceRestorer, grid_clip: Path, detector_config,
                                                    tmp_path: Path) -> None:
    options = RestoreOptions(duration=1.0, pipeline=PipelineConfig(detector=detector_config))
    bar = []
    result, videos = restorer.enhance(grid_clip, tmp_path / "face.mp4", options, comparison=tmp_path / "cmp.mp4",
                                      progress=lambda stage, f: bar.append((stage, f)))
    assert restorer.variants == ["noaudio-noffl-nolip"]
    assert videos.main == tmp_path / "face.mp4" and videos.comparison == tmp_path / "cmp.mp4"
    assert probe_video(videos.main).frame_count == 25 and probe_video(videos.comparison).width == 128 * 4
    fractions = [f for _, f in bar]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert [s for s, _ in bar][-1] == "encode_face"     # the main video comes last
    # the same frames as the library's own functions with the same generator and options
    parts = restore_clip(grid_clip, restorer.generators, restorer.detector, options)
    np.testing.assert_array_equal(parts.sr["noaudio-noffl-nolip"], result.sr["noaudio-noffl-nolip"])
    write_face_video(parts, "noaudio-noffl-nolip", tmp_path / "parts.mp4")
    np.testing.assert_array_equal(read_video(tmp_path / "parts.mp4").frames, read_video(videos.main).frames)


def test_real_mode_writes_the_pasted_frame_and_no_comparison_unless_asked(restorer: FaceRestorer, grid_clip: Path,
                                                                          detector_config, tmp_path: Path) -> None:
    options = RestoreOptions(mode="real", duration=0.4, pipeline=PipelineConfig(detector=detector_config))
    result, videos = restorer.enhance(grid_clip, tmp_path / "real.mp4", options)
    assert videos.comparison is None and result.gt is None
    info = probe_video(videos.main)
    assert info.frame_count == 10 and info.width > 128


def test_a_restorer_needs_a_generator_and_writes_only_restored_variants(restorer: FaceRestorer, grid_clip: Path,
                                                                        detector_config, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one generator"):
        FaceRestorer({}, restorer.detector)
    torch.manual_seed(0)
    two = FaceRestorer({"a": VFHGANGenerator(GeneratorConfig(use_audio=False)).eval(),
                        **restorer.generators}, restorer.detector)
    options = RestoreOptions(duration=0.4, pipeline=PipelineConfig(detector=detector_config))
    result = two.restore(grid_clip, options)
    assert set(result.sr) == {"a", "noaudio-noffl-nolip"}
    with pytest.raises(ValueError, match="not among the restored variants"):
        two.write(result, tmp_path / "x.mp4", grid_clip, options, variant="b")
    assert two.write(result, tmp_path / "b.mp4", grid_clip, options, variant="noaudio-noffl-nolip").main.is_file()
