"""Command line: ``python -m vfhgan_core <command>`` (also installed as ``vfhgan``).

Commands: ``probe`` (what the pipeline sees in a video), ``prepare`` (videos
to training shards), ``bench`` (network cost on this machine).
Input problems print one clear line and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace

from vfhgan_core.errors import VFHGANError


def _detector_config(args: argparse.Namespace):
    from vfhgan_core.faces.detection import DetectorConfig

    config = DetectorConfig()
    if getattr(args, "detector_model", None):
        config = replace(config, model_path=args.detector_model)
    if getattr(args, "det_size", None):
        config = replace(config, det_size=args.det_size)
    if getattr(args, "no_download", False):
        config = replace(config, allow_download=False)
    return config


def _add_detector_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector-model", metavar="PATH",
                   help="SCRFD .onnx face detector (default: $VFHGAN_DETECTOR_MODEL, then insightface's buffalo_s)")
    p.add_argument("--det-size", type=int, metavar="PX", help="detector input size (default 640)")
    p.add_argument("--no-download", action="store_true", help="never try to download the detector model")


def _cmd_probe(args: argparse.Namespace) -> int:
    from vfhgan_core.probe import format_probe, probe_clip

    report = probe_clip(args.video, None if args.no_faces else _detector_config(args), max_seconds=args.seconds)
    print(json.dumps(report, indent=2) if args.json else format_probe(report))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from vfhgan_core.data.prepare import prepare_dataset
    from vfhgan_core.pipeline import PipelineConfig

    config = PipelineConfig(detector=_detector_config(args), detect_every=args.detect_every)
    summary = prepare_dataset(
        args.sources,
        args.out,
        config,
        workers=args.workers,
        require_audio=not args.allow_no_audio,
        retry_skipped=args.retry_skipped,
        progress=not args.quiet,
        limit=args.limit,
    )
    reasons: dict[str, int] = {}
    for r in summary.skipped:
        reasons[r.reason] = reasons.get(r.reason, 0) + 1
    print(
        f"{len(summary.ok)} clips ok, {len(summary.skipped)} skipped"
        + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(reasons.items()))})" if reasons else "")
        + f"; {summary.processed} processed in {summary.seconds:.1f} s"
        + (f" ({summary.frames_per_second:.1f} frames/s)" if summary.frames_processed else "")
        + f", {summary.reused} already done. Manifest: {summary.out_dir / 'manifest.json'}"
    )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from vfhgan_core import bench

    return bench.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vfhgan", description="VFH-GAN: audio-visual video face hallucination")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("probe", help="show what the pipeline sees in a video")
    p.add_argument("video")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds checked for faces (default 10; 0 = all)")
    p.add_argument("--no-faces", action="store_true", help="skip face detection")
    _add_detector_arguments(p)
    p.set_defaults(func=_cmd_probe)

    p = sub.add_parser("prepare", help="turn videos into training shards")
    p.add_argument("sources", nargs="+", metavar="SRC", help="video files or folders (GRID .align files beside or in align/)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--detect-every", type=int, default=1, help="detect faces every k-th frame (default 1)")
    p.add_argument("--allow-no-audio", action="store_true", help="keep clips without audio (silent mel windows)")
    p.add_argument("--retry-skipped", action="store_true", help="retry clips an earlier run skipped")
    p.add_argument("--limit", type=int, help="only the first N clips")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_detector_arguments(p)
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("bench", help="params, GFLOPs/frame and CPU frames/s of the networks")
    try:
        from vfhgan_core import bench

        bench.add_arguments(p)
    except ImportError:  # pragma: no cover - bench not importable (broken install)
        pass
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except VFHGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename}" if exc.filename else f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
