"""How fast the networks run here: ``python -m vfhgan_core bench [--json]``.

For each generator preset (default, default without audio, default without
attention, large), bicubic ×4 and the lip reader this measures, on the CPU in
float32 with random weights and inputs:

* parameters (millions);
* GFLOPs per output frame (``torch.utils.flop_counter.FlopCounterMode`` on a
  batch of one; one multiply-add counts as 2 FLOPs; interpolation is not
  counted, so bicubic shows none);
* milliseconds per output frame and frames per second, batched and at batch 1:
  the median of ``repeats`` timed calls after ``warmup`` untimed ones, under
  ``torch.inference_mode()``.

The paper's own generator is listed as a reference row with the figures of
DECISIONS.md §8: measured on this project's 2-core machine with the official
code, not re-run here.

A generator "frame" is one restored 128×128 centre frame (its input is a
window of ``num_frames`` 32×32 frames and a mel window). A lip-reader frame is
one 88×88 mouth frame of a clip of ``lip_frames`` frames; its "batched" run
uses ``ceil(batch_size / lip_frames)`` clips and its batch-1 run one clip.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["PAPER_GENERATOR", "add_arguments", "format_benchmarks", "run", "run_benchmarks"]

#: what ``include`` may name
BENCH_PARTS: tuple[str, ...] = ("generator", "lipreader", "bicubic")

#: the paper's generator (official ``aud_vid_gen``), DECISIONS.md §8: not re-run
PAPER_GENERATOR: dict[str, Any] = {
    "name": "paper generator (aud_vid_gen)",
    "kind": "reference",
    "input": "5 × 32×32 + mels",
    "params_m": 38.3,
    "gflops_per_frame": 64.8,
    "batched_ms_per_frame": 524.0,
    "batched_fps": 1000.0 / 524.0,
    "batch1_ms_per_frame": 311.0,
    "batch1_fps": 1000.0 / 311.0,
    "measured": False,
    "note": "measured elsewhere (DECISIONS.md §8, same 2-core CPU, batch 8), not re-run",
}


def machine_info() -> dict[str, Any]:
    """CPU model, logical cores, torch version, threads, 1-minute load average (None where unknown)."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu or platform.machine() or "unknown",
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "mkldnn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "load_average_1min": _load_average(),
    }


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):      # not available on Windows
        return None


def _time_calls(fn: Callable[[], Any], repeats: int, warmup: int) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _count_gflops(fn: Callable[[], Any]) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def _row(name: str, kind: str, input_desc: str, params: int | None, gflops: float | None,
         batched_s: float, batched_frames: int, single_s: float, single_frames: int,
         note: str = "") -> dict[str, Any]:
    batched_ms = batched_s * 1000.0 / batched_frames
    single_ms = single_s * 1000.0 / single_frames
    return {
        "name": name,
        "kind": kind,
        "input": input_desc,
        "params_m": None if params is None else params / 1e6,
        "gflops_per_frame": gflops,
        "batched_ms_per_frame": batched_ms,
        "batched_fps": 1000.0 / batched_ms,
        "batch1_ms_per_frame": single_ms,
        "batch1_fps": 1000.0 / single_ms,
        "measured": True,
        "note": note,
    }


def _generator_presets() -> dict[str, Any]:
    from vfhgan_core.models.generator import GeneratorConfig

    return {
        "generator default": GeneratorConfig.small(),
        "generator default w/o audio": GeneratorConfig.small(use_audio=False),
        "generator default w/o attention": GeneratorConfig.small(use_attention=False),
        "generator large": GeneratorConfig.large(),
    }


def _bench_generators(batch_size: int, repeats: int, warmup: int, gen: torch.Generator) -> list[dict]:
    from vfhgan_core.models.generator import VFHGANGenerator

    rows = []
    for name, config in _generator_presets().items():
        model = VFHGANGenerator(config).eval()
        lr = torch.rand(batch_size, config.num_frames, 3, 32, 32, generator=gen)
        mel = torch.rand(batch_size, 1, config.n_mels, config.mel_frames, generator=gen) * 8 - 4
        mel_or_none = mel if config.use_audio else None

        def call(n: int) -> Callable[[], Any]:
            return lambda: model(lr[:n], None if mel_or_none is None else mel_or_none[:n])

        gflops = _count_gflops(call(1))
        batched = _time_calls(call(batch_size), repeats, warmup)
        single = _time_calls(call(1), max(repeats, 5), warmup)
        rows.append(_row(name, "generator", f"{config.num_frames} × 32×32" + (" + mel" if config.use_audio else ""),
                         model.num_parameters(), gflops, batched, batch_size, single, 1,
                         note=f"widths {list(config.widths)}, depths {list(config.depths)}"))
    return rows


def _bench_bicubic(batch_size: int, repeats: int, warmup: int, gen: torch.Generator) -> list[dict]:
    x = torch.rand(batch_size, 3, 32, 32, generator=gen)

    def call(n: int) -> Callable[[], Any]:
        return lambda: F.interpolate(x[:n], scale_factor=4, mode="bicubic", align_corners=False,
                                     antialias=False)

    batched = _time_calls(call(batch_size), repeats, warmup)
    single = _time_calls(call(1), max(repeats, 5), warmup)
    return [_row("bicubic ×4", "bicubic", "32×32 → 128×128", None, None, batched, batch_size, single, 1,
                 note="F.interpolate, not counted as FLOPs")]


