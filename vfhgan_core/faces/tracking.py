"""One smoothed face track per clip.

:func:`detect_face_track` runs a detector over a clip given chunk by chunk and
:func:`build_face_track` turns the per-frame detections into a
:class:`FaceTrack`:

1. **Linking.** Detections are linked frame to frame into tracklets: a face
   continues a tracklet when its box overlaps the tracklet's last box
   (IoU >= ``link_iou``) or its centre lies within ``link_distance`` face
   widths of it, and the tracklet was seen at most ``max_gap`` frames ago.
2. **Choice.** Each tracklet scores the sum over its detections of
   ``detection score x face width``: big, confident faces present for most of
   the clip win. Only the winning tracklet is kept (joined with tracklets
   that continue it in the same place after a gap longer than ``max_gap``),
   so the track never jumps between people; ``faces_per_frame`` records that
   others were seen.
3. **Gaps.** Frames where the chosen face was not detected (missed, or not
   checked with ``detect_every > 1``) are filled by linear interpolation in
   time between the nearest detected frames; before the first and after the
   last detection the nearest detection is held.
4. **Smoothing.** Box centres and keypoints are smoothed with a
   Savitzky-Golay filter (centred window of ``smoothing_window`` frames,
   polynomial order ``smoothing_order``); box width and height, which change
   slowly, with a longer window ``size_window``. A centred polynomial fit
   follows steady motion without lag (a straight-line move passes unchanged)
   while removing frame-to-frame detector jitter.

Long clips: detections are small (a few floats per frame), only the frames of
one chunk are in memory at a time, and :func:`choose_detect_every` picks a
detection stride that caps the number of detector runs.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import savgol_filter

from vfhgan_core.errors import NoFaceError
from vfhgan_core.faces.detection import FaceDetection, FaceDetector


@dataclass(frozen=True)
class TrackConfig:
    """How detections become one track.

    Attributes:
        link_iou: smallest IoU with a tracklet's last box that continues it.
        link_distance: largest centre distance (in face widths) that continues
            a tracklet when the boxes do not overlap enough.
        max_gap: frames a tracklet may go undetected and still be continued.
        smoothing_window: Savitzky-Golay window (frames, odd) for box centres
            and keypoints; 1 disables smoothing.
        smoothing_order: polynomial order of that filter.
        size_window: Savitzky-Golay window (frames, odd) for box width and height.
    """

    link_iou: float = 0.3
    link_distance: float = 0.5
    max_gap: int = 25
    smoothing_window: int = 11
    smoothing_order: int = 2
    size_window: int = 25


_ARRAY_FIELDS = ("boxes", "keypoints", "scores", "detected", "faces_per_frame", "checked")


@dataclass
class FaceTrack:
    """The face followed through a clip, one entry per frame.

    Attributes:
        boxes: float32 ``(T, 4)`` smoothed ``x1, y1, x2, y2`` in frame pixels.
        keypoints: float32 ``(T, 5, 2)`` smoothed keypoints (left eye, right
            eye, nose, left mouth corner, right mouth corner) in frame pixels.
        scores: float32 ``(T,)`` detection score; 0 where interpolated.
        detected: bool ``(T,)`` True where the tracked face was detected.
        faces_per_frame: int16 ``(T,)`` faces the detector saw in the frame;
            frames it did not check (``detect_every > 1``) repeat the count of
            the last checked frame.
        frame_size: ``(width, height)`` of the frames in pixels.
        checked: bool ``(T,)`` True where the detector ran.
        detector: name of the detector that made the track ("scrfd", "haar").
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    faces_per_frame: np.ndarray
    frame_size: tuple[int, int]
    checked: np.ndarray | None = None
    detector: str = ""

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        t = len(self.boxes)
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(t, 5, 2)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(t)
        self.detected = np.asarray(self.detected, dtype=bool).reshape(t)
        self.faces_per_frame = np.asarray(self.faces_per_frame, dtype=np.int16).reshape(t)
        if self.checked is None:
            self.checked = np.ones(t, dtype=bool)
        self.checked = np.asarray(self.checked, dtype=bool).reshape(t)
        self.frame_size = (int(self.frame_size[0]), int(self.frame_size[1]))
        self.detector = str(self.detector)

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return int(len(self.boxes))

    @property
    def coverage(self) -> float:
        """Fraction of the checked frames in which the tracked face was detected."""
        checked = int(self.checked.sum())
        return float(self.detected.sum() / checked) if checked else 0.0

    @property
    def num_interpolated(self) -> int:
        """Checked frames where the face was missed and its position interpolated."""
        return int((self.checked & ~self.detected).sum())

    @property
    def max_faces(self) -> int:
        """Most faces the detector saw in one frame."""
        return int(self.faces_per_frame.max()) if self.num_frames else 0

    @property
    def face_widths(self) -> np.ndarray:
        """float32 ``(T,)`` smoothed box width in pixels."""
        return (self.boxes[:, 2] - self.boxes[:, 0]).astype(np.float32)

    @property
    def median_face_width(self) -> float:
        """Median box width (pixels) over the frames where the face was detected."""
        widths = self.face_widths[self.detected] if self.detected.any() else self.face_widths
        return float(np.median(widths)) if len(widths) else 0.0

    def issues(self, min_coverage: float = 0.5, small_face_px: float = 32.0) -> list[str]:
        """Human-readable warnings about the track (empty when all is well).

        Args:
            min_coverage: warn when the face was detected in fewer checked frames.
            small_face_px: warn when the face is narrower than this (pixels).
        """
        notes = []
        if self.coverage < min_coverage:
            notes.append(
                f"the face was detected in only {100 * self.coverage:.0f}% of the checked frames; "
                "the other frames are interpolated and may be misaligned"
            )
        if self.max_faces > 1:
            notes.append(
                f"up to {self.max_faces} faces are visible; the most prominent, steadiest one is tracked"
            )
        width = self.median_face_width
        if width < small_face_px:
            notes.append(
                f"the face is only about {width:.0f} px wide (under {small_face_px:.0f} px): "
                "there is little detail to restore"
            )
        return notes

    def window(self, start: int, stop: int) -> FaceTrack:
        """The frames ``start:stop`` as a new track."""
        return FaceTrack(
            **{name: getattr(self, name)[start:stop] for name in _ARRAY_FIELDS},
            frame_size=self.frame_size,
            detector=self.detector,
        )

    def to_arrays(self, prefix: str = "track_") -> dict[str, np.ndarray]:
        """The track as named numpy arrays (for ``np.savez``); see :meth:`from_arrays`."""
        arrays = {prefix + name: getattr(self, name) for name in _ARRAY_FIELDS}
        arrays[prefix + "frame_size"] = np.asarray(self.frame_size, dtype=np.int32)
        arrays[prefix + "detector"] = np.asarray(self.detector)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str = "track_") -> FaceTrack:
        """Rebuild a track written by :meth:`to_arrays` (a dict or an opened ``.npz``)."""
        values = {name: np.asarray(arrays[prefix + name]) for name in _ARRAY_FIELDS if prefix + name in arrays}
        size = np.asarray(arrays[prefix + "frame_size"]).tolist()
        detector = str(np.asarray(arrays[prefix + "detector"])) if prefix + "detector" in arrays else ""
        return cls(**values, frame_size=(size[0], size[1]), detector=detector)


