"""Restoration of real clips: windows, simulate/real modes, videos with audio, cancel."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.detection import DetectorConfig, load_face_detector
from vfhgan_core.io import probe_video, read_audio, read_video
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.pipelines.restore import (
    RESTORE_STAGES,
    RestoreCancelled,
    RestoreOptions,
    bicubic_x4,
    comparison_frame,
    comparison_panels,
    frame_windows,
    mouth_zooms,
    paste_scale,
    restore_clip,
    run_generator,
    write_comparison_video,
    write_face_video,
    write_pasted_video,
)


@pytest.fixture(scope="module")
def options(detector_model: Path) -> RestoreOptions:
    return RestoreOptions(pipeline=PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320)))


@pytest.fixture(scope="module")
def detector(options: RestoreOptions):
    return load_face_detector(options.pipeline.detector)


@pytest.fixture(scope="module")
def generators() -> dict[str, VFHGANGenerator]:
    torch.manual_seed(0)
    return {"audio": VFHGANGenerator(GeneratorConfig()).eval(),
            "noaudio": VFHGANGenerator(GeneratorConfig(use_audio=False)).eval()}


@pytest.fixture(scope="module")
def simulated(grid_clip: Path, generators, detector, options):
    stages = []
    result = restore_clip(grid_clip, generators, detector, options, progress=lambda s, f: stages.append((s, f)))
    return result, stages


def test_windows_are_centred_and_edge_padded() -> None:
    frames = torch.arange(6).float().view(6, 1, 1, 1)
    w = frame_windows(frames, 5)[..., 0, 0, 0]
    assert w.shape == (6, 5)
    assert w[0].tolist() == [0, 0, 0, 1, 2]
    assert w[3].tolist() == [1, 2, 3, 4, 5]
    assert w[5].tolist() == [3, 4, 5, 5, 5]


def test_simulate_restores_every_frame(simulated, grid_clip: Path) -> None:
    result, stages = simulated
    assert result.num_frames == 75 and result.fps == pytest.approx(25.0)
    assert result.lr.shape == (75, 32, 32, 3) and result.gt.shape == (75, 128, 128, 3)
    for name in ("audio", "noaudio"):
        assert result.sr[name].shape == (75, 128, 128, 3) and result.sr[name].dtype == np.uint8
    # an untrained generator predicts a zero residual: exactly the bicubic baseline
    assert np.abs(result.sr["noaudio"].astype(int) - result.bicubic.astype(int)).max() <= 1
    # the LR input really is the degraded ground truth
    assert np.abs(result.lr.astype(int) - result.gt[:, ::4, ::4].astype(int)).mean() < 25
    # every stage of the pipeline is reported, in order, each from its start to its end
    names = [s for s, _ in stages]
    assert sorted(set(names), key=names.index) == list(RESTORE_STAGES) == ["faces", "crops", "audio", "restore"]
    for stage in RESTORE_STAGES:
        fractions = [f for s, f in stages if s == stage]
        assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0), (stage, fractions)
    # the face pass reports after every chunk (75 frames in chunks of 64: 2 chunks), not just at its end
    assert len([f for s, f in stages if s == "faces" and 0 < f < 1]) >= 1


def test_simulate_mode_can_degrade_the_input_like_real_video(grid_clip: Path, generators, detector, options) -> None:
    from dataclasses import replace

    from vfhgan_core.data.degradations import DegradationConfig, degrade_clip

    chain = DegradationConfig(gaussian_noise_prob=1.0, gaussian_sigma=(8.0, 8.0), h264_prob=1.0, jpeg_prob=0.0)
    blind = replace(options, duration=1.0, simulated_degradation=chain, degradation_seed=5)
    result = restore_clip(grid_clip, {"noaudio": generators["noaudio"]}, detector, blind)
    clean = restore_clip(grid_clip, {"noaudio": generators["noaudio"]}, detector, replace(options, duration=1.0))
    np.testing.assert_array_equal(result.gt, clean.gt)
    assert result.degradation is not None and result.degradation.gaussian_sigma == 8.0 and clean.degradation is None
    # the input is the ground truth degraded by that one fixed draw, and noisier than the clean input
    np.testing.assert_array_equal(result.lr, degrade_clip(result.gt, chain, seed=5)[0])
    assert np.abs(result.lr.astype(int) - clean.lr.astype(int)).mean() > 3
    with pytest.raises(ValueError, match="only applies in simulate mode"):
        replace(options, mode="real", simulated_degradation=chain)


def test_simulate_mode_can_hide_the_mouth_of_the_input(grid_clip: Path, generators, detector, options) -> None:
    from dataclasses import replace

    from vfhgan_core.data.degradations import occlude_mouth

    hidden = restore_clip(grid_clip, {"noaudio": generators["noaudio"]}, detector,
                          replace(options, duration=1.0, occlude_mouth=True))
    clean = restore_clip(grid_clip, {"noaudio": generators["noaudio"]}, detector, replace(options, duration=1.0))
    np.testing.assert_array_equal(hidden.gt, clean.gt)
    np.testing.assert_array_equal(hidden.lr, occlude_mouth(clean.lr, clean.clip.mouth_boxes, 4))
    assert not np.array_equal(hidden.lr, clean.lr)
    with pytest.raises(ValueError, match="only applies in simulate mode"):
        replace(options, mode="real", occlude_mouth=True)


def test_the_flip_self_ensemble_restores_a_mirrored_face_as_the_mirror_image(simulated) -> None:
    """``self_ensemble``: the shipped full model restores the mirrored input and averages it back in.
    Mirroring the clip then mirrors the restoration exactly (the plain pass does not), and each
    window's output is the mean of the two passes."""
    from vfhgan_core.weights.hub import load_generator

    result, _ = simulated
    gen = load_generator("audio-ffl-lip")
    lr, mel = result.lr[:16], result.clip.mel_windows[:16]
    mirrored = np.ascontiguousarray(lr[:, :, ::-1])
    both = run_generator(gen, lr, mel, self_ensemble=True)
    both_mirrored = run_generator(gen, mirrored, mel, self_ensemble=True)
    assert np.abs(both_mirrored[:, :, ::-1].astype(int) - both.astype(int)).max() <= 1
    plain = run_generator(gen, lr, mel)
    plain_mirrored = run_generator(gen, mirrored, mel)
    assert np.abs(plain_mirrored[:, :, ::-1].astype(int) - plain.astype(int)).mean() > 0.2
    expected = (plain.astype(np.float32) + plain_mirrored[:, :, ::-1].astype(np.float32)) / 2
    assert np.abs(both.astype(np.float32) - expected).max() <= 1.0