def _bench_lipreader(batch_size: int, repeats: int, warmup: int, lip_frames: int,
                     gen: torch.Generator) -> list[dict]:
    from vfhgan_core.models.lipreading import LipReader, LipReaderConfig

    model = LipReader(LipReaderConfig()).eval()
    clips = max(1, math.ceil(batch_size / lip_frames))
    x = torch.randn(clips, 1, lip_frames, 88, 88, generator=gen)

    def call(n: int) -> Callable[[], Any]:
        return lambda: model(x[:n])

    gflops = _count_gflops(call(1)) / lip_frames
    batched = _time_calls(call(clips), repeats, warmup)
    single = _time_calls(call(1), repeats, warmup)
    params = sum(p.numel() for p in model.parameters())
    return [_row("lip reader", "lipreader", f"{clips} × {lip_frames} frames 88×88 (batch 1: 1 clip)",
                 params, gflops, batched, clips * lip_frames, single, lip_frames,
                 note="per mouth frame")]


def run_benchmarks(batch_size: int = 32, repeats: int = 10, threads: int | None = None,
                   include: Sequence[str] = BENCH_PARTS, *, warmup: int = 2,
                   lip_frames: int = 25, seed: int = 0) -> dict[str, Any]:
    """Measure the networks on this CPU (see the module docstring).

    Args:
        batch_size: frames per batched call (generator and bicubic); the lip
            reader uses ``ceil(batch_size / lip_frames)`` clips.
        repeats: timed calls per measurement (the median is reported); batch-1
            generator and bicubic timings use at least 5.
        threads: ``torch.set_num_threads`` for the run (restored afterwards);
            None keeps torch's default.
        include: any of ``"generator"``, ``"lipreader"``, ``"bicubic"``.
        warmup: untimed calls before each measurement.
        lip_frames: frames per lip-reader clip.
        seed: seed of the random inputs.

    Returns:
        ``{"machine": {...}, "settings": {...}, "rows": [row, ...], "notes": [str, ...]}``;
        each row has ``name, kind, input, params_m, gflops_per_frame,
        batched_ms_per_frame, batched_fps, batch1_ms_per_frame, batch1_fps,
        measured, note`` (``params_m`` / ``gflops_per_frame`` may be None).
        The paper's generator comes last as an unmeasured reference row
        whenever generators are included.
    """
    unknown = sorted(set(include) - set(BENCH_PARTS))
    if unknown:
        raise ValueError(f"unknown benchmark part(s) {unknown}; choose from {list(BENCH_PARTS)}")
    if batch_size < 1 or repeats < 1 or warmup < 0 or lip_frames < 1:
        raise ValueError("batch_size, repeats and lip_frames must be ≥ 1 and warmup ≥ 0")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    info = machine_info()       # before measuring: the load average is then other processes'
    gen = torch.Generator().manual_seed(seed)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        with torch.inference_mode():
            if "bicubic" in include:
                rows += _bench_bicubic(batch_size, repeats, warmup, gen)
            if "generator" in include:
                rows += _bench_generators(batch_size, repeats, warmup, gen)
            if "lipreader" in include:
                try:
                    rows += _bench_lipreader(batch_size, repeats, warmup, lip_frames, gen)
                except ImportError as exc:
                    notes.append(f"lip reader skipped: vfhgan_core.models.lipreading could not be imported ({exc})")
        if "generator" in include:
            rows.append(dict(PAPER_GENERATOR))
    finally:
        torch.set_num_threads(previous_threads)
    load = info["load_average_1min"]
    if load is not None and info["cores"] and load > 0.5 * info["cores"]:
        notes.append(f"the machine was busy before measuring (1-minute load average {load:.1f} on "
                     f"{info['cores']} cores): other processes may have slowed these timings down")
    return {
        "machine": info,
        "settings": {"batch_size": batch_size, "repeats": repeats, "warmup": warmup,
                     "lip_frames": lip_frames, "dtype": "float32", "device": "cpu",
                     "grad": "torch.inference_mode", "include": list(include)},
        "rows": rows,
        "notes": notes,
    }


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def format_benchmarks(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`run_benchmarks`' result (machine line, rows, notes)."""
    m = result["machine"]
    s = result["settings"]
    load = m.get("load_average_1min")
    lines = [
        f"CPU: {m['cpu']} ({m['cores']} cores), torch {m['torch']}, {m['torch_threads']} threads, "
        f"mkldnn {'on' if m.get('mkldnn') else 'off'}"
        + ("" if load is None else f", load average {load:.1f} before the run"),
        f"float32, {s['grad']}, batched = {s['batch_size']} frames per call, "
        f"median of {s['repeats']} after {s['warmup']} warm-up",
        "",
    ]
    header = ("network", "params (M)", "GFLOPs/frame", "ms/frame batched", "frames/s batched",
              "ms/frame b1", "frames/s b1", "note")
    table = [header]
    for r in result["rows"]:
        note = r.get("note", "")
        if not r.get("measured", True):
            note = note or "measured elsewhere, not re-run"
        table.append((r["name"], _fmt(r["params_m"], 2), _fmt(r["gflops_per_frame"], 3),
                      _fmt(r["batched_ms_per_frame"], 2), _fmt(r["batched_fps"], 1),
                      _fmt(r["batch1_ms_per_frame"], 2), _fmt(r["batch1_fps"], 1), note))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:-1], widths[1:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m vfhgan_core bench``."""
    parser.add_argument("--batch-size", type=int, default=32, help="frames per batched call (default 32)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per figure; the median is shown")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--only", choices=BENCH_PARTS, action="append", default=None,
                        help="measure only this part (repeatable; default: all)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark with parsed ``args`` and print a table (or JSON). Returns 0."""
    result = run_benchmarks(batch_size=args.batch_size, repeats=args.repeats, threads=args.threads,
                            include=tuple(args.only) if args.only else BENCH_PARTS)
    print(json.dumps(result, indent=2) if args.json else format_benchmarks(result))
    return 0
