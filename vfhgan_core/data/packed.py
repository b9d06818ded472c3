"""A compact, portable copy of prepared shards: for moving a training set to another machine.

Prepared shards (:mod:`vfhgan_core.data.shards`) keep the HR face crops losslessly, about
20 KB a frame once compressed. A GPU machine that receives only a few tens of MB, and has
neither PyAV nor the face detector, cannot take them, nor make them itself. A *pack* holds
the same clips in about 1 KB a frame:

- the HR crops as one H.264 video per clip, 4:4:4 chroma at a chosen CRF (14 by default:
  about 41–42 dB PSNR against the crops, far above what ×4 restoration reaches), written
  with :class:`~vfhgan_core.io.VideoWriter` (PyAV, libx264) and read back with OpenCV, which
  every machine with opencv has;
- the speech as the log-mel *columns* the clip's windows are cut from (uint8, the
  normalised [−4, 4] range in steps of 8/255, i.e. 0.4 dB), not the windows themselves,
  which repeat every column about five times; the windows are cut again on unpacking
  with :func:`vfhgan_core.audio.mel_windows` and equal the originals to that step;
- every other array and the metadata exactly.

``pack_prepared`` writes a pack from prepared folders; ``unpack`` turns it back into
prepared folders (shards and ``manifest.json``) that the trainer reads as usual. Clip ids,
word alignments and sources are kept, so speaker splits and held-out sentences are the same.

Layout::

    PACK/pack.json                       version, settings, and per source its clips
    PACK/<source>/<n>.mp4, <n>.npz       one clip: HR video, and the other arrays
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..audio import mel_columns, mel_windows
from .shards import ClipShard, load_shard
from .windows import find_clip_shards

__all__ = ["PACK_VERSION", "PackSettings", "PackError", "pack_prepared", "unpack", "read_pack_index"]

#: bumped when the layout changes; :func:`unpack` refuses other versions
PACK_VERSION = 1
_MEL_RANGE = 4.0  # AudioConfig.max_abs_value: log-mels lie in [-4, 4]


class PackError(Exception):
    """A pack cannot be written or read (what is wrong and what to do is in the message)."""


@dataclass(frozen=True)
class PackSettings:
    """How a pack encodes the face crops.

    Attributes:
        crf: libx264 constant rate factor (lower is larger and closer; 0 is lossless).
        preset: libx264 preset (slower presets make smaller files at the same quality).
    """

    crf: int = 14
    preset: str = "slow"

    def __post_init__(self) -> None:
        if not 0 <= int(self.crf) <= 51:
            raise ValueError(f"crf must be in 0..51 (libx264), got {self.crf}")


# --------------------------------------------------------------------------- mel quantisation


def _quantise(cols: np.ndarray) -> np.ndarray:
    scaled = (np.clip(cols, -_MEL_RANGE, _MEL_RANGE) + _MEL_RANGE) * (255.0 / (2 * _MEL_RANGE))
    return np.rint(scaled).astype(np.uint8)


def _dequantise(q: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * (2 * _MEL_RANGE / 255.0) - _MEL_RANGE


# --------------------------------------------------------------------------- video


def _encode_crops(hr: np.ndarray, path: Path, settings: PackSettings) -> None:
    from ..io import VideoWriter  # PyAV: only the packing side has it (a GPU machine may not)

    with VideoWriter(path, fps=25, crf=settings.crf, preset=settings.preset, pix_fmt="yuv444p") as writer:
        writer.write(hr)


def _decode_crops(path: Path) -> np.ndarray:
    import cv2  # OpenCV's FFmpeg reads the packs wherever opencv is installed

    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(bgr[:, :, ::-1])
    finally:
        cap.release()
    if not frames:
        raise PackError(f"{path}: no frame could be decoded (is OpenCV built with FFmpeg?)")
    return np.ascontiguousarray(np.stack(frames))


# --------------------------------------------------------------------------- pack / unpack


def _safe_name(i: int) -> str:
    return f"{i:05d}"


def pack_prepared(sources: Sequence[str | Path], out: str | Path, settings: PackSettings = PackSettings(),
                  keep: Callable[[str], bool] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """Write the prepared folders ``sources`` as one pack in ``out`` (see the module docstring).

    Args:
        sources: prepared folders (``vfhgan_core prepare --out``); each becomes a source of
            the pack named after its folder.
        out: the pack folder; must not exist or be empty.
        settings: the video encoding.
        keep: optional filter on clip ids (e.g. to leave out held-out sentences or to take a
            subset that fits a transfer limit).
        progress: called with (clips done, clips in all).

    Returns:
        the pack index (what ``pack.json`` holds), with ``bytes`` per source and in total.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PackError(f"{out} exists and is not empty; choose a new folder for the pack")
    names = [Path(s).name for s in sources]
    if len(set(names)) != len(names):
        raise PackError(f"two sources share a folder name ({names}); a pack names sources by folder")
    plan: list[tuple[str, str, Path]] = []
    for src, name in zip(sources, names):
        for clip_id, shard in sorted(find_clip_shards(src).items()):
            if keep is None or keep(clip_id):
                plan.append((name, clip_id, shard))
    if not plan:
        raise PackError("no clip to pack (the filter left none)")
    out.mkdir(parents=True, exist_ok=True)
    index = {"pack_version": PACK_VERSION, "settings": asdict(settings), "sources": {n: [] for n in names}}
    total = 0
    for i, (name, clip_id, shard_path) in enumerate(plan):
        shard = load_shard(shard_path)
        stem = out / name / _safe_name(len(index["sources"][name]))
        stem.parent.mkdir(parents=True, exist_ok=True)
        _encode_crops(shard.hr, stem.with_suffix(".mp4"), settings)
        try:
            cols = mel_columns(shard.mel_windows, shard.timestamps)
        except ValueError as exc:
            raise PackError(f"{clip_id}: {exc}; prepare it again with this version of vfhgan_core") from exc
        np.savez_compressed(
            stem.with_suffix(".npz"),
            mel_columns=_quantise(cols), timestamps=shard.timestamps, mouth_boxes=shard.mouth_boxes,
            keypoints=shard.keypoints, crop_matrices=shard.crop_matrices, detected=shard.detected,
            meta=np.array(json.dumps(dict(shard.meta, clip_id=clip_id))),
        )
        size = stem.with_suffix(".mp4").stat().st_size + stem.with_suffix(".npz").stat().st_size
        total += size
        index["sources"][name].append({"clip_id": clip_id, "file": stem.name, "frames": shard.num_frames,
                                       "bytes": size})
        if progress:
            progress(i + 1, len(plan))
    index["bytes"] = total
    index["frames"] = sum(c["frames"] for clips in index["sources"].values() for c in clips)
    (out / "pack.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return index


def read_pack_index(pack: str | Path) -> dict:
    """The ``pack.json`` of a pack, checked for its version."""
    path = Path(pack) / "pack.json"
    if not path.is_file():
        raise PackError(f"{pack} is not a pack (no pack.json); make one with `vfhgan_core pack`")
    index = json.loads(path.read_text(encoding="utf-8"))
    if index.get("pack_version") != PACK_VERSION:
        raise PackError(f"{pack} is pack version {index.get('pack_version')}; this vfhgan_core reads "
                        f"version {PACK_VERSION}")
    return index


def _unpack_clip(pack: Path, name: str, clip: dict, folder: Path, compress: bool) -> dict:
    stem = pack / name / clip["file"]
    try:
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise PackError(f"{stem}.npz is unreadable ({exc}); copy the pack again") from exc
    hr = _decode_crops(stem.with_suffix(".mp4"))
    if len(hr) != len(arrays["timestamps"]):
        raise PackError(f"{stem}.mp4 decodes to {len(hr)} frames, its clip has "
                        f"{len(arrays['timestamps'])}; copy the pack again")
    meta = json.loads(str(arrays.pop("meta")))
    windows = mel_windows(torch.from_numpy(_dequantise(arrays.pop("mel_columns"))), arrays["timestamps"])
    shard_rel = Path("shards") / name / f"{clip['file']}.npz"
    ClipShard(clip_id=clip["clip_id"], hr=hr, mel_windows=windows.numpy(), meta=dict(meta, packed=True),
              **arrays).save(folder / shard_rel, compress=compress)
    return {"clip_id": clip["clip_id"], "status": "ok", "frames": len(hr), "shard": str(shard_rel)}


def unpack(pack: str | Path, out_root: str | Path, workers: int = 1, compress: bool = True,
           progress: Callable[[int, int], None] | None = None) -> dict[str, Path]:
    """Turn a pack back into prepared folders ``out_root/<source>/`` (shards and ``manifest.json``).

    Args:
        pack: the pack folder.
        out_root: where the prepared folders go.
        workers: processes decoding clips at once.
        compress: compress the shards (False: larger, much faster to write; for scratch copies).
        progress: called with (clips done, clips in all).

    Returns ``{source name: prepared folder}``. A source folder whose manifest already lists
    the same clips is left as it is, so rerunning is cheap.
    """
    pack, out_root = Path(pack), Path(out_root)
    index = read_pack_index(pack)
    todo = []
    folders: dict[str, Path] = {}
    for name, clips in index["sources"].items():
        folders[name] = out_root / name
        manifest = folders[name] / "manifest.json"
        if manifest.is_file():
            have = {c["clip_id"] for c in json.loads(manifest.read_text()).get("clips", [])}
            if have == {c["clip_id"] for c in clips}:
                continue
        todo += [(name, clip) for clip in clips]
    records: dict[str, list[dict]] = {}
    if workers > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: a forked child of a process with running threads (torch's, a test
        # runner's) can deadlock on a lock it inherited held
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_unpack_clip, pack, name, clip, folders[name], compress) for name, clip in todo]
            for i, ((name, _), fut) in enumerate(zip(todo, futures)):
                records.setdefault(name, []).append(fut.result())
                if progress:
                    progress(i + 1, len(todo))
    else:
        for i, (name, clip) in enumerate(todo):
            records.setdefault(name, []).append(_unpack_clip(pack, name, clip, folders[name], compress))
            if progress:
                progress(i + 1, len(todo))
    for name, recs in records.items():
        manifest = folders[name] / "manifest.json"
        tmp = manifest.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"clips": recs, "ok": len(recs), "skipped": 0, "from_pack": str(pack)},
                                  indent=1), encoding="utf-8")
        os.replace(tmp, manifest)
    return folders
