"""Face detection: insightface SCRFD (5 keypoints) with an OpenCV Haar fallback.

Frames are RGB ``uint8`` arrays of shape ``(H, W, 3)``. A detector returns one
:class:`FaceDetection` per face, in frame pixel coordinates.

:class:`ScrfdDetector` runs an SCRFD ONNX model (insightface's ``det_500m`` /
``det_10g``) on the CPU. Two things make it reliable on the clips this project
sees:

* **Border.** The frame is framed by a black border (``pad_fraction`` of its
  shorter side on every side) so a face that fills a tight crop (a 160x160 or
  224x224 LRS2/VoxCeleb-style clip) still has context around it.
* **No upscaling.** SCRFD misses faces that are too large in its input
  (roughly above 300 px). The bordered frame is shrunk to fit ``det_size`` but
  never enlarged beyond ``max_upscale`` (default 1: never enlarged), and the
  network input is the bordered frame's own aspect ratio rounded up to a
  multiple of 32 (a 1280x720 frame runs at 640x384, not 640x640).

Boxes and keypoints are mapped back to the original frame; they may lie slightly
outside it when the face touches the frame edge.

:func:`load_face_detector` finds a model (explicit path, ``VFHGAN_DETECTOR_MODEL``,
insightface's model cache, insightface's own download with a hard timeout) and
falls back to :class:`HaarDetector` with a warning when none can be had.
"""
from __future__ import annotations

import glob
import logging
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from vfhgan_core.errors import DetectorUnavailableError

logger = logging.getLogger(__name__)

#: environment variable naming an SCRFD ``.onnx`` file
DETECTOR_MODEL_ENV = "VFHGAN_DETECTOR_MODEL"
#: insightface model pack downloaded for its detector ``det_500m.onnx`` (SCRFD-500M,
#: 2.5 MB); the zip also holds recognition and landmark models, so it is much larger
INSIGHTFACE_PACK = "buffalo_s"
#: detector files looked for in insightface's cache, best first within each pack
_CACHED_DETECTORS = (
    ("buffalo_s", "det_500m.onnx"),
    ("buffalo_sc", "det_500m.onnx"),
    ("buffalo_m", "det_2.5g.onnx"),
    ("buffalo_l", "det_10g.onnx"),
)

_HOW_TO_GET_SCRFD = (
    "To use the SCRFD detector, pass --detector-model PATH (an insightface "
    "SCRFD .onnx such as det_500m.onnx from the buffalo_s pack) or set "
    f"{DETECTOR_MODEL_ENV}=PATH, or let insightface download '{INSIGHTFACE_PACK}' "
    "into ~/.insightface/models once while online."
)


@dataclass
class FaceDetection:
    """One detected face.

    Attributes:
        box: float32 ``(4,)`` ``x1, y1, x2, y2`` in frame pixels.
        keypoints: float32 ``(5, 2)`` ``(x, y)`` of left eye, right eye, nose,
            left mouth corner, right mouth corner (insightface order; "left"
            means image left).
        score: detection confidence in ``[0, 1]``.
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return float(self.box[3] - self.box[1])

    @property
    def size(self) -> float:
        """Face size in pixels: geometric mean of box width and height."""
        return float(np.sqrt(max(self.width, 0.0) * max(self.height, 0.0)))

    @property
    def center(self) -> np.ndarray:
        """float32 ``(2,)`` box centre ``(x, y)``."""
        return np.array(
            [(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], dtype=np.float32
        )


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces in one RGB frame."""

    #: short name recorded in dataset manifests ("scrfd", "haar")
    name: str

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        """Faces in ``frame_rgb`` (uint8 ``(H, W, 3)`` RGB), best score first."""
        ...


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"expected an RGB uint8 frame of shape (H, W, 3), got {frame.dtype} {frame.shape}"
        )
    if frame.shape[0] < 8 or frame.shape[1] < 8:
        raise ValueError(f"frame {frame.shape[1]}x{frame.shape[0]} is too small to hold a face")
    return frame


