"""Face crops, mouth boxes, degradation and paste-back on real frames tracked by the real detector."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from media_fixtures import read_frames
from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.errors import FaceTooSmallError
from vfhgan_core.faces.crops import (
    CropConfig,
    crop_faces,
    crop_matrices,
    degrade,
    face_size_warning,
    invert_matrices,
    matrices_from_squares,
    mouth_boxes,
    paste_back,
    paste_mask,
    transform_points,
)
from vfhgan_core.faces.detection import ScrfdDetector
from vfhgan_core.faces.tracking import detect_face_track


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.fixture(scope="module")
def detector(detector_model: Path) -> ScrfdDetector:
    return ScrfdDetector(detector_model, det_size=320)


CLIPS = {
    "grid": "grid_s1/video/bbaf2n.mp4",
    "voxceleb2": "voxceleb2/Pose_Source_517600055.mp4",
    "hdtf": "hdtf/WDA_KatieHill_000.mp4",
    "portrait": "no_audio/sun.mp4",  # 576x768
}


@pytest.fixture(scope="module")
def tracked(detector, data_dir):
    """name -> (frames, track) for 8 frames (every 3rd) of each clip."""
    out = {}
    for name, rel in CLIPS.items():
        frames = read_frames(data_dir / rel, 8, step=3)
        out[name] = (frames, detect_face_track([frames], detector))
    return out


def assert_centred_face(keypoints: np.ndarray, face_width: np.ndarray, size: int, upright: bool = True) -> None:
    """keypoints (T, 5, 2) in crop px; face_width (T,) box width in crop px."""
    centroid = keypoints.mean(axis=1)
    assert np.abs(centroid - (size - 1) / 2).max() < 0.1 * size
    assert np.all((0.3 * size < face_width) & (face_width < 0.75 * size))
    if upright:
        assert np.all(keypoints[:, :2, 1] < size / 2)  # eyes in the upper half
        assert np.all(keypoints[:, 3:, 1] > size / 2)  # mouth in the lower half


@pytest.mark.parametrize("name", list(CLIPS))
def test_face_is_centred_in_the_crop(tracked, detector_model, name):
    frames, track = tracked[name]
    config = CropConfig()
    matrices = crop_matrices(track, config)
    assert matrices.shape == (8, 2, 3) and matrices.dtype == np.float32
    crops = crop_faces(frames, matrices, config.hr_size)
    assert crops.shape == (8, 128, 128, 3) and crops.dtype == np.uint8
    keypoints = transform_points(track.keypoints, matrices)
    assert keypoints.shape == (8, 5, 2) and keypoints.dtype == np.float32
    assert_centred_face(keypoints, track.face_widths * matrices[:, 0, 0], 128)
    # the crop really shows that face: detecting on the crop finds it where the keypoints say
    again = ScrfdDetector(detector_model, det_size=160).detect(crops[0])
    assert again and np.abs(again[0].keypoints - keypoints[0]).max() < 0.08 * 128


@pytest.mark.parametrize("name", ["grid", "voxceleb2", "hdtf", "portrait"])
def test_mouth_box_holds_the_mouth_below_the_nose(tracked, name):
    frames, track = tracked[name]
    matrices = crop_matrices(track)
    keypoints = transform_points(track.keypoints, matrices)
    boxes = mouth_boxes(keypoints, crop_size=128)
    assert boxes.shape == (8, 4) and boxes.dtype == np.float32
    x1, y1, x2, y2 = boxes.T
    np.testing.assert_allclose(x2 - x1, y2 - y1, rtol=1e-5)  # square
    assert np.all((x1 >= 0) & (y1 >= 0) & (x2 <= 128) & (y2 <= 128))
    for corner in (keypoints[:, 3], keypoints[:, 4]):
        assert np.all((corner[:, 0] > x1) & (corner[:, 0] < x2) & (corner[:, 1] > y1) & (corner[:, 1] < y2))
    nose_y = keypoints[:, 2, 1]
    assert np.all(y1 > nose_y)
    assert np.all((x2 - x1) > 0.2 * 128) and np.all((x2 - x1) < 0.6 * 128)


def test_mouth_boxes_stay_inside_the_crop():
    # a mouth at the bottom-right corner of a crop is pushed back inside
    keypoints = np.array([[[90, 70], [120, 70], [110, 100], [100, 124], [126, 124]]], dtype=np.float32)
    x1, y1, x2, y2 = mouth_boxes(keypoints, crop_size=128)[0]
    assert x2 <= 128 and y2 <= 128 and x1 >= 0 and y1 >= 0
    assert x2 - x1 == pytest.approx(y2 - y1)


@pytest.mark.parametrize("name", ["grid", "voxceleb2", "hdtf"])
def test_paste_back_round_trip(tracked, name):
    frames, track = tracked[name]
    frame = frames[0]
    # a crop at about the face's own resolution, pasted back unchanged
    side = float(1 / crop_matrices(track)[0, 0, 0] * 128)
    size = int(np.ceil(side / 16) * 16)
    matrix = crop_matrices(track, CropConfig(hr_size=size))[0]
    face = crop_faces(frame, matrix, size)
    assert face.shape == (size, size, 3)
    out = paste_back(frame, face, matrix, feather=0.1)
    assert out.shape == frame.shape and out.dtype == np.uint8
    mask = cv2.warpAffine(
        paste_mask(size, 0.1), matrix.astype(np.float64), frame.shape[1::-1],
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
    )
    inside = mask > 0.5
    assert inside.sum() > 0.2 * side * side
    assert psnr(out[inside], frame[inside]) > 35
    np.testing.assert_array_equal(out[mask == 0], frame[mask == 0])
    assert (mask == 0).sum() > 0
    # the 128 px crop used by the model loses detail, but the paste is still close
    matrix128 = crop_matrices(track)[0]
    out128 = paste_back(frame, crop_faces(frame, matrix128, 128), matrix128)
    assert psnr(out128[inside], frame[inside]) > 27


def test_paste_back_puts_a_changed_face_where_it_belongs(tracked):
    frames, track = tracked["grid"]
    matrix = crop_matrices(track)[0]
    face = np.zeros((128, 128, 3), dtype=np.uint8)  # a black face
    out = paste_back(frames[0], face, matrix, feather=0.1)
    centre = transform_points(np.array([[63.5, 63.5]]), invert_matrices(matrix))[0]
    cx, cy = np.round(centre).astype(int)
    assert out[cy, cx].max() == 0  # the crop centre is black in the frame
    changed = np.argwhere(np.any(out != frames[0], axis=2))
    ys, xs = changed[:, 0], changed[:, 1]
    x0, y0 = transform_points(np.array([[-0.5, -0.5]]), invert_matrices(matrix))[0]
    x1, y1 = transform_points(np.array([[127.5, 127.5]]), invert_matrices(matrix))[0]
    assert xs.min() >= x0 - 1 and xs.max() <= x1 + 1 and ys.min() >= y0 - 1 and ys.max() <= y1 + 1


def test_crop_partly_outside_the_frame(tracked, detector):
    frames, _ = tracked["grid"]
    offset = 120
    shifted = np.ascontiguousarray(frames[:, :, offset:])  # the face now touches the left edge
    track = detect_face_track([shifted], detector)
    matrices = crop_matrices(track)
    left_edge_in_crop = matrices[:, 0, 2] + matrices[:, 0, 0] * -0.5
    assert np.all(left_edge_in_crop > 10)  # part of the crop lies left of the frame
    crops = crop_faces(shifted, matrices, 128)
    # inside the frame, the crop equals the same crop taken from the unshifted frame
    moved = matrices.copy()
    moved[:, 0, 2] -= matrices[:, 0, 0] * offset
    reference = crop_faces(frames, moved, 128)
    start = int(np.ceil(left_edge_in_crop.max())) + 3
    diff = np.abs(crops[:, :, start:].astype(int) - reference[:, :, start:].astype(int))
    assert diff.mean() < 1.0
    # outside it the border is replicated: each row is constant left of the edge
    edge = int(np.floor(left_edge_in_crop.min())) - 2
    assert np.abs(np.diff(crops[:, :, :edge].astype(int), axis=2)).max() <= 2
    out = paste_back(shifted[0], crops[0], matrices[0])
    assert out.shape == shifted[0].shape
    assert psnr(out, shifted[0]) > 30


def test_rotated_portrait_frame_gives_a_centred_crop(tracked, detector):
    frames, _ = tracked["grid"]
    portrait = np.ascontiguousarray(np.rot90(frames[:4], k=1, axes=(1, 2)))  # 288 x 360 portrait, face on its side
    assert portrait.shape[1:3] == (360, 288)
    track = detect_face_track([portrait], detector)
    matrices = crop_matrices(track)
    keypoints = transform_points(track.keypoints, matrices)
    assert_centred_face(keypoints, track.face_widths * matrices[:, 0, 0], 128, upright=False)
    assert np.all(keypoints[:, :2, 0] < 64)  # turned left: the eyes are in the left half


def test_tiny_face_is_refused_and_small_face_warned(detector, data_dir):
    frames = read_frames(data_dir / "multi_face" / "noisy_restaurant.mp4", 6)
    tiny = np.stack([cv2.resize(f, (107, 60), interpolation=cv2.INTER_AREA) for f in frames])  # face ~12 px
    track = detect_face_track([tiny], detector)
    assert track.median_face_width < 16
    with pytest.raises(FaceTooSmallError, match="px wide"):
        crop_matrices(track)
    small = np.stack([cv2.resize(f, (160, 90), interpolation=cv2.INTER_AREA) for f in frames])  # face ~19 px
    track = detect_face_track([small], detector)
    assert crop_matrices(track).shape == (6, 2, 3)
    assert "px wide" in face_size_warning(track)
    full = detect_face_track([frames], detector)
    assert face_size_warning(full) is None


def test_degrade_shapes_and_numpy_equals_torch(tracked):
    frames, track = tracked["hdtf"]
    hr = crop_faces(frames, crop_matrices(track), 128)
    lr = degrade(hr, 4)
    assert lr.shape == (8, 32, 32, 3) and lr.dtype == np.uint8
    assert degrade(hr[0], 4).shape == (32, 32, 3)
    tensor = torch.from_numpy(hr).permute(0, 3, 1, 2).float()
    for method in ("bicubic_antialias", "bicubic", "area"):
        lr_np = degrade(hr, 4, method)
        lr_t = degrade(tensor, 4, method)
        assert lr_t.shape == (8, 3, 32, 32) and lr_t.dtype == torch.float32
        np.testing.assert_array_equal(lr_np, lr_t.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
        # on [0, 1] tensors (the network's range) the same up to float rounding
        unit = degrade(tensor / 255, 4, method) * 255
        unit_np = unit.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
        assert np.abs(unit_np.astype(int) - lr_np.astype(int)).max() <= 1
    # "area" is the mean of each 4x4 block
    blocks = hr.reshape(8, 32, 4, 32, 4, 3).astype(np.float64).mean(axis=(2, 4))
    np.testing.assert_array_equal(degrade(hr, 4, "area"), np.round(blocks).astype(np.uint8))
    # antialiasing: closer to the block mean than plain bicubic, which aliases
    area = degrade(hr, 4, "area").astype(int)
    assert np.abs(lr.astype(int) - area).mean() < np.abs(degrade(hr, 4, "bicubic").astype(int) - area).mean()


def test_bicubic_antialias_matches_pil(tracked):
    image = pytest.importorskip("PIL.Image")
    frames, track = tracked["voxceleb2"]
    hr = crop_faces(frames[0], crop_matrices(track)[0], 128)
    ours = degrade(hr, 4).astype(int)
    pil = np.asarray(image.fromarray(hr).resize((32, 32), image.BICUBIC)).astype(int)
    assert np.abs(ours - pil).max() <= 2 and np.abs(ours - pil).mean() < 0.3


def test_degrade_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(np.zeros((1, 128, 128, 3), np.uint8), 4, "nearest")
    with pytest.raises(ValueError, match="not divisible"):
        degrade(np.zeros((1, 130, 128, 3), np.uint8), 4)
    with pytest.raises(ValueError, match="uint8"):
        degrade(np.zeros((1, 128, 128, 3), np.float32), 4)


def test_paste_mask_shape():
    mask = paste_mask(128, feather=0.1)
    assert mask.shape == (128, 128) and mask.dtype == np.float32
    assert mask[64, 64] == 1.0 and mask[0, 0] < 0.01 and mask[0, 64] < 0.05
    np.testing.assert_allclose(mask, mask.T)
    np.testing.assert_allclose(mask, mask[::-1, ::-1])
    row = mask[64, :64]
    assert np.all(np.diff(row) >= 0)  # rises monotonically towards the centre
    assert np.all(row[13:] == 1.0)  # flat beyond the 10 % band


def test_transform_points_and_inverse(tracked):
    _, track = tracked["grid"]
    matrices = crop_matrices(track)
    there = transform_points(track.keypoints, matrices)
    back = transform_points(there, invert_matrices(matrices))
    np.testing.assert_allclose(back, track.keypoints, atol=1e-3)
    single = transform_points(track.keypoints[0], matrices[0])
    np.testing.assert_allclose(single, there[0], atol=1e-4)


def test_crop_config_round_trips():
    config = CropConfig(hr_size=96, face_scale=1.4, degradation="area")
    assert from_dict(CropConfig, to_dict(config)) == config
    assert config.lr_size == 24
    with pytest.raises(ValueError, match="unknown degradation"):
        CropConfig(degradation="nearest")
    with pytest.raises(ValueError, match="multiple of the scale"):
        CropConfig(hr_size=130)


@pytest.mark.parametrize("side", [300.0, 128.0, 64.0, 97.1])
def test_crop_geometry_is_exact_on_a_ramp(side):
    # an image whose value is a linear function of position: every resampling must reproduce it
    yy, xx = np.mgrid[0:400, 0:500].astype(np.float64)
    image = np.stack([xx / 2, yy / 2, (xx + yy) / 4], axis=-1).round().astype(np.uint8)
    matrix = matrices_from_squares(np.array([[250.3, 190.7, side]]), 128)[0]
    crop = crop_faces(image, matrix, 128).astype(np.float64)
    jj, ii = np.meshgrid(np.arange(128.0), np.arange(128.0))
    src = transform_points(np.stack([jj, ii], axis=-1), np.broadcast_to(invert_matrices(matrix), (128, 2, 3)))
    expected = np.stack([src[..., 0] / 2, src[..., 1] / 2, (src[..., 0] + src[..., 1]) / 4], axis=-1)
    assert np.abs(crop - expected).max() < 1.0
