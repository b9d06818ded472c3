"""Enhance every video of a folder tree: resumable, and split between processes by Accelerate.

``python -m vfhgan_core enhance-batch SRC_DIR OUT_DIR`` (see :func:`enhance_batch`):

* every video below ``SRC_DIR`` (by file ending) gets ``OUT_DIR/<same relative path>.mp4`` (real
  mode: the pasted-back full frames; simulate mode: the restored face, plus
  ``<name>_comparison.mp4``);
* **resumable**: a video whose output exists is skipped (``already done``). Outputs are written
  through :class:`vfhgan_core.io.VideoWriter`, which encodes into a hidden temporary file and
  renames it only when complete, and in simulate mode the face video is written last, so a run
  killed at any moment leaves no file that a rerun takes as done. Temporary files left by a
  killed run are removed by the next one;
* **several processes**: under ``accelerate launch`` (or ``torchrun``) the sorted list of videos
  is split with Accelerate's own ``PartialState().split_between_processes``; each process loads
  the generator and the detector once, restores its share and writes its own outputs, and the
  main process merges every process's report into ``OUT_DIR/enhance_batch.json`` (done, skipped
  and failed videos, each with its reason, and the figures of the run);
* one bad video (not a video, no face, damaged) is recorded as failed with its reason and the
  batch goes on.

The commands: :func:`run` (``enhance-batch``) and :func:`run_bench` (``bench-batch``: clips per
minute with 1 and 2 processes, :func:`benchmark_batch`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from vfhgan_core.cli.options import detector_config
from vfhgan_core.errors import VFHGANError
from vfhgan_core.weights.variants import DEFAULT_VARIANT

log = logging.getLogger(__name__)

__all__ = ["BatchItem", "BatchReport", "VIDEO_SUFFIXES", "benchmark_batch", "enhance_batch", "find_videos",
           "output_paths"]

#: file endings taken as videos
VIDEO_SUFFIXES = (".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm", ".m4v")
#: the merged report, in OUT_DIR
REPORT_NAME = "enhance_batch.json"
#: per-process reports while a batch runs (merged, then removed)
_PART_DIR = ".enhance_batch"


class BatchError(VFHGANError):
    """The batch cannot start (no such folder, output inside the input, no videos)."""

    reason = "bad_batch_input"


@dataclass
class BatchItem:
    """One video of the batch and what became of it: ``done``, ``skipped`` or ``failed`` (with the reason)."""

    source: str
    output: str
    status: str = "pending"
    reason: str = ""
    frames: int = 0
    seconds: float = 0.0
    process: int = 0


@dataclass
class BatchReport:
    """The whole batch: every video once, and the run's figures."""

    source_dir: str
    output_dir: str
    variant: str
    mode: str
    processes: int
    items: list[BatchItem] = field(default_factory=list)
    #: whether every video was restored with the flip self-ensemble
    self_ensemble: bool = False
    seconds: float = 0.0
    #: True on the process that merged every process's items (the main one)
    merged: bool = False

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def frames(self) -> int:
        return sum(i.frames for i in self.items if i.status == "done")

    def to_dict(self) -> dict[str, Any]:
        done = self.count("done")
        return {
            "source_dir": self.source_dir, "output_dir": self.output_dir, "variant": self.variant,
            "mode": self.mode, "self_ensemble": self.self_ensemble, "processes": self.processes,
            "seconds": round(self.seconds, 2),
            "counts": {s: self.count(s) for s in ("done", "skipped", "failed")},
            "frames_restored": self.frames,
            "clips_per_minute": round(60.0 * done / self.seconds, 2) if self.seconds > 0 else None,
            "frames_per_second": round(self.frames / self.seconds, 2) if self.seconds > 0 else None,
            "items": [asdict(i) for i in sorted(self.items, key=lambda i: i.source)],
        }


def find_videos(src_dir: str | os.PathLike) -> list[Path]:
    """Every video below ``src_dir`` (by file ending, hidden files and folders left out), sorted."""
    root = Path(src_dir)
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            found.append(path)
    return sorted(found)


def output_paths(src_dir: Path, out_dir: Path, video: Path, mode: str) -> tuple[Path, Path | None]:
    """``(main output, comparison video or None)`` of ``video``: the same relative path, as ``.mp4``."""
    rel = video.relative_to(src_dir)
    main = (out_dir / rel).with_suffix(".mp4")
    if main.resolve() == video.resolve():          # an .mp4 source cannot be its own output
        main = main.with_name(main.stem + "_restored.mp4")
    comparison = main.with_name(main.stem + "_comparison.mp4") if mode == "simulate" else None
    return main, comparison


def _remove_stale_partials(owned: list[Path]) -> None:
    """Delete the hidden partial files a killed run left for this process's outputs (and comparisons)."""
    from vfhgan_core.io import partial_files

    for main in owned:
        for path in (main, main.with_name(main.stem + "_comparison.mp4")):
            for stale in partial_files(path):
                try:
                    stale.unlink()
                except OSError:
                    pass


