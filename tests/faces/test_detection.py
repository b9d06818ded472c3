"""Face detection on real frames with the real SCRFD model, and how the detector is found."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from media_fixtures import read_frames
from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.errors import DetectorUnavailableError
from vfhgan_core.faces.detection import (
    DETECTOR_MODEL_ENV,
    DetectorConfig,
    FaceDetection,
    FaceDetector,
    HaarDetector,
    ScrfdDetector,
    load_face_detector,
)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def assert_plausible_face(face: FaceDetection, frame: np.ndarray) -> None:
    """Keypoints in insightface order and anatomically arranged inside the box."""
    h, w = frame.shape[:2]
    assert face.box.dtype == np.float32 and face.box.shape == (4,)
    assert face.keypoints.dtype == np.float32 and face.keypoints.shape == (5, 2)
    assert 0.5 <= face.score <= 1.0
    x1, y1, x2, y2 = face.box
    assert x2 - x1 > 20 and y2 - y1 > 20
    assert -0.1 * w < x1 < x2 < 1.1 * w and -0.1 * h < y1 < y2 < 1.1 * h
    (lex, ley), (rex, rey), (nx, ny), (lmx, lmy), (rmx, rmy) = face.keypoints
    assert lex < rex and lmx < rmx  # "left" is image left
    assert max(ley, rey) < ny < min(lmy, rmy)  # eyes above nose above mouth
    k = face.keypoints
    assert np.all((k[:, 0] > x1) & (k[:, 0] < x2) & (k[:, 1] > y1) & (k[:, 1] < y2))


@pytest.fixture(scope="module")
def scrfd(detector_model: Path) -> ScrfdDetector:
    return ScrfdDetector(detector_model)  # default det_size 640


@pytest.fixture(scope="module")
def grid_frame(grid_clip: Path) -> np.ndarray:
    return read_frames(grid_clip)[0]


def test_scrfd_on_grid_mp4_and_original_mpg(scrfd, grid_frame, data_dir):
    assert isinstance(scrfd, FaceDetector) and scrfd.name == "scrfd"
    mp4_faces = scrfd.detect(grid_frame)
    assert len(mp4_faces) == 1
    assert_plausible_face(mp4_faces[0], grid_frame)
    # the same sentence as the original MPEG-1 file: the same face, in the same place
    mpg = read_frames(data_dir / "grid_speakers" / "bbaf2n.mpg")[0]
    mpg_faces = scrfd.detect(mpg)
    assert len(mpg_faces) == 1
    assert iou(mp4_faces[0].box, mpg_faces[0].box) > 0.85
    assert np.abs(mp4_faces[0].keypoints - mpg_faces[0].keypoints).max() < 5


@pytest.mark.parametrize("name", ["Input_00002", "Pose_Source_00473", "Audio_Source_00015"])
@pytest.mark.parametrize("det_size", [640, 320, 160])
def test_scrfd_finds_tight_voxceleb2_crops(detector_model, data_dir, name, det_size):
    detector = ScrfdDetector(detector_model, det_size=det_size)
    frame = read_frames(data_dir / "voxceleb2" / f"{name}.mp4")[0]
    assert frame.shape == (224, 224, 3)
    faces = detector.detect(frame)
    assert len(faces) >= 1
    face = faces[0]
    assert face.width > 0.35 * 224  # the face fills much of the crop
    assert_plausible_face(face, frame)


def test_border_and_no_upscaling_rescue_faces_filling_the_frame(detector_model, grid_frame):
    # an LRS2-style 160x160 crop whose face fills the whole frame
    tight = cv2.resize(grid_frame[176 - 50 : 176 + 50, 155 - 50 : 155 + 50], (160, 160), interpolation=cv2.INTER_CUBIC)
    assert tight.shape == (160, 160, 3)
    ours = ScrfdDetector(detector_model, det_size=640)
    faces = ours.detect(tight)
    assert len(faces) == 1 and faces[0].width > 100
    # insightface's plain letterbox (no border, enlarged to 640) misses it
    plain = ScrfdDetector(detector_model, det_size=640, pad_fraction=0.0, max_upscale=100.0)
    assert plain.detect(tight) == []


def test_scrfd_on_hdtf_512(scrfd, data_dir):
    frame = read_frames(data_dir / "hdtf" / "RD_Radio2_000.mp4")[0]
    faces = scrfd.detect(frame)
    assert len(faces) == 1
    assert_plausible_face(faces[0], frame)
    assert faces[0].width > 150


def test_small_faces_in_a_wide_frame_need_a_larger_det_size(detector_model, data_dir):
    shot = read_frames(data_dir / "multi_face" / "noisy_restaurant.mp4")[0]
    small = cv2.resize(shot, (160, 90), interpolation=cv2.INTER_AREA)
    wide = np.ascontiguousarray(np.tile(small, (8, 8, 1)))  # 1280x720 holding 64 faces about 19 px wide
    assert wide.shape == (720, 1280, 3)
    assert len(ScrfdDetector(detector_model, det_size=640).detect(wide)) < 8
    faces = ScrfdDetector(detector_model, det_size=1280).detect(wide)
    assert len(faces) >= 60
    assert all(14 < face.width < 26 for face in faces)


def test_boxes_are_mapped_back_to_frame_pixels(detector_model, grid_frame):
    detector = ScrfdDetector(detector_model, det_size=320)
    face = detector.detect(grid_frame)[0]
    # the same frame placed inside a larger black canvas: the face moves by exactly the offset
    canvas = np.zeros((600, 800, 3), dtype=np.uint8)
    canvas[150 : 150 + 288, 220 : 220 + 360] = grid_frame
    big = ScrfdDetector(detector_model, det_size=800)  # same pixel scale as the frame itself
    moved = big.detect(canvas)[0]
    assert np.abs(moved.box - face.box - [220, 150, 220, 150]).max() < 6
    assert np.abs(moved.keypoints - face.keypoints - [220, 150]).max() < 4
    # different network sizes agree on where the face is
    for det_size in (640, 160):
        other = ScrfdDetector(detector_model, det_size=det_size).detect(grid_frame)[0]
        assert np.abs(other.keypoints - face.keypoints).max() < 6
        assert iou(other.box, face.box) > 0.85


def test_input_geometry(scrfd):
    # wide 720p frame: shrunk so the bordered frame's longer side is det_size
    scale, offset, inner, size = scrfd.input_geometry(1280, 720)
    assert size[0] == 640 and size[1] < 640 and size[0] % 32 == 0 and size[1] % 32 == 0
    assert inner[0] + 2 * offset <= 640 and scale < 0.5
    # small frames are never enlarged
    scale, offset, inner, size = scrfd.input_geometry(224, 224)
    assert scale == 1.0 and inner == (224, 224) and offset == 56 and size == (352, 352)


def test_detect_rejects_non_rgb_frames(scrfd, grid_frame):
    with pytest.raises(ValueError, match="RGB uint8"):
        scrfd.detect(grid_frame[..., 0])
    with pytest.raises(ValueError, match="RGB uint8"):
        scrfd.detect(grid_frame.astype(np.float32))


def test_config_path_and_env_var(detector_model, monkeypatch):
    detector = load_face_detector(DetectorConfig(model_path=str(detector_model), det_size=320, threshold=0.6))
    assert isinstance(detector, ScrfdDetector)
    assert detector.det_size == 320 and detector.threshold == 0.6
    monkeypatch.setenv(DETECTOR_MODEL_ENV, str(detector_model))
    from_env = load_face_detector(DetectorConfig(allow_download=False, allow_fallback=False))
    assert isinstance(from_env, ScrfdDetector) and from_env.model_path == detector_model


def test_missing_model_path_is_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "det.onnx"
    with pytest.raises(DetectorUnavailableError, match="not found") as info:
        load_face_detector(DetectorConfig(model_path=str(missing)))
    assert "--detector-model" in str(info.value) and DETECTOR_MODEL_ENV in str(info.value)
    monkeypatch.setenv(DETECTOR_MODEL_ENV, str(missing))
    with pytest.raises(DetectorUnavailableError, match=DETECTOR_MODEL_ENV):
        load_face_detector(DetectorConfig())


def test_invalid_model_files_are_clear_errors(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model")
    with pytest.raises(DetectorUnavailableError, match="not a readable ONNX model"):
        ScrfdDetector(text)
    with pytest.raises(DetectorUnavailableError, match="not a file"):
        ScrfdDetector(tmp_path)
    # a valid ONNX graph that is not a face detector (insightface routes it to a recognition model)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 112, 112])],
    )
    other = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(other))
    with pytest.raises(DetectorUnavailableError, match="not an SCRFD face detector"):
        ScrfdDetector(other)


def test_cached_insightface_pack_is_used(tmp_path, detector_model, monkeypatch):
    monkeypatch.delenv(DETECTOR_MODEL_ENV, raising=False)
    pack = tmp_path / "models" / "buffalo_s"
    pack.mkdir(parents=True)
    (pack / "det_500m.onnx").symlink_to(detector_model)
    detector = load_face_detector(
        DetectorConfig(insightface_root=str(tmp_path), allow_download=False, allow_fallback=False)
    )
    assert isinstance(detector, ScrfdDetector)
    assert detector.model_path == pack / "det_500m.onnx"
    # insightface's default root follows HOME
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".insightface").symlink_to(tmp_path)
    detector = load_face_detector(DetectorConfig(allow_download=False, allow_fallback=False))
    assert isinstance(detector, ScrfdDetector)


@pytest.mark.slow
def test_no_model_no_network_falls_back_to_haar(tmp_path, monkeypatch, grid_frame, scrfd):
    monkeypatch.delenv(DETECTOR_MODEL_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing cached under ~/.insightface
    start = time.perf_counter()
    with pytest.warns(UserWarning) as caught:
        detector = load_face_detector(DetectorConfig(download_timeout=20.0))
    assert time.perf_counter() - start < 20.0
    assert isinstance(detector, HaarDetector) and detector.name == "haar"
    messages = [str(w.message) for w in caught if "Haar" in str(w.message)]
    assert len(messages) == 1
    message = messages[0]
    assert "Haar" in message and "--detector-model" in message and DETECTOR_MODEL_ENV in message
    assert "buffalo_s" in message  # says what was tried
    # the fallback still finds the frontal GRID face, with keypoints near SCRFD's
    haar_faces = detector.detect(grid_frame)
    assert len(haar_faces) == 1
    reference = scrfd.detect(grid_frame)[0]
    error = np.linalg.norm(haar_faces[0].keypoints - reference.keypoints, axis=1).max()
    assert error < 0.12 * reference.width
    assert iou(haar_faces[0].box, reference.box) > 0.7


@pytest.mark.parametrize(
    "clip", ["grid_s1/video/bbaf2n.mp4", "voxceleb2/Audio_Source_00015.mp4", "hdtf/RD_Radio2_000.mp4"]
)
def test_haar_coarse_pass_finds_the_full_search_faces(data_dir, clip):
    frames = read_frames(data_dir / clip, count=3, step=4)
    coarse, full = HaarDetector(), HaarDetector(coarse_fraction=0.0)
    for frame in frames:
        expected = full.detect(frame)
        found = coarse.detect(frame)
        assert len(expected) >= 1
        assert [f.score for f in found] == [f.score for f in expected]
        for a, b in zip(found, expected):
            np.testing.assert_array_equal(a.box, b.box)


def test_haar_falls_back_to_the_full_search_for_small_faces(grid_frame):
    # the GRID face shrunk to ~70 px in a 640 x 480 frame: below a quarter of the
    # shorter side (120 px), so only the full search finds it
    small = cv2.resize(grid_frame, (180, 144), interpolation=cv2.INTER_AREA)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[200:344, 300:480] = small
    faces = HaarDetector().detect(frame)
    assert len(faces) == 1
    assert 40 < faces[0].width < 120
    assert 300 <= faces[0].box[0] and faces[0].box[2] <= 480
    with pytest.raises(ValueError, match="coarse_fraction"):
        HaarDetector(coarse_fraction=1.5)


def test_fallback_refused_raises(tmp_path, monkeypatch):
    monkeypatch.delenv(DETECTOR_MODEL_ENV, raising=False)
    config = DetectorConfig(insightface_root=str(tmp_path), allow_download=False, allow_fallback=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning either
        with pytest.raises(DetectorUnavailableError) as info:
            load_face_detector(config)
    assert "downloading is disabled" in str(info.value) and "--detector-model" in str(info.value)
    # a download that cannot finish in time is abandoned
    start = time.perf_counter()
    with pytest.raises(DetectorUnavailableError, match="did not finish within"):
        load_face_detector(
            DetectorConfig(insightface_root=str(tmp_path), download_timeout=0.05, allow_fallback=False)
        )
    assert time.perf_counter() - start < 5.0


def test_detector_config_round_trips():
    config = DetectorConfig(model_path="/models/det.onnx", det_size=320, download_timeout=5.0)
    assert from_dict(DetectorConfig, to_dict(config)) == config