# --- linking --------------------------------------------------------------------------


@dataclass
class _Tracklet:
    frames: list[int] = field(default_factory=list)
    detections: list[FaceDetection] = field(default_factory=list)

    @property
    def last(self) -> FaceDetection:
        return self.detections[-1]

    @property
    def weight(self) -> float:
        return float(sum(d.score * max(d.width, 0.0) for d in self.detections))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _link(detections: Sequence[Sequence[FaceDetection] | None], config: TrackConfig) -> list[_Tracklet]:
    """Greedy frame-to-frame association of detections into tracklets."""
    tracklets: list[_Tracklet] = []
    active: list[_Tracklet] = []  # tracklets seen within the last max_gap frames
    for t, faces in enumerate(detections):
        if not faces:
            continue
        active = [k for k in active if t - k.frames[-1] <= config.max_gap]
        pairs = []
        for ti, tracklet in enumerate(active):
            prev = tracklet.last
            for di, face in enumerate(faces):
                iou = _iou(prev.box, face.box)
                width = max(prev.width, face.width, 1.0)
                distance = float(np.linalg.norm(prev.center - face.center)) / width
                if iou >= config.link_iou or distance <= config.link_distance:
                    pairs.append((distance - iou, ti, di))
        pairs.sort()
        used_t, used_d = set(), set()
        for _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            active[ti].frames.append(t)
            active[ti].detections.append(faces[di])
        for di, face in enumerate(faces):
            if di not in used_d:
                tracklets.append(_Tracklet(frames=[t], detections=[face]))
                active.append(tracklets[-1])
    return tracklets


