"""The frequency-loss lab on a real face: two networks, the same start, one loss apart."""
from __future__ import annotations

import json
import sys
import threading

import numpy as np
import pytest
import torch

from vfhgan_core.errors import LabCancelled, LabSettingsError
from vfhgan_core.faces.clip import PipelineConfig, extract_face_clip
from vfhgan_core.faces.detection import DetectorConfig, load_face_detector
from vfhgan_core.pipelines.frequency_lab import ARMS, FrequencyLabConfig, run_frequency_lab

PIXEL, FFL = ARMS


@pytest.fixture(scope="module")
def face(data_dir, detector_model) -> np.ndarray:
    """Two consecutive 128×128 face crops from an HDTF clip (a 512×512 source: real fine detail)."""
    config = DetectorConfig(model_path=str(detector_model))
    clip = extract_face_clip(str(data_dir / "hdtf" / "RD_Radio2_000.mp4"), load_face_detector(config),
                             PipelineConfig(detector=config), start=1.0, duration=0.1, require_audio=False)
    assert clip.hr.shape[1:] == (128, 128, 3)
    return clip.hr[:2]


def _last(frames, config):
    snaps = list(run_frequency_lab(frames, config))
    return snaps, snaps[-1]


def test_snapshots_follow_the_steps_and_both_networks_start_equal(face):
    snaps, last = _last(face[0], FrequencyLabConfig(steps=120, snapshot_every=50))
    assert [s.step for s in snaps] == [0, 50, 100, 120]
    assert [s.done for s in snaps] == [False, False, False, True]
    first = snaps[0]
    np.testing.assert_array_equal(first.outputs[PIXEL], first.outputs[FFL])
    np.testing.assert_array_equal(first.band_error_db[PIXEL], first.band_error_db[FFL])
    assert last.history.steps == [0, 50, 100, 120]
    assert all(len(v) == 4 for v in last.history.psnr_y.values())
    assert last.target.shape == (128, 128, 3) and last.lr.shape == (32, 32, 3)
    assert last.focal_weights.shape == (128, 128)
    # the mean of the three channels' weights, each of which is 1 at its own worst frequency
    assert 0.0 <= last.focal_weights.min() and 0.5 < last.focal_weights.max() <= 1.0
    # both networks learn: far above bicubic after 120 steps, and better than at their start
    for arm in ARMS:
        assert last.psnr_y[arm] > last.bicubic_psnr_y + 2.0
        assert last.psnr_y[arm] > first.psnr_y[arm] + 2.0


def test_low_bands_are_learnt_first(face):
    """Spectral bias: after training, the error grows with frequency, and the bands above the
    input's Nyquist limit, where bicubic knows nothing, improve least in absolute level."""
    _, last = _last(face[0], FrequencyLabConfig(steps=400, loss_weight=0.0))
    err = last.band_error_db[PIXEL]
    assert err[0] < err[1] < err[2] < err[3]
    assert err[0] < last.high_band_error_db(PIXEL) - 20.0
    # yet every band gained over bicubic
    assert np.all(err < last.bicubic_band_error_db)


def test_without_the_frequency_loss_the_two_networks_are_identical(face):
    _, last = _last(face, FrequencyLabConfig(steps=60, loss_weight=0.0, snapshot_every=30))
    np.testing.assert_array_equal(last.outputs[PIXEL], last.outputs[FFL])
    assert last.history.psnr_y[PIXEL] == last.history.psnr_y[FFL]


def test_the_frequency_loss_changes_the_high_band_after_the_same_steps(face):
    """The measured effect of the focal weights (defaults: α 1, β 1) on a real frame: the two
    networks part in the bands above the input's Nyquist limit. The direction is reported in the
    README (the pixel-only network is ahead on faces); here only that the loss matters."""
    snaps, last = _last(face[0], FrequencyLabConfig(steps=1000, snapshot_every=250))
    gap = last.high_band_error_db(FFL) - last.high_band_error_db(PIXEL)
    assert abs(gap) > 0.3, f"high-band error differs by only {gap:+.3f} dB"
    assert not np.array_equal(last.outputs[PIXEL], last.outputs[FFL])
    # the FFL network's weight map moved with its error: not the same at the start and the end
    assert np.abs(snaps[0].focal_weights - last.focal_weights).max() > 0.1


