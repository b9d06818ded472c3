"""Prepared clips on disk: one compressed ``.npz`` shard per clip.

A shard holds everything training and evaluation need from a clip, already
aligned frame by frame:

========================  =====================  ==============================================
key                       dtype, shape           meaning
========================  =====================  ==============================================
``hr``                    uint8 (T, S, S, 3)     RGB face crops at the HR size (128)
``timestamps``            float64 (T,)           seconds of each frame from the first frame
``mel_windows``           float16 (T, 1, 80, 16) log-mel window of each frame (audio.mel_windows)
``mouth_boxes``           float32 (T, 4)         x1, y1, x2, y2 of the mouth in crop pixels
``keypoints``             float32 (T, 5, 2)      the 5 face keypoints in crop pixels
``crop_matrices``         float32 (T, 2, 3)      affine map from frame pixels to crop pixels
``detected``              bool (T,)              the face was detected (not interpolated)
``meta``                  0-d str                JSON: source, fps, detector, words, ...
========================  =====================  ==============================================

The LR input is not stored: it is made from ``hr`` by the configured
degradation when the shard is read, so one set of shards serves any
degradation. A shard is written to a temporary name and renamed when
complete, so an interrupted run never leaves a file that reads as good.
"""
from __future__ import annotations

import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: bumped when the layout changes; readers refuse shards of another version
SHARD_VERSION = 1
SHARD_SUFFIX = ".npz"
_ARRAY_KEYS = ("hr", "timestamps", "mel_windows", "mouth_boxes", "keypoints", "crop_matrices", "detected")


class ShardError(Exception):
    """A shard file is missing, incomplete or of another version."""


def _temporary_path(path: Path) -> Path:
    """Where :meth:`ClipShard.save` writes ``path`` before renaming it: ``.NAME.PID.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def is_abandoned_temporary(tmp: Path, max_age_s: float = 6 * 3600) -> bool:
    """Whether a temporary shard file (``.NAME.PID.tmp``) has no running writer.

    It has none when its process is gone or is this one, when the name carries
    no process id, or when it has not been written to for ``max_age_s`` (a
    process id reused since, or a writer on another machine sharing the folder).
    """
    try:
        pid = int(tmp.name.rsplit(".", 2)[-2])
        age = time.time() - tmp.stat().st_mtime
    except (ValueError, IndexError, OSError):
        return True
    if pid == os.getpid() or age > max_age_s:
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, owned by another user
        pass
    return False


@dataclass
class ClipShard:
    """One prepared clip (see the module docstring for the arrays)."""

    clip_id: str
    hr: np.ndarray
    timestamps: np.ndarray
    mel_windows: np.ndarray
    mouth_boxes: np.ndarray
    keypoints: np.ndarray
    crop_matrices: np.ndarray
    detected: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = len(self.hr)
        for key in _ARRAY_KEYS:
            arr = getattr(self, key)
            if len(arr) != t:
                raise ShardError(f"clip {self.clip_id}: {key} has {len(arr)} frames, hr has {t}")

    @property
    def num_frames(self) -> int:
        return int(len(self.hr))

    @property
    def words(self) -> list[tuple[str, float, float]]:
        """Word alignment ``(word, start_s, end_s)`` where the source had one, else ``[]``."""
        return [tuple(w) for w in self.meta.get("words", [])]  # type: ignore[misc]

    def save(self, path: str | Path, compress: bool = True) -> Path:
        """Write atomically (temporary file in the same folder, then rename).

        ``compress=False`` writes the arrays as they are: about 8 times larger and many
        times faster to write (for scratch copies, e.g. an unpacked pack)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary_path(path)
        meta = dict(self.meta, clip_id=self.clip_id, shard_version=SHARD_VERSION)
        try:
            with open(tmp, "wb") as fh:
                (np.savez_compressed if compress else np.savez)(
                    fh,
                    hr=np.ascontiguousarray(self.hr, dtype=np.uint8),
                    timestamps=np.asarray(self.timestamps, dtype=np.float64),
                    mel_windows=np.asarray(self.mel_windows, dtype=np.float16),
                    mouth_boxes=np.asarray(self.mouth_boxes, dtype=np.float32),
                    keypoints=np.asarray(self.keypoints, dtype=np.float32),
                    crop_matrices=np.asarray(self.crop_matrices, dtype=np.float32),
                    detected=np.asarray(self.detected, dtype=bool),
                    meta=np.array(json.dumps(meta)),
                )
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path


def load_shard(path: str | Path) -> ClipShard:
    """Read a shard written by :meth:`ClipShard.save`; :class:`ShardError` if it is not a good one."""
    path = Path(path)
    meta = read_shard_meta(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in _ARRAY_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ShardError(f"{path}: unreadable shard ({exc}); delete it and run prepare again") from exc
    return ClipShard(clip_id=meta["clip_id"], meta=meta, **arrays)


def read_shard_meta(path: str | Path) -> dict[str, Any]:
    """Only the metadata of a shard, without decompressing its arrays.

    Raises :class:`ShardError` when the file is not a complete shard of this
    version (the zip directory is at the end of the file, so a truncated file
    fails here).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in (*_ARRAY_KEYS, "meta") if k not in data.files]
            if missing:
                raise ShardError(f"{path}: not a complete shard (missing {', '.join(missing)})")
            meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ShardError(f"{path}: unreadable shard ({exc})") from exc
    if meta.get("shard_version") != SHARD_VERSION:
        raise ShardError(f"{path}: shard version {meta.get('shard_version')}, expected {SHARD_VERSION}")
    return meta


def is_complete_shard(path: str | Path) -> bool:
    """True when ``path`` is a complete shard of this version (used to skip finished clips)."""
    try:
        read_shard_meta(path)
    except (ShardError, FileNotFoundError):
        return False
    return True