def _merge_continuations(best: _Tracklet, tracklets: list[_Tracklet], config: TrackConfig) -> _Tracklet:
    """Join to ``best`` the tracklets that continue it after a long gap.

    A tracklet that does not overlap ``best`` in time and starts (or ends)
    where ``best`` was last (or next) seen - IoU >= ``link_iou`` or centre
    distance <= ``2 x link_distance`` face widths - is the same face lost for
    more than ``max_gap`` frames (turned away, occluded), not another person.
    """
    frames = dict(zip(best.frames, best.detections))
    known = np.array(best.frames)
    for other in sorted(tracklets, key=lambda k: -k.weight):
        if other is best or any(t in frames for t in other.frames):
            continue
        ok = True
        for t, face in ((other.frames[0], other.detections[0]), (other.frames[-1], other.detections[-1])):
            nearest = frames[int(known[np.argmin(np.abs(known - t))])]
            width = max(nearest.width, face.width, 1.0)
            distance = float(np.linalg.norm(nearest.center - face.center)) / width
            if _iou(nearest.box, face.box) < config.link_iou and distance > 2 * config.link_distance:
                ok = False
        if ok:
            frames.update(zip(other.frames, other.detections))
            known = np.array(sorted(frames))
    order = sorted(frames)
    return _Tracklet(frames=order, detections=[frames[t] for t in order])


# --- interpolation and smoothing ------------------------------------------------------


