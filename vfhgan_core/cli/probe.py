"""``probe``: what the pipeline sees in a video, without preparing it."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from vfhgan_core.errors import FaceError
from vfhgan_core.faces.clip import PipelineConfig, track_clip
from vfhgan_core.faces.detection import DetectorConfig, load_face_detector
from vfhgan_core.faces.tracking import choose_detect_every
from vfhgan_core.io import probe_video


def probe_clip(
    path: str,
    detector: DetectorConfig | None = DetectorConfig(),
    max_seconds: float = 10.0,
) -> dict[str, Any]:
    """Describe a clip: container, video, audio, and faces in its first ``max_seconds``.

    ``detector=None`` skips the face pass. Media errors (not a video, corrupt
    file, ...) propagate; face errors are reported in ``faces["error"]``.
    """
    info = probe_video(path)
    report: dict[str, Any] = {
        "path": info.path,
        "container": info.container,
        "codec": info.codec,
        "duration": round(info.duration, 3),
        "fps": round(info.fps, 3),
        "frame_count": info.frame_count,
        "frame_count_exact": info.frame_count_exact,
        "variable_frame_rate": info.variable_frame_rate,
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "audio": asdict(info.audio) if info.audio else None,
    }
    if detector is None:
        return report
    seconds = min(info.duration, max_seconds) if max_seconds else info.duration
    # long clips: detect on fewer frames, the track interpolates the rest
    detect_every = choose_detect_every(int(seconds * info.fps), max_detections=250)
    config = PipelineConfig(detector=detector, detect_every=detect_every)
    det = load_face_detector(detector)
    faces: dict[str, Any] = {"detector": getattr(det, "name", type(det).__name__), "seconds_checked": round(seconds, 3)}
    try:
        _, track, _ = track_clip(path, det, config, duration=seconds)
        widths = track.boxes[:, 2] - track.boxes[:, 0]
        faces.update(
            frames_checked=int(track.num_frames),
            max_faces=int(track.max_faces),
            mean_faces=round(float(np.mean(track.faces_per_frame)), 3),
            track_coverage=round(float(track.coverage), 4),
            frames_interpolated=int(track.num_interpolated),
            face_width_px=round(float(np.median(widths)), 1),
            warnings=track.issues(),
        )
    except FaceError as exc:
        faces.update(error=str(exc), reason=exc.reason, max_faces=0, track_coverage=0.0)
    report["faces"] = faces
    return report


def format_probe(report: dict[str, Any]) -> str:
    """A readable multi-line summary of :func:`probe_clip`'s report."""
    lines = [
        f"file:       {report['path']}",
        f"container:  {report['container']} ({report['codec']})",
        f"video:      {report['width']}x{report['height']}, {report['fps']} fps"
        + (" (variable)" if report["variable_frame_rate"] else "")
        + (f", rotated {report['rotation']} deg" if report["rotation"] else ""),
        f"duration:   {report['duration']} s, {report['frame_count']} frames"
        + ("" if report["frame_count_exact"] else " (estimated: the container does not say)"),
    ]
    audio = report["audio"]
    if audio:
        lines.append(
            f"audio:      {audio['sample_rate']} Hz, {audio['channels']} channel(s), "
            f"{audio['duration']:.3f} s ({audio['codec']})"
        )
    else:
        lines.append("audio:      none (no audio stream: restoration runs without speech)")
    faces = report.get("faces")
    if faces is not None:
        if "error" in faces:
            lines.append(f"faces:      {faces['error']}")
        else:
            lines.append(
                f"faces:      up to {faces['max_faces']} per frame (mean {faces['mean_faces']}); "
                f"track covers {100 * faces['track_coverage']:.1f}% of {faces['frames_checked']} frames "
                f"in the first {faces['seconds_checked']} s, face ~{faces['face_width_px']} px wide "
                f"[{faces['detector']}]"
            )
            lines += [f"            warning: {w}" for w in faces.get("warnings", [])]
    return "\n".join(lines)
