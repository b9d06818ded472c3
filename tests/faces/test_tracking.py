"""One face track per clip: linking, choice among several faces, gaps, smoothing, on real clips."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from media_fixtures import read_frames
from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.errors import NoFaceError
from vfhgan_core.faces.detection import ScrfdDetector
from vfhgan_core.faces.tracking import (
    FaceTrack,
    TrackConfig,
    build_face_track,
    choose_detect_every,
    detect_face_track,
)


def chunks(frames: np.ndarray, size: int):
    for start in range(0, len(frames), size):
        yield frames[start : start + size]


def centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


@pytest.fixture(scope="module")
def detector(detector_model: Path) -> ScrfdDetector:
    return ScrfdDetector(detector_model, det_size=320)


@pytest.fixture(scope="module")
def grid_frames(grid_clip: Path) -> np.ndarray:
    return read_frames(grid_clip, 75)


@pytest.fixture(scope="module")
def grid_detections(detector, grid_frames):
    return [detector.detect(frame) for frame in grid_frames]


def test_grid_track_full_coverage_and_less_jitter(detector, grid_frames, grid_detections):
    track = detect_face_track(chunks(grid_frames, 16), detector)
    assert track.num_frames == 75 and track.frame_size == (360, 288)
    assert track.coverage == 1.0 and track.detected.all() and track.num_interpolated == 0
    assert track.max_faces == 1 and track.detector == "scrfd" and track.issues() == []
    assert track.boxes.dtype == np.float32 and track.keypoints.shape == (75, 5, 2)
    assert track.scores.min() > 0.5
    raw = np.stack([faces[0].center for faces in grid_detections])
    smooth = centres(track.boxes)
    # jitter (frame-to-frame acceleration) is much smaller, and the track stays on the face
    raw_jitter = np.diff(raw, 2, axis=0).std(axis=0)
    smooth_jitter = np.diff(smooth, 2, axis=0).std(axis=0)
    assert np.all(smooth_jitter < 0.5 * raw_jitter)
    assert np.all(np.diff(smooth, axis=0).std(axis=0) < 0.8 * np.diff(raw, axis=0).std(axis=0))
    assert np.abs(smooth - raw).mean() < 1.0
    raw_width = np.array([faces[0].width for faces in grid_detections])
    assert np.diff(track.face_widths).std() < 0.5 * np.diff(raw_width).std()


def test_smoothing_follows_real_motion_without_lag(detector, grid_frames, grid_detections):
    # the GRID frames moved left and right (30 px sine, 1.6 s period: faster than a nodding head)
    shift = 30 * np.sin(2 * np.pi * np.arange(len(grid_frames)) / 40)
    moved = np.stack(
        [
            cv2.warpAffine(f, np.float32([[1, 0, s], [0, 1, 0]]), (360, 288), borderMode=cv2.BORDER_REPLICATE)
            for f, s in zip(grid_frames, shift)
        ]
    )
    still = build_face_track(grid_detections, (360, 288))
    track = detect_face_track(chunks(moved, 25), detector)
    error = centres(track.boxes)[:, 0] - (centres(still.boxes)[:, 0] + shift)
    assert np.abs(error).mean() < 1.0 and np.abs(error).max() < 2.5
    # no lag: the error does not correlate with the velocity
    velocity = np.gradient(shift)
    assert abs(np.corrcoef(error, velocity)[0, 1]) < 0.5


def test_missing_detections_are_interpolated(grid_detections):
    full = build_face_track(grid_detections, (360, 288))
    dropped = list(range(20, 28)) + [40, 41, 55]
    gappy = [[] if t in dropped else faces for t, faces in enumerate(grid_detections)]
    gappy[0] = []  # the first frame too: held from the first detection
    dropped = [0] + dropped
    track = build_face_track(gappy, (360, 288))
    assert not track.detected[dropped].any() and track.detected.sum() == 75 - len(dropped)
    assert track.num_interpolated == len(dropped)
    assert track.coverage == pytest.approx((75 - len(dropped)) / 75)
    assert np.all(track.scores[dropped] == 0) and np.all(track.scores[track.detected] > 0)
    assert np.abs(track.boxes[dropped] - full.boxes[dropped]).max() < 3.0
    assert np.abs(track.keypoints[dropped] - full.keypoints[dropped]).max() < 3.0
    # a gap longer than max_gap: the face found again in the same place is the same face
    lost = list(range(30, 50))
    long_gap = [[] if t in lost else faces for t, faces in enumerate(grid_detections)]
    rejoined = build_face_track(long_gap, (360, 288), TrackConfig(max_gap=5))
    assert rejoined.detected.sum() == 75 - len(lost)
    assert np.abs(rejoined.boxes[lost] - full.boxes[lost]).max() < 6.0


def test_detect_every_and_chunking(detector, grid_frames, grid_detections):
    every = build_face_track(grid_detections, (360, 288))
    sparse = detect_face_track(chunks(grid_frames, 7), detector, detect_every=4)
    checked = np.flatnonzero(sparse.checked)
    assert list(checked) == list(range(0, 75, 4)) + [74]  # the last frame is always checked
    assert sparse.coverage == 1.0 and sparse.num_interpolated == 0
    assert np.all(sparse.faces_per_frame == 1)  # unchecked frames repeat the last count
    assert np.abs(sparse.boxes - every.boxes).max() < 3.0
    # the chunk size does not change the result; single frames (H, W, 3) work too
    in_chunks = detect_face_track(chunks(grid_frames[:20], 6), detector)
    one_by_one = detect_face_track(iter(grid_frames[:20]), detector)
    np.testing.assert_array_equal(in_chunks.boxes, one_by_one.boxes)
    np.testing.assert_array_equal(in_chunks.boxes, build_face_track(grid_detections[:20], (360, 288)).boxes)


def test_choose_detect_every():
    assert choose_detect_every(75) == 1
    assert choose_detect_every(1500) == 1
    assert choose_detect_every(3000) == 2
    assert choose_detect_every(10**6) == 5


@pytest.mark.slow
def test_interview_tracks_one_person(detector, data_dir):
    frames = read_frames(data_dir / "multi_face" / "interview.mp4", 75, step=2)  # 6 s
    track = detect_face_track(chunks(frames, 25), detector, detect_every=2)
    assert track.max_faces >= 2
    assert np.mean(track.faces_per_frame >= 2) > 0.8
    assert any("faces are visible" in note for note in track.issues())
    x = centres(track.boxes)[:, 0]
    # both people are about 180 px wide and 480 px apart: the track never crosses to the other one
    assert x.max() - x.min() < 0.5 * track.median_face_width
    assert np.all(x < 640) or np.all(x > 640)
    assert track.coverage > 0.9


@pytest.mark.slow
def test_wide_shot_face_and_small_faces(detector, data_dir):
    frames = read_frames(data_dir / "multi_face" / "noisy_restaurant.mp4", 20)
    track = detect_face_track(chunks(frames, 10), detector)
    assert track.frame_size == (1280, 720) and track.coverage == 1.0
    assert 100 < track.median_face_width < 220  # about 150 px of a 1280 px wide frame
    # the same shot at 1/8 size: the face is about 19 px wide, found and flagged as small
    small = np.stack([cv2.resize(f, (160, 90), interpolation=cv2.INTER_AREA) for f in frames])
    tiny = detect_face_track(chunks(small, 10), detector)
    assert tiny.coverage > 0.8
    assert 12 < tiny.median_face_width < 32
    assert any("px wide" in note for note in tiny.issues())
    ratio = tiny.median_face_width / track.median_face_width
    assert 0.09 < ratio < 0.16


def test_anime_character_gives_a_clear_result(detector, data_dir):
    # SCRFD takes the drawn face of this anime character for a face: a full-coverage track on its head
    frames = read_frames(data_dir / "no_audio" / "yongen.mp4", 12, step=4)
    track = detect_face_track(chunks(frames, 6), detector)
    assert track.frame_size == (704, 1216)
    assert track.coverage > 0.9
    cx, cy = centres(track.boxes).mean(axis=0)
    assert 0.3 * 704 < cx < 0.7 * 704 and cy < 0.45 * 1216


def test_no_face_raises(detector, grid_frames):
    background = np.ascontiguousarray(grid_frames[:8, :, :90])  # the blue studio wall left of the speaker
    with pytest.raises(NoFaceError, match="no face was found by the scrfd detector in any of the 8"):
        detect_face_track(chunks(background, 4), detector)
    with pytest.raises(NoFaceError, match="no frames"):
        detect_face_track(iter([]), detector)
    with pytest.raises(NoFaceError):
        build_face_track([[], None, []], (360, 288))


def test_bad_input(detector, grid_frames):
    with pytest.raises(ValueError, match="detect_every"):
        detect_face_track(chunks(grid_frames, 4), detector, detect_every=0)
    mixed = [grid_frames[:2], grid_frames[:2, :200]]
    with pytest.raises(ValueError, match="frame size changed"):
        detect_face_track(iter(mixed), detector)


def test_track_saves_to_npz_and_windows(grid_detections, tmp_path):
    detections = [None if t % 3 == 1 else faces for t, faces in enumerate(grid_detections)]
    track = build_face_track(detections, (360, 288), detector_name="scrfd")
    np.savez(tmp_path / "track.npz", **track.to_arrays())
    with np.load(tmp_path / "track.npz") as data:
        loaded = FaceTrack.from_arrays(data)
    for name in ("boxes", "keypoints", "scores", "detected", "faces_per_frame", "checked"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(track, name))
        assert getattr(loaded, name).dtype == getattr(track, name).dtype
    assert loaded.frame_size == (360, 288) and loaded.detector == "scrfd"
    part = track.window(10, 20)
    assert part.num_frames == 10
    np.testing.assert_array_equal(part.boxes, track.boxes[10:20])


def test_track_config_round_trips():
    config = TrackConfig(smoothing_window=7, max_gap=10)
    assert from_dict(TrackConfig, to_dict(config)) == config