def test_a_run_is_reproducible_and_leaves_the_caller_alone(face):
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    config = FrequencyLabConfig(steps=40, snapshot_every=20, alpha=2.0, log_matrix=True, patch_factor=2)
    _, a = _last(face, config)
    assert torch.rand(1) == expected_next          # the caller's random stream is untouched
    assert torch.get_num_threads() == threads      # and so is its thread count
    _, b = _last(face, config)
    for arm in ARMS:
        np.testing.assert_array_equal(a.band_error_db[arm], b.band_error_db[arm])
    assert a.focal_weights.shape == (64, 64)       # one patch of the 2 × 2 grid
    assert a.frames == 2


def test_labs_started_at_once_in_threads_start_from_the_same_weights(face):
    """Two app visitors' labs run in one process: their seeded starts must not interleave (a race seen once in
    tests/app/test_app_lab.py, and 6 times in 80 here before the lab drew its weights from a private generator)."""
    config = FrequencyLabConfig(steps=1, snapshot_every=1)
    expected = next(iter(run_frequency_lab(face, config))).outputs
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)                      # switch threads as often as the interpreter can
    try:
        for _ in range(15):
            starts: dict[int, dict] = {}
            workers = [threading.Thread(target=lambda k=k: starts.__setitem__(
                k, next(iter(run_frequency_lab(face, config))).outputs)) for k in range(3)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            for outputs in starts.values():
                for arm in ARMS:
                    np.testing.assert_array_equal(outputs[arm], expected[arm])
    finally:
        sys.setswitchinterval(interval)


def test_summary_is_plain_json_with_every_band(face):
    _, last = _last(face[0], FrequencyLabConfig(steps=20, snapshot_every=10, n_bands=4))
    summary = json.loads(json.dumps(last.summary(), allow_nan=False))
    assert summary["finished"] is True and summary["steps_done"] == 20
    assert [b["low"] for b in summary["bands"]] == [0.0, 0.125, 0.25, 0.375]
    assert set(summary["band_error_db"]) == {PIXEL, FFL, "bicubic"}
    assert all(len(v) == 4 for v in summary["band_error_db"].values())
    assert summary["high_band_start"] == 0.125
    assert summary["curves"]["step"] == [0, 10, 20]
    assert summary["high_band_error_db"][PIXEL] == pytest.approx(np.mean(summary["band_error_db"][PIXEL][1:]), abs=2e-3)
    # one band (below Nyquist): no high band to average, and still valid JSON
    _, one = _last(face[0], FrequencyLabConfig(steps=2, n_bands=1))
    assert json.loads(json.dumps(one.summary(), allow_nan=False))["high_band_error_db"][PIXEL] is None


def test_stopping_raises_between_steps(face):
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 15

    seen = []
    with pytest.raises(LabCancelled, match="stopped at step 15 of 100"):
        for snap in run_frequency_lab(face[0], FrequencyLabConfig(steps=100, snapshot_every=10), should_stop=stop):
            seen.append(snap.step)
    assert seen == [0, 10]


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps must be"),
    (dict(patch_factor=3), "patch_factor must be 1, 2, 4 or 8"),
    (dict(alpha=-1.0), "alpha"),
    (dict(loss_weight=-0.5), "frequency loss weight"),
    (dict(degradation="nearest"), "degradation must be one of"),
])
def test_bad_settings_say_what_is_allowed(kwargs, message):
    with pytest.raises(LabSettingsError, match=message):
        FrequencyLabConfig(**kwargs)


def test_bad_frames_say_what_is_expected(face):
    with pytest.raises(LabSettingsError, match="uint8"):
        next(run_frequency_lab(face.astype(np.float32)))
    with pytest.raises(LabSettingsError, match="1 to 8 frames"):
        next(run_frequency_lab(np.repeat(face, 5, axis=0)))
    with pytest.raises(LabSettingsError, match="cannot be shrunk"):
        next(run_frequency_lab(face[:, :126, :126]))