def test_comparison_and_face_videos_keep_audio(simulated, grid_clip: Path, tmp_path: Path) -> None:
    result, _ = simulated
    frame = comparison_frame(result, 10)
    assert frame.shape == (128, 128 * 5, 3)  # LR | bicubic | 2 variants | GT
    cmp_path = write_comparison_video(result, tmp_path / "cmp.mp4")
    face_path = write_face_video(result, "audio", tmp_path / "face.mp4")
    source_audio = read_audio(grid_clip)
    for path, width in ((cmp_path, 640), (face_path, 128)):
        info = probe_video(path)
        assert info.frame_count == 75 and info.fps == pytest.approx(25.0)
        assert (info.width, info.height) == (width, 128)
        assert info.audio is not None and info.audio.duration == pytest.approx(3.0, abs=0.05)
        audio = read_audio(path)
        n = min(len(audio), len(source_audio))
        assert np.corrcoef(audio[:n], source_audio[:n])[0, 1] > 0.9


def test_real_mode_pastes_into_upscaled_frames(grid_clip: Path, generators, detector, options, tmp_path: Path) -> None:
    real = RestoreOptions(mode="real", duration=1.0, pipeline=options.pipeline)
    result = restore_clip(grid_clip, {"audio": generators["audio"]}, detector, real)
    assert result.gt is None and result.num_frames == 25
    scale = paste_scale(result)
    assert 1.0 <= scale <= 4.0
    out = write_pasted_video(result, "audio", grid_clip, tmp_path / "real.mp4", real)
    info = probe_video(out)
    assert info.frame_count == 25 and info.audio is not None
    assert info.width == int(round(360 * scale)) // 2 * 2
    # away from the face, the output is the source frame upscaled
    src = read_video(grid_clip, duration=1.0).frames[0]
    got = read_video(out).frames[0]
    import cv2

    expect = cv2.resize(src, (got.shape[1], got.shape[0]), interpolation=cv2.INTER_CUBIC)
    assert np.abs(got[:20, :20].astype(int) - expect[:20, :20].astype(int)).mean() < 6


def test_cancel_stops_between_batches(grid_clip: Path, generators, detector, options) -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(RestoreCancelled):
        restore_clip(grid_clip, generators, detector, options, should_stop=stop)


def test_cancel_stops_inside_the_face_pass(grid_clip: Path, generators, detector, options) -> None:
    stages = []
    pipeline = PipelineConfig(detector=options.pipeline.detector, chunk_frames=16)
    small_chunks = RestoreOptions(pipeline=pipeline)
    # asked to stop as soon as the first chunk of 16 frames has been searched for faces
    with pytest.raises(RestoreCancelled):
        restore_clip(grid_clip, generators, detector, small_chunks,
                     progress=lambda s, f: stages.append((s, f)), should_stop=lambda: len(stages) > 1)
    assert [s for s, _ in stages] == ["faces", "faces"]
    assert stages[-1][1] < 0.5  # stopped after 16 of 75 frames


def test_mouth_zooms_cut_the_same_pixels_from_every_panel(simulated) -> None:
    result, _ = simulated
    zooms = mouth_zooms(result, 30, zoom=3)
    panels = dict(comparison_panels(result))
    assert [name for name, _ in zooms] == list(panels)
    shapes = {z.shape for _, z in zooms}
    assert len(shapes) == 1
    h, w, _ = shapes.pop()
    assert h % 12 == 0 and w % 12 == 0  # whole LR pixels (4 px at 128), each repeated 3 times
    x1, y1, x2, y2 = result.clip.mouth_boxes[30]
    assert w // 3 >= x2 - x1 and h // 3 >= y2 - y1  # the whole mouth box is inside
    gt_zoom = dict(zooms)["ground truth"]
    # nearest-neighbour enlargement: every 3x3 block is one source pixel
    assert np.array_equal(gt_zoom[::3, ::3].repeat(3, 0).repeat(3, 1), gt_zoom)
    # and the source pixels are the ground truth's own, inside the mouth region
    y0, x0 = int(np.floor(max(0, y1 - 2) / 4) * 4), int(np.floor(max(0, x1 - 2) / 4) * 4)
    assert np.array_equal(gt_zoom[::3, ::3], result.gt[30, y0:y0 + h // 3, x0:x0 + w // 3])
    lr_zoom = dict(zooms)["LR 32x32"]
    assert np.array_equal(lr_zoom[::12, ::12], result.lr[30, y0 // 4:y0 // 4 + h // 12, x0 // 4:x0 // 4 + w // 12])
    with pytest.raises(IndexError):
        mouth_zooms(result, result.num_frames)


def test_bicubic_baseline_shape() -> None:
    lr = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    assert bicubic_x4(lr).shape == (3, 128, 128, 3)