def enhance_batch(
    src_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    variant: str = DEFAULT_VARIANT,
    weights: str | None = None,
    mode: str = "real",
    detector=None,
    pipeline=None,
    progress: bool = True,
    on_item: Callable[[BatchItem], None] | None = None,
    self_ensemble: bool = False,
) -> BatchReport:
    """Restore every video below ``src_dir`` into ``out_dir`` (see the module docstring).

    Args:
        src_dir, out_dir: input and output folders (``out_dir`` may not lie inside ``src_dir``).
        variant, weights: the generator (:func:`vfhgan_core.weights.hub.load_generator`).
        mode: ``"real"`` (default: the videos are the low-resolution material) or ``"simulate"``.
        detector: :class:`~vfhgan_core.faces.detection.DetectorConfig` (default: the pipeline's).
        pipeline: :class:`~vfhgan_core.faces.clip.PipelineConfig` (its detector is replaced by ``detector``).
        progress: tqdm bars over this process's files and the current file's frames.
        on_item: called with every finished item (done, skipped or failed) of this process.
        self_ensemble: restore every frame also mirrored and average the two
            (:func:`vfhgan_core.pipelines.restore.restore_windows`; twice the generator's time).

    Returns:
        the merged :class:`BatchReport` on the main process (also written to
        ``out_dir/enhance_batch.json``); on the other processes, their own share.
    """
    import torch
    from accelerate import PartialState

    from vfhgan_core.faces.clip import PipelineConfig
    from vfhgan_core.pipelines.face_restorer import FaceRestorer
    from vfhgan_core.pipelines.restore import RestoreOptions

    t0 = time.perf_counter()
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise BatchError(f"{src} is not a folder: enhance-batch takes a folder of videos (use enhance for one file)")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise BatchError(f"the output folder {out} lies inside the input folder {src}: its videos would be "
                         "taken as input by the next run; choose an output folder outside it")
    videos = find_videos(src)
    if not videos:
        raise BatchError(f"no video below {src} (looked for {', '.join(VIDEO_SUFFIXES)})")
    pipeline = pipeline or PipelineConfig()
    if detector is not None:
        pipeline = replace(pipeline, detector=detector)
    options = RestoreOptions(mode=mode, pipeline=pipeline, self_ensemble=self_ensemble)

    state = PartialState(cpu=not torch.cuda.is_available())
    rank, world = state.process_index, state.num_processes
    if world > 1 and not torch.cuda.is_available():
        # the processes share the CPU: each takes its part of the cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    parts = out / _PART_DIR
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        parts.mkdir(exist_ok=True)
    state.wait_for_everyone()

    with state.split_between_processes(videos) as mine:
        mine = list(mine)
    items: list[BatchItem] = []
    # load once, before the first video: weights or a detector that cannot be had stop the batch
    # with their own message instead of failing every video alike
    restorer = None
    if any(not output_paths(src, out, v, mode)[0].is_file() for v in mine):
        device = "cpu" if state.device.type == "cpu" else str(state.device)
        restorer = FaceRestorer.load(variant, weights, pipeline.detector, device=device)
    _remove_stale_partials([output_paths(src, out, v, mode)[0] for v in mine])

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(mine), desc=f"videos (process {rank + 1}/{world})", position=2 * rank, unit="video")
    for video in mine:
        main, comparison = output_paths(src, out, video, mode)
        item = BatchItem(source=str(video.relative_to(src)), output=str(main.relative_to(out)), process=rank)
        started = time.perf_counter()
        if main.is_file():
            item.status, item.reason = "skipped", "already done (the output exists; delete it to redo)"
        else:
            frames_bar = None
            try:
                if progress:
                    from tqdm.auto import tqdm

                    frames_bar = tqdm(total=100, desc=item.source[-40:], position=2 * rank + 1, leave=False,
                                      unit="%", bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

                def report(stage: str, fraction: float, frames_bar=frames_bar) -> None:
                    if frames_bar is not None:
                        frames_bar.n = int(100 * fraction)
                        frames_bar.set_postfix_str(stage, refresh=True)

                main.parent.mkdir(parents=True, exist_ok=True)
                # the main video is written last: its existence marks the item done
                result, _ = restorer.enhance(video, main, options, progress=report,
                                             comparison=comparison)
                item.status, item.frames = "done", result.num_frames
            except VFHGANError as exc:
                item.status, item.reason = "failed", str(exc)
            except Exception as exc:  # noqa: BLE001 - one bad file must not end the batch
                log.exception("unexpected error on %s", video)
                item.status, item.reason = "failed", f"unexpected error ({type(exc).__name__}: {exc})"
            finally:
                if frames_bar is not None:
                    frames_bar.close()
        item.seconds = round(time.perf_counter() - started, 3)
        items.append(item)
        if on_item is not None:
            on_item(item)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{item.status}: {item.source[-30:]}")
    if bar is not None:
        bar.close()

    (parts / f"process-{rank}.json").write_text(json.dumps([asdict(i) for i in items]), encoding="utf-8")
    state.wait_for_everyone()
    report_ = BatchReport(source_dir=str(src), output_dir=str(out), variant=variant, mode=mode, processes=world,
                          items=items, self_ensemble=self_ensemble)
    if state.is_main_process:
        merged: list[BatchItem] = []
        for k in range(world):
            merged += [BatchItem(**d) for d in json.loads((parts / f"process-{k}.json").read_text(encoding="utf-8"))]
        report_.items, report_.merged = merged, True
        report_.seconds = time.perf_counter() - t0
        (out / REPORT_NAME).write_text(json.dumps(report_.to_dict(), indent=2) + "\n", encoding="utf-8")
        for k in range(world):
            (parts / f"process-{k}.json").unlink(missing_ok=True)
        try:
            parts.rmdir()
        except OSError:
            pass
    else:
        report_.seconds = time.perf_counter() - t0
    state.wait_for_everyone()
    return report_


def launch_command(processes: int) -> list[str]:
    """How to start ``python -m vfhgan_core ...`` as ``processes`` Accelerate processes on this machine.

    Accelerate's multi-process launcher is ``--multi_gpu``; on a machine without a GPU it starts
    CPU processes (gloo), while a plain ``--num_processes N`` there starts a single process.
    """
    import sys

    if processes <= 1:
        return [sys.executable, "-m"]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m"]


def benchmark_batch(src_dir: str | os.PathLike, processes: tuple[int, ...] = (1, 2), mode: str = "real",
                    variant: str = DEFAULT_VARIANT, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run ``enhance-batch`` on ``src_dir`` once per process count into fresh folders; return the figures.

    Each row: ``processes``, ``videos`` done, ``frames``, ``wall_s`` (from launch to exit, model
    loading included), ``batch_s`` (the report's own time), clips per minute and frames per second
    over the wall time.
    """
    import subprocess
    import tempfile

    rows = []
    for n in processes:
        with tempfile.TemporaryDirectory(prefix="vfhgan-bench-batch-") as tmp:
            out = Path(tmp) / "out"
            cmd = [*launch_command(n), "vfhgan_core", "enhance-batch", str(src_dir), str(out), "--quiet",
                   "--mode", mode, "--variant", variant, *extra]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0 or not (out / REPORT_NAME).is_file():
                raise BatchError(f"enhance-batch with {n} process(es) failed (exit {proc.returncode}):\n"
                                 f"{proc.stderr[-2000:]}")
            report = json.loads((out / REPORT_NAME).read_text(encoding="utf-8"))
        done, frames = report["counts"]["done"], report["frames_restored"]
        rows.append({"processes": n, "videos": done, "failed": report["counts"]["failed"], "frames": frames,
                     "wall_s": round(wall, 2), "batch_s": report["seconds"],
                     "clips_per_minute": round(60.0 * done / wall, 2), "frames_per_second": round(frames / wall, 2)})
    return rows


def run(args: argparse.Namespace) -> int:
    """``enhance-batch``: enhance a folder tree; the main process prints the counts and the failures."""
    report = enhance_batch(args.src_dir, args.out_dir, variant=args.variant, weights=args.weights, mode=args.mode,
                           detector=detector_config(args), progress=not args.quiet,
                           self_ensemble=args.self_ensemble)
    if not report.merged:
        return 0                                 # the main process of the launch reports for all
    summary = report.to_dict()
    counts = summary["counts"]
    print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed in {summary['seconds']:.1f} s "
          f"with {summary['processes']} process(es): {summary['clips_per_minute']} clips/min, "
          f"{summary['frames_per_second']} frames/s; report: {Path(args.out_dir) / REPORT_NAME}")
    for item in summary["items"]:
        if item["status"] == "failed":
            print(f"  failed {item['source']}: {item['reason']}")
    return 1 if counts["failed"] and not counts["done"] and not counts["skipped"] else 0


def run_bench(args: argparse.Namespace) -> int:
    """``bench-batch``: :func:`benchmark_batch` as a table (and JSON)."""
    import platform

    extra = ("--detector-model", args.detector_model) if args.detector_model else ()
    rows = benchmark_batch(args.src_dir, tuple(args.processes), mode=args.mode, variant=args.variant, extra=extra)
    print(f"enhance-batch on {args.src_dir} ({args.mode} mode, {args.variant}), {os.cpu_count()} CPU core(s), "
          f"{platform.processor() or platform.machine()}")
    print(f"{'processes':>9}  {'videos':>6}  {'frames':>6}  {'wall s':>7}  {'clips/min':>9}  {'frames/s':>8}")
    for r in rows:
        print(f"{r['processes']:>9}  {r['videos']:>6}  {r['frames']:>6}  {r['wall_s']:>7.1f}  "
              f"{r['clips_per_minute']:>9.2f}  {r['frames_per_second']:>8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0
