"""Faces: detection (SCRFD, Haar fallback), one smoothed track per clip, crops and paste-back."""
from vfhgan_core.faces.crops import CropConfig, crop_faces, crop_matrices, degrade, mouth_boxes, paste_back
from vfhgan_core.faces.detection import DetectorConfig, FaceDetection, FaceDetector, load_face_detector
from vfhgan_core.faces.tracking import FaceTrack, TrackConfig, build_face_track, detect_face_track

__all__ = [
    "CropConfig", "DetectorConfig", "FaceDetection", "FaceDetector", "FaceTrack", "TrackConfig",
    "build_face_track", "crop_faces", "crop_matrices", "degrade", "detect_face_track", "load_face_detector",
    "mouth_boxes", "paste_back",
]
