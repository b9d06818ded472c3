"""``prepare``: turn folders of talking-face videos into training shards.

Output folder layout::

    OUT/
      prepare_config.json   the PipelineConfig used (a rerun with other settings is refused;
                            settings added since the folder was made count as their defaults)
      shards/<clip id>.npz  one ClipShard per usable clip (see vfhgan_core.data.shards)
      manifest.jsonl        one line per finished clip, appended as clips finish
      manifest.json         every clip, ok or skipped with the reason, rewritten at the end

Resumable: a rerun skips unchanged sources (same size and modification time,
or, when only the time changed, the same SHA-256) whose shard is complete, and
clips skipped before for a reason that a rerun cannot change (no audio, no
face, unreadable file), unless ``retry_skipped``. Shards are renamed into
place only when complete, so an interrupted run leaves nothing half-written
that reads as good.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import re
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.data.alignments import find_align_file, read_align
from vfhgan_core.data.shards import SHARD_SUFFIX, ClipShard, is_abandoned_temporary, is_complete_shard
from vfhgan_core.errors import VFHGANError
from vfhgan_core.faces.clip import PipelineConfig, extract_face_clip

log = logging.getLogger(__name__)

#: file suffixes taken as videos when a folder is given
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mpg", ".mpeg", ".avi", ".mov", ".webm", ".mkv"})


@dataclass(frozen=True)
class SourceClip:
    """A video to prepare, its id in the dataset and its word alignment file, if any."""

    path: Path
    clip_id: str
    align: Path | None = None


@dataclass
class ClipRecord:
    """One line of the manifest."""

    clip_id: str
    source: str
    status: str                    # "ok" or "skipped"
    reason: str = ""               # for skipped clips: no_audio, no_face, not_a_video, corrupt, ...
    message: str = ""
    frames: int = 0
    shard: str = ""
    seconds: float = 0.0
    source_size: int = 0
    source_mtime: float = 0.0
    source_sha256: str = ""        # content hash: a copied or re-provisioned file keeps its shard


@dataclass
class PrepareSummary:
    """What a ``prepare`` run did."""

    out_dir: Path
    records: list[ClipRecord] = field(default_factory=list)
    processed: int = 0             # clips worked on in this run
    reused: int = 0                # clips skipped because an earlier run finished them
    seconds: float = 0.0           # wall time of this run
    frames_processed: int = 0      # frames of the clips worked on in this run

    @property
    def ok(self) -> list[ClipRecord]:
        return [r for r in self.records if r.status == "ok"]

    @property
    def skipped(self) -> list[ClipRecord]:
        return [r for r in self.records if r.status != "ok"]

    @property
    def frames_per_second(self) -> float:
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0


def _safe_id(text: str) -> str:
    return re.sub(r"[^\w.\-/]+", "_", text, flags=re.UNICODE).strip("/")


def discover_sources(sources: list[str | Path]) -> list[SourceClip]:
    """Expand files and folders into clips with stable, unique ids.

    A folder ``.../grid_s1`` gives ids ``grid_s1/video/bbaf2n`` (its name, then
    the path inside it, without suffix); a file gives ``<folder>/<stem>``.
    Raises ``FileNotFoundError`` for a source that does not exist.
    """
    clips: dict[str, SourceClip] = {}
    for src in sources:
        src = Path(src)
        if not src.exists():
            raise FileNotFoundError(f"no such file or folder: {src}")
        if src.is_dir():
            files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            entries = [(p, f"{src.resolve().name}/{p.relative_to(src).with_suffix('').as_posix()}") for p in files]
        else:
            entries = [(src, f"{src.resolve().parent.name}/{src.stem}")]
        for path, cid in entries:
            cid = _safe_id(cid)
            base, n = cid, 2
            while cid in clips and clips[cid].path.resolve() != path.resolve():
                cid, n = f"{base}-{n}", n + 1
            clips[cid] = SourceClip(path=path, clip_id=cid, align=find_align_file(path))
    return list(clips.values())


# --------------------------------------------------------------------------- worker side

_WORKER: dict[str, Any] = {}


def _init_worker(pipeline: dict[str, Any]) -> None:
    """Load the detector once per worker process."""
    import cv2
    import torch

    from vfhgan_core.faces.detection import load_face_detector

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    config = from_dict(PipelineConfig, pipeline)
    _WORKER["config"] = config
    _WORKER["detector"] = load_face_detector(config.detector)


def _prepare_one(clip: SourceClip, shard_path: Path, require_audio: bool) -> ClipRecord:
    config: PipelineConfig = _WORKER["config"]
    detector = _WORKER["detector"]
    stat = clip.path.stat()
    record = ClipRecord(
        clip_id=clip.clip_id,
        source=str(clip.path),
        status="skipped",
        source_size=stat.st_size,
        source_mtime=stat.st_mtime,
        source_sha256=_sha256(clip.path),
    )
    t0 = time.perf_counter()
    try:
        face_clip = extract_face_clip(str(clip.path), detector, config, require_audio=require_audio)
        words = [[w.word, w.start, w.end] for w in read_align(clip.align)] if clip.align else []
        track = face_clip.track
        meta = {
            "source": str(clip.path),
            "fps": face_clip.info.fps,
            "width": face_clip.info.width,
            "height": face_clip.info.height,
            "duration": face_clip.info.duration,
            "has_audio": face_clip.has_audio,
            "audio_seconds": len(face_clip.audio) / config.audio.sample_rate,
            "detector": getattr(detector, "name", type(detector).__name__),
            "frames_interpolated": int(track.num_interpolated),
            "max_faces": int(track.max_faces),
            "words": words,
            "align_file": str(clip.align) if clip.align else None,
            "pipeline": to_dict(config),
        }
        ClipShard(
            clip_id=clip.clip_id,
            hr=face_clip.hr,
            timestamps=face_clip.timestamps,
            mel_windows=face_clip.mel_windows.numpy(),
            mouth_boxes=face_clip.mouth_boxes,
            keypoints=face_clip.keypoints,
            crop_matrices=face_clip.crop_matrices,
            detected=track.detected,
            meta=meta,
        ).save(shard_path)
        record.status = "ok"
        record.frames = face_clip.num_frames
        record.shard = str(shard_path)
    except VFHGANError as exc:
        record.reason, record.message = exc.reason, str(exc)
    except Exception as exc:  # one broken file must not stop a dataset run
        record.reason, record.message = "error", f"{type(exc).__name__}: {exc}"
        log.debug("clip %s failed:\n%s", clip.clip_id, traceback.format_exc())
    record.seconds = time.perf_counter() - t0
    return record


# --------------------------------------------------------------------------- driver side

def _read_log(path: Path) -> dict[str, ClipRecord]:
    records: dict[str, ClipRecord] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
                records[data["clip_id"]] = ClipRecord(**data)
            except (ValueError, TypeError, KeyError):
                continue  # a line cut off by an interruption
    return records


def _write_json_atomic(path: Path, data: Any) -> None:
    # a temporary name of its own, so two runs that reuse one folder (two evaluations sharing a
    # cache) never rename each other's file away
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     suffix=".tmp", delete=False) as f:
        f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(f.name, path)


def _sha256(path: Path) -> str:
    # read in blocks (hashlib.file_digest would do this, but needs Python 3.11; we support 3.10)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _still_valid(record: ClipRecord, clip: SourceClip, out_dir: Path, retry_skipped: bool) -> bool:
    """The record still describes ``clip``: same size and modification time, or, when only the
    time differs (a copy, a checkout, re-provisioned data), the same content hash."""
    try:
        stat = clip.path.stat()
    except OSError:
        return False
    if record.source_size != stat.st_size:
        return False
    if abs(record.source_mtime - stat.st_mtime) > 1e-3:
        try:
            if not record.source_sha256 or _sha256(clip.path) != record.source_sha256:
                return False
        except OSError:
            return False
    if record.status == "ok":
        return is_complete_shard(out_dir / record.shard)
    return not retry_skipped and record.reason != "error"


def _settings_as_now(saved: Any) -> Any:
    """A saved ``prepare_config.json`` in today's form: settings added to
    :class:`PipelineConfig` since it was written take their defaults, so a folder
    prepared before a new setting existed is reused while the setting keeps the
    old behaviour. Unreadable or unknown settings are returned as they are (and
    then differ from any wanted settings)."""
    try:
        pipeline = to_dict(from_dict(PipelineConfig, saved["pipeline"]))
    except (KeyError, TypeError, ValueError):
        return saved
    return dict(saved, pipeline=pipeline)


def prepare_dataset(
    sources: list[str | Path],
    out_dir: str | Path,
    config: PipelineConfig = PipelineConfig(),
    workers: int = 2,
    require_audio: bool = True,
    retry_skipped: bool = False,
    progress: bool = True,
    limit: int | None = None,
) -> PrepareSummary:
    """Prepare every clip under ``sources`` into ``out_dir`` (see the module docstring)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "prepare_config.json"
    wanted = {"pipeline": to_dict(config), "require_audio": require_audio}
    if config_path.exists():
        previous = _settings_as_now(json.loads(config_path.read_text()))
        if previous != wanted:
            raise VFHGANError(
                f"{out_dir} was prepared with other settings ({config_path}); "
                "use a new --out folder or delete the old one"
            )
    _write_json_atomic(config_path, wanted)

    # temporary files of an interrupted run are never read as shards: clear them,
    # but not those another prepare of the same folder is still writing
    for stale in (out_dir / "shards").rglob(".*.tmp") if (out_dir / "shards").exists() else ():
        if is_abandoned_temporary(stale):
            stale.unlink(missing_ok=True)
    clips = discover_sources(sources)
    if limit is not None:
        clips = clips[:limit]
    log_path = out_dir / "manifest.jsonl"
    done = _read_log(log_path)
    summary = PrepareSummary(out_dir=out_dir)
    todo: list[SourceClip] = []
    records: dict[str, ClipRecord] = {}
    for clip in clips:
        old = done.get(clip.clip_id)
        if old is not None and _still_valid(old, clip, out_dir, retry_skipped):
            records[clip.clip_id] = old
            summary.reused += 1
        else:
            todo.append(clip)

    t0 = time.perf_counter()
    if todo:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="clip", desc="prepare", dynamic_ncols=True)
        ctx = mp.get_context("spawn")
        with open(log_path, "a", encoding="utf-8") as log_fh, ProcessPoolExecutor(
            max_workers=max(1, workers), mp_context=ctx, initializer=_init_worker, initargs=(to_dict(config),)
        ) as pool:
            pending = {}
            queue = list(todo)
            try:
                # keep a bounded number of clips in flight so an interruption loses little
                while queue or pending:
                    while queue and len(pending) < 2 * max(1, workers):
                        clip = queue.pop(0)
                        shard = out_dir / "shards" / f"{clip.clip_id}{SHARD_SUFFIX}"
                        pending[pool.submit(_prepare_one, clip, shard, require_audio)] = clip
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        clip = pending.pop(fut)
                        record = fut.result()
                        if record.shard:
                            record.shard = str(Path(record.shard).relative_to(out_dir))
                        records[clip.clip_id] = record
                        summary.processed += 1
                        summary.frames_processed += record.frames
                        log_fh.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
                        log_fh.flush()
                        if bar is not None:
                            bar.update(1)
                            bar.set_postfix(ok=sum(r.status == "ok" for r in records.values()), refresh=False)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            finally:
                if bar is not None:
                    bar.close()
    summary.seconds = time.perf_counter() - t0
    summary.records = [records[c.clip_id] for c in clips if c.clip_id in records]
    _write_json_atomic(
        out_dir / "manifest.json",
        {
            "clips": [asdict(r) for r in summary.records],
            "ok": len(summary.ok),
            "skipped": len(summary.skipped),
        },
    )
    return summary