def _smooth(values: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay along axis 0; the window shrinks (odd) for short tracks."""
    n = len(values)
    window = min(int(window), n if n % 2 else n - 1)
    if window < 3 or window <= order:
        return values
    return savgol_filter(values, window_length=window, polyorder=order, axis=0, mode="interp")


def build_face_track(
    detections: Sequence[Sequence[FaceDetection] | None],
    frame_size: tuple[int, int],
    config: TrackConfig = TrackConfig(),
    detector_name: str = "",
) -> FaceTrack:
    """Turn per-frame detections into one smoothed track (see the module docstring).

    Args:
        detections: one entry per frame: the faces found in it, or ``None``
            where the detector did not run (``detect_every > 1``).
        frame_size: ``(width, height)`` of the frames.
        config: linking and smoothing settings.
        detector_name: recorded in the track and in error messages.

    Raises:
        NoFaceError: no face was detected in any frame.
    """
    num_frames = len(detections)
    if num_frames == 0:
        raise NoFaceError("the clip has no frames, so no face could be tracked")
    checked = np.array([faces is not None for faces in detections], dtype=bool)
    counts = np.array([len(faces) if faces is not None else -1 for faces in detections], dtype=np.int64)
    # frames that were not checked repeat the last checked frame's count
    last = 0
    for t in range(num_frames):
        if counts[t] < 0:
            counts[t] = last
        else:
            last = counts[t]

    tracklets = _link(detections, config)
    if not tracklets:
        by = f" by the {detector_name} detector" if detector_name else ""
        raise NoFaceError(
            f"no face was found{by} in any of the {int(checked.sum())} checked frames of the clip. "
            "Use a clip where one person's face is clearly visible"
            + (
                "; the Haar fallback finds only frontal faces, an SCRFD model (--detector-model PATH) finds more"
                if detector_name == "haar"
                else ""
            )
            + "."
        )
    best = _merge_continuations(max(tracklets, key=lambda k: k.weight), tracklets, config)

    frames = np.asarray(best.frames)
    raw_boxes = np.stack([d.box for d in best.detections]).astype(np.float64)
    raw_points = np.stack([d.keypoints for d in best.detections]).astype(np.float64).reshape(len(frames), 10)
    everywhere = np.arange(num_frames)

    def fill(values: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(everywhere, frames, values[:, j]) for j in range(values.shape[1])], axis=1)

    boxes = fill(raw_boxes)
    points = fill(raw_points)

    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sizes = boxes[:, 2:] - boxes[:, :2]
    centres = _smooth(centres, config.smoothing_window, config.smoothing_order)
    sizes = _smooth(sizes, config.size_window, config.smoothing_order)
    points = _smooth(points, config.smoothing_window, config.smoothing_order)
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)

    detected = np.zeros(num_frames, dtype=bool)
    detected[frames] = True
    scores = np.zeros(num_frames, dtype=np.float32)
    scores[frames] = [d.score for d in best.detections]
    return FaceTrack(
        boxes=boxes.astype(np.float32),
        keypoints=points.reshape(num_frames, 5, 2).astype(np.float32),
        scores=scores,
        detected=detected,
        faces_per_frame=np.minimum(counts, np.iinfo(np.int16).max).astype(np.int16),
        frame_size=(int(frame_size[0]), int(frame_size[1])),
        checked=checked,
        detector=detector_name,
    )


def choose_detect_every(num_frames: int, max_detections: int = 1500, max_every: int = 5) -> int:
    """Detection stride for a clip of ``num_frames`` frames.

    Every frame is checked up to ``max_detections`` frames (a minute at 25 fps,
    about 10-30 s of SCRFD on 2 CPU cores); longer clips check every k-th
    frame, at most every ``max_every``-th (0.2 s at 25 fps, short enough for
    linear interpolation of a talking head).
    """
    if num_frames <= max_detections:
        return 1
    return int(min(max_every, math.ceil(num_frames / max_detections)))


def detect_face_track(
    frames: Iterable[np.ndarray],
    detector: FaceDetector,
    detect_every: int = 1,
    config: TrackConfig = TrackConfig(),
    progress: Callable[[int], None] | None = None,
) -> FaceTrack:
    """Detect faces over a clip given chunk by chunk and build its track.

    Args:
        frames: an iterable of uint8 RGB chunks ``(N, H, W, 3)`` (or single
            frames ``(H, W, 3)``); only one chunk is held at a time.
        detector: any :class:`~vfhgan_core.faces.detection.FaceDetector`.
        detect_every: run the detector on frames ``0, k, 2k, ...`` and on the
            last frame; the others are interpolated.
        config: linking and smoothing settings.
        progress: called with the number of frames processed after each chunk.

    Raises:
        NoFaceError: no face in any checked frame (or no frames at all).
        ValueError: ``detect_every < 1`` or frames change size mid-clip.
    """
    if detect_every < 1:
        raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    detections: list[list[FaceDetection] | None] = []
    frame_size: tuple[int, int] | None = None
    pending_last: np.ndarray | None = None  # copy of the last frame seen, if it was not checked
    for chunk in frames:
        chunk = np.asarray(chunk)
        if chunk.ndim == 3:
            chunk = chunk[None]
        if chunk.ndim != 4 or chunk.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (N, H, W, 3), got {chunk.shape}")
        size = (int(chunk.shape[2]), int(chunk.shape[1]))
        if frame_size is None:
            frame_size = size
        elif size != frame_size:
            raise ValueError(f"frame size changed from {frame_size} to {size} within the clip")
        for frame in chunk:
            index = len(detections)
            detections.append(detector.detect(frame) if index % detect_every == 0 else None)
        pending_last = chunk[-1].copy() if detections[-1] is None else None
        if progress is not None:
            progress(len(detections))
    if pending_last is not None:
        detections[-1] = detector.detect(pending_last)
    if frame_size is None:
        raise NoFaceError("the clip has no frames, so no face could be tracked")
    return build_face_track(detections, frame_size, config, detector_name=getattr(detector, "name", ""))