def _round_up(value: float, multiple: int) -> int:
    return int(-(-int(np.ceil(value)) // multiple) * multiple)


class ScrfdDetector:
    """insightface SCRFD detector with 5 keypoints, run by ONNX Runtime.

    Args:
        model_path: an SCRFD ``.onnx`` file with keypoint outputs.
        det_size: the longer side (pixels) of the network input; the bordered
            frame is shrunk to fit it. Smaller is faster: on a 360x288 GRID
            frame 640 (run as 512x448, since frames are never enlarged) ->
            ~8 ms, 320 -> ~4 ms, 160 -> ~1.4 ms on 2 CPU cores; on a 1280x720
            frame 640 -> ~15 ms, 320 -> ~5 ms.
            Faces about 15-20 px wide in the network input are still found:
            in a 1280x720 frame, faces down to about 25 px at 640 and
            about 19 px at 960 or more.
        threshold: minimum detection score in ``[0, 1]``.
        pad_fraction: black border added on every side, as a fraction of the
            frame's shorter side (see the module docstring).
        max_upscale: largest factor by which the bordered frame is enlarged to
            reach ``det_size`` (1.0 = never enlarged).
        nms_threshold: IoU above which overlapping boxes are merged.
        providers: ONNX Runtime execution providers.

    Raises:
        DetectorUnavailableError: the file is missing or is not an SCRFD
            detector with keypoints.
    """

    name = "scrfd"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        det_size: int = 640,
        threshold: float = 0.5,
        pad_fraction: float = 0.25,
        max_upscale: float = 1.0,
        nms_threshold: float = 0.4,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
    ) -> None:
        if det_size < 32:
            raise ValueError(f"det_size must be at least 32 pixels, got {det_size}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        if pad_fraction < 0 or max_upscale <= 0:
            raise ValueError("pad_fraction must be >= 0 and max_upscale > 0")
        self.model_path = Path(model_path).expanduser()
        self.det_size = int(det_size)
        self.threshold = float(threshold)
        self.pad_fraction = float(pad_fraction)
        self.max_upscale = float(max_upscale)
        self._model = _load_scrfd(self.model_path, tuple(providers))
        self._model.nms_thresh = float(nms_threshold)

    def __repr__(self) -> str:
        return (
            f"ScrfdDetector({str(self.model_path)!r}, det_size={self.det_size}, "
            f"threshold={self.threshold})"
        )

    def input_geometry(self, width: int, height: int) -> tuple[float, int, tuple[int, int], tuple[int, int]]:
        """How a ``width`` x ``height`` frame is fed to the network.

        Returns:
            ``(scale, offset, (inner_width, inner_height), (input_width, input_height))``:
            the resize factor from frame to network pixels, the border in
            network pixels on the left and top, the resized frame's size and
            the network input size (the frame plus its border, rounded up to
            multiples of 32; its longer side is ``det_size`` rounded up to 32
            unless the frame is smaller).
        """
        border = self.pad_fraction * min(width, height)
        longest = max(width, height) + 2 * border
        scale = min(self.det_size / longest, self.max_upscale)
        inner = (max(1, int(width * scale)), max(1, int(height * scale)))
        offset = int(border * scale)
        input_size = (_round_up(inner[0] + 2 * offset, 32), _round_up(inner[1] + 2 * offset, 32))
        return scale, offset, inner, input_size

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        """Faces in ``frame_rgb`` (uint8 ``(H, W, 3)`` RGB), best score first."""
        frame = _check_frame(frame_rgb)
        height, width = frame.shape[:2]
        scale, offset, (inner_w, inner_h), (in_w, in_h) = self.input_geometry(width, height)
        small, sx, sy = _resize_for_detection(frame, (inner_w, inner_h))
        canvas = np.zeros((in_h, in_w, 3), dtype=np.uint8)
        canvas[offset : offset + inner_h, offset : offset + inner_w] = small[:, :, ::-1]  # insightface wants BGR
        # the canvas already has the network's input size, so SCRFD does not resize it again
        dets, kpss = self._model.detect(canvas, input_size=(in_w, in_h), det_thresh=self.threshold)
        # resized pixel x' = (x + 0.5) * sx - 0.5, so x = (x' + 0.5) / sx - 0.5
        to_frame = np.array([sx, sy], dtype=np.float64)
        faces = []
        for index, det in enumerate(dets):
            corners = (det[:4].reshape(2, 2) - offset + 0.5) / to_frame - 0.5
            points = (kpss[index] - offset + 0.5) / to_frame - 0.5
            faces.append(
                FaceDetection(
                    box=corners.reshape(4).astype(np.float32),
                    keypoints=points.astype(np.float32),
                    score=float(det[4]),
                )
            )
        faces.sort(key=lambda f: -f.score)
        return faces


def _resize_for_detection(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, float]:
    """Resize ``frame`` to ``size`` (width, height) quickly without much aliasing.

    Shrinking by a large factor first averages whole ``k x k`` blocks (OpenCV's
    fast integer ``INTER_AREA`` path, after dropping at most ``k - 1`` columns
    and rows on the right and bottom), then interpolates linearly by the
    remaining factor (below 2). Returns ``(image, sx, sy)`` where a pixel at
    ``x`` in the frame lands at ``(x + 0.5) * sx - 0.5`` in the image.
    """
    height, width = frame.shape[:2]
    target_w, target_h = size
    if (target_w, target_h) == (width, height):
        return frame, 1.0, 1.0
    k = int(min(width / target_w, height / target_h))
    used_w, used_h = width, height
    if k >= 2:
        used_w, used_h = (width // k) * k, (height // k) * k
        frame = cv2.resize(
            np.ascontiguousarray(frame[:used_h, :used_w]), (used_w // k, used_h // k), interpolation=cv2.INTER_AREA
        )
    if frame.shape[1] != target_w or frame.shape[0] != target_h:
        frame = cv2.resize(np.ascontiguousarray(frame), (target_w, target_h), interpolation=cv2.INTER_LINEAR)
    return frame, target_w / used_w, target_h / used_h


def _load_scrfd(path: Path, providers: tuple[str, ...]):
    """Load an SCRFD model through insightface, turning every failure into a clear error."""
    if not path.exists():
        raise DetectorUnavailableError(
            f"face detector model not found: {path}. {_HOW_TO_GET_SCRFD}"
        )
    if not path.is_file():
        raise DetectorUnavailableError(
            f"face detector model path is not a file: {path}. {_HOW_TO_GET_SCRFD}"
        )
    try:
        import onnxruntime
        from insightface.model_zoo import get_model
        from insightface.model_zoo.scrfd import SCRFD

        onnxruntime.set_default_logger_severity(3)
        model = get_model(str(path), providers=list(providers))
    except Exception as exc:  # onnx/onnxruntime raise many unrelated types for a bad file
        raise DetectorUnavailableError(
            f"could not load the face detector {path}: it is not a readable ONNX model "
            f"({type(exc).__name__}: {exc}). {_HOW_TO_GET_SCRFD}"
        ) from exc
    if not isinstance(model, SCRFD) or not model.use_kps:
        raise DetectorUnavailableError(
            f"{path} is an ONNX model but not an SCRFD face detector with 5 keypoints "
            f"(insightface recognised it as {type(model).__name__}). {_HOW_TO_GET_SCRFD}"
        )
    return model


# --- Haar fallback -----------------------------------------------------------------

#: Where the 5 keypoints sit inside the Haar cascade's square box, as fractions
#: ``(x, y)`` of the box side from its top-left corner, for a frontal face:
#: eyes at 32 % / 68 % across and 39.5 % down, nose tip in the middle at
#: 59.5 % down, mouth corners at 35.5 % / 64.5 % across and 78.5 % down.
#: Measured (median, made left-right symmetric) as SCRFD's keypoints inside the
#: Haar box on 132 frontal GRID, VoxCeleb2, HDTF and MEAD frames; the spread
#: between faces is about 0.02-0.035 of the box side.
HAAR_KEYPOINT_FRACTIONS = np.array(
    [[0.32, 0.395], [0.68, 0.395], [0.50, 0.595], [0.355, 0.785], [0.645, 0.785]], dtype=np.float32
)
#: SCRFD's box relative to the Haar box on the same frames, as ``(x, y, w, h)``
#: fractions of the Haar box side: narrower (cheek to cheek) and taller
#: (forehead to chin). Haar boxes are turned into SCRFD-like boxes with it so
#: the tracker and the crops see the same face extent from either detector.
HAAR_TO_FACE_BOX = np.array([0.12, -0.03, 0.76, 1.10], dtype=np.float32)


class HaarDetector:
    """OpenCV Haar cascade (frontal faces only): the offline fallback.

    It needs no model download but misses profile and tilted faces and gives
    no landmarks: the 5 keypoints are placed at fixed proportions of the box
    (:data:`HAAR_KEYPOINT_FRACTIONS`) and the box is enlarged to SCRFD's
    forehead-to-chin extent (:data:`HAAR_TO_FACE_BOX`). The score is
    ``1 - exp(-n / 8)`` for ``n`` overlapping raw hits (OpenCV's neighbour
    count), so it grows with the cascade's confidence but is not calibrated
    like SCRFD's.

    The search is coarse to fine: faces whose side is at least
    ``coarse_fraction`` of the frame's shorter side are looked for first, and
    the full search down to ``min_face`` runs only on frames where none is
    found. A cascade scans its pyramid level by level, so the coarse pass
    skips the large fine levels that cost most of the time (a 512 x 512 HDTF
    frame: about 8x faster; a 360 x 288 GRID frame: 2-3x), and it finds big
    faces with the same boxes and neighbour counts as the full search
    (checked on GRID, VoxCeleb2 and HDTF frames in ``tests/faces/test_detection.py``).
    Small faces beside a big one are then not reported; the tracker follows
    the big face in any case.

    Args:
        min_face: smallest face side in pixels searched for.
        scale_factor: image pyramid step of ``detectMultiScale``.
        min_neighbors: raw hits needed to keep a face.
        coarse_fraction: smallest face side of the coarse pass, as a fraction
            of the frame's shorter side (0 searches every frame fully).
    """

    name = "haar"

    def __init__(
        self, min_face: int = 20, scale_factor: float = 1.1, min_neighbors: int = 5, coarse_fraction: float = 0.25
    ) -> None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise DetectorUnavailableError(
                f"OpenCV's Haar cascade could not be loaded from {path}; "
                "install opencv-python 4.x (5.x ships no cascades). " + _HOW_TO_GET_SCRFD
            )
        self.min_face = int(min_face)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        if not 0.0 <= coarse_fraction <= 1.0:
            raise ValueError(f"coarse_fraction must be in [0, 1], got {coarse_fraction}")
        self.coarse_fraction = float(coarse_fraction)

    def __repr__(self) -> str:
        return f"HaarDetector(min_face={self.min_face})"

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        """Frontal faces in ``frame_rgb`` (uint8 ``(H, W, 3)`` RGB), best score first."""
        frame = _check_frame(frame_rgb)
        gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        coarse = int(self.coarse_fraction * min(gray.shape))
        for min_side in ([coarse] if coarse > self.min_face else []) + [self.min_face]:
            rects, neighbours = self._cascade.detectMultiScale2(
                gray,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(min_side, min_side),
            )
            if len(rects):
                break
        faces = []
        for (x, y, w, h), n in zip(np.asarray(rects).reshape(-1, 4), np.asarray(neighbours).reshape(-1)):
            side = float(w)
            origin = np.array([x, y], dtype=np.float32)
            points = origin + HAAR_KEYPOINT_FRACTIONS * side
            fx, fy, fw, fh = HAAR_TO_FACE_BOX * side
            box = np.array([x + fx, y + fy, x + fx + fw, y + fy + fh], dtype=np.float32)
            faces.append(
                FaceDetection(box=box, keypoints=points.astype(np.float32), score=float(1 - np.exp(-n / 8)))
            )
        faces.sort(key=lambda f: -f.score)
        return faces


# --- loading -----------------------------------------------------------------------


@dataclass(frozen=True)
class DetectorConfig:
    """How :func:`load_face_detector` finds a detector.

    Attributes:
        model_path: SCRFD ``.onnx`` file; ``None`` looks further (see
            :func:`load_face_detector`).
        det_size: network input's longer side in pixels (see :class:`ScrfdDetector`).
        threshold: minimum detection score.
        allow_download: let insightface download its ``buffalo_s`` pack when no
            model is found locally.
        download_timeout: seconds after which the download is abandoned.
        allow_fallback: use the Haar cascade (with a warning) when no SCRFD
            model can be had; ``False`` raises :class:`DetectorUnavailableError`.
        insightface_root: insightface's cache root; ``None`` means its default
            ``~/.insightface`` (models live in ``<root>/models/<pack>/``).
    """

    model_path: str | None = None
    det_size: int = 640
    threshold: float = 0.5
    allow_download: bool = True
    download_timeout: float = 60.0
    allow_fallback: bool = True
    insightface_root: str | None = None


def insightface_root(config: DetectorConfig = DetectorConfig()) -> Path:
    """insightface's cache root (``~/.insightface`` unless configured)."""
    return Path(os.path.expanduser(config.insightface_root or "~/.insightface"))


def find_cached_detector(root: Path) -> Path | None:
    """An SCRFD file already in insightface's cache under ``root``, or ``None``."""
    for pack, filename in _CACHED_DETECTORS:
        pack_dir = root / "models" / pack
        direct = pack_dir / filename
        if direct.is_file():
            return direct
        # some zips hold a folder named after the pack
        nested = sorted(glob.glob(str(pack_dir / "**" / filename), recursive=True))
        if nested:
            return Path(nested[0])
    return None


_DOWNLOAD_SCRIPT = (
    "import sys\n"
    "from insightface.utils.storage import ensure_available\n"
    "ensure_available('models', sys.argv[1], root=sys.argv[2])\n"
)


def download_insightface_pack(root: Path, pack: str = INSIGHTFACE_PACK, timeout: float = 60.0) -> str | None:
    """Run insightface's own pack download with a hard time limit.

    insightface's download has no timeout, so it runs in a child process that
    is killed after ``timeout`` seconds.

    Returns:
        ``None`` on success, else a one-line reason the download failed.
    """
    try:
        result = subprocess.run(
            [sys.executable, "-c", _DOWNLOAD_SCRIPT, pack, str(root)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"the download of insightface's '{pack}' pack did not finish within {timeout:g} s"
    except OSError as exc:
        return f"could not start the download of insightface's '{pack}' pack: {exc}"
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {result.returncode}"
        kind, _, detail = last.partition(": ")
        if "ConnectionError" in kind or "NameResolution" in detail:
            return f"the download of insightface's '{pack}' pack failed: no connection ({kind.rsplit('.', 1)[-1]})"
        return f"the download of insightface's '{pack}' pack failed: {last[:160]}"
    return None


def load_face_detector(config: DetectorConfig = DetectorConfig()) -> FaceDetector:
    """Return the best face detector that can be had.

    Resolution order:

    1. ``config.model_path`` (must load, else :class:`DetectorUnavailableError`);
    2. the ``VFHGAN_DETECTOR_MODEL`` environment variable (same rule);
    3. a detector already in insightface's cache
       (``<root>/models/buffalo_s/det_500m.onnx``, then the detectors of the
       ``buffalo_sc``, ``buffalo_m`` and ``buffalo_l`` packs);
    4. insightface's download of the ``buffalo_s`` pack, abandoned after
       ``config.download_timeout`` seconds (only if ``allow_download``);
    5. :class:`HaarDetector` with a ``UserWarning`` saying why and how to get
       SCRFD (only if ``allow_fallback``), else
       :class:`DetectorUnavailableError` with the same advice.
    """
    kwargs = dict(det_size=config.det_size, threshold=config.threshold)
    if config.model_path:
        return ScrfdDetector(config.model_path, **kwargs)
    env_path = os.environ.get(DETECTOR_MODEL_ENV, "").strip()
    if env_path:
        try:
            return ScrfdDetector(env_path, **kwargs)
        except DetectorUnavailableError as exc:
            raise DetectorUnavailableError(f"{DETECTOR_MODEL_ENV} is set but unusable: {exc}") from exc

    root = insightface_root(config)
    reasons = []
    cached = find_cached_detector(root)
    if cached is not None:
        try:
            return ScrfdDetector(cached, **kwargs)
        except DetectorUnavailableError as exc:
            reasons.append(f"the cached detector {cached} is damaged ({exc.__cause__ or exc})")
    else:
        reasons.append(f"no detector in insightface's cache {root / 'models'}")

    if config.allow_download:
        logger.info("downloading insightface's %s pack into %s", INSIGHTFACE_PACK, root)
        failure = download_insightface_pack(root, INSIGHTFACE_PACK, config.download_timeout)
        downloaded = find_cached_detector(root) if failure is None else None
        if downloaded is not None:
            try:
                return ScrfdDetector(downloaded, **kwargs)
            except DetectorUnavailableError as exc:
                failure = f"the downloaded detector {downloaded} does not load ({exc.__cause__ or exc})"
        elif failure is None:
            failure = (
                f"{root / 'models' / INSIGHTFACE_PACK} holds no det_500m.onnx "
                "(delete that folder to download the pack again)"
            )
        reasons.append(failure)
    else:
        reasons.append("downloading is disabled")

    why = "; ".join(reasons)
    if not config.allow_fallback:
        raise DetectorUnavailableError(f"no SCRFD face detector is available: {why}. {_HOW_TO_GET_SCRFD}")
    message = (
        f"no SCRFD face detector is available ({why}); falling back to OpenCV's Haar "
        "cascade, which finds only frontal faces and estimates the keypoints. " + _HOW_TO_GET_SCRFD
    )
    logger.warning(message)
    warnings.warn(message, UserWarning, stacklevel=2)
    return HaarDetector()
