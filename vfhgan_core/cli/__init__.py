"""Command line: ``python -m vfhgan_core <command>`` (also installed as ``vfhgan``).

Commands: ``probe`` (what the pipeline sees in a video), ``prepare`` (videos
to training shards), ``enhance`` (restore a video), ``enhance-batch`` and ``bench-batch``
(a folder tree of videos), ``evaluate`` (score bicubic and the variants on real clips),
``ffl-lab`` (the frequency-loss lab of the app), ``bench`` (network cost on this machine).
Input problems print one clear line and exit with status 2.

This module holds the parser and :func:`main`; a command of more than a few lines has its own
module: :mod:`~vfhgan_core.cli.enhance`, :mod:`~vfhgan_core.cli.batch` (``enhance-batch``,
``bench-batch``), :mod:`~vfhgan_core.cli.probe`, :mod:`~vfhgan_core.cli.ffl_lab`,
:mod:`~vfhgan_core.cli.bench`; :mod:`~vfhgan_core.cli.options` holds the detector options they share.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

from vfhgan_core.cli import batch, enhance, ffl_lab
from vfhgan_core.cli.options import add_detector_arguments, add_self_ensemble_argument, detector_config
from vfhgan_core.errors import VFHGANError
from vfhgan_core.weights.variants import DEFAULT_VARIANT


def _cmd_probe(args: argparse.Namespace) -> int:
    from vfhgan_core.cli.probe import format_probe, probe_clip

    report = probe_clip(args.video, None if args.no_faces else detector_config(args), max_seconds=args.seconds)
    print(json.dumps(report, indent=2) if args.json else format_probe(report))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from vfhgan_core.data.prepare import prepare_dataset
    from vfhgan_core.faces.clip import PipelineConfig

    config = PipelineConfig(detector=detector_config(args), detect_every=args.detect_every)
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


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vfhgan_core.data.degradations import DegradationConfig
    from vfhgan_core.data.prepare import prepare_dataset
    from vfhgan_core.evaluation.results_tables import markdown_report
    from vfhgan_core.evaluation.runs import EvaluationConfig, EvaluationError, evaluate
    from vfhgan_core.faces.clip import PipelineConfig
    from vfhgan_core.weights.hub import BUNDLED_WEIGHTS

    lip_reader = args.lip_reader
    if lip_reader is None and (BUNDLED_WEIGHTS / "lipreader" / "config.json").is_file():
        lip_reader = str(BUNDLED_WEIGHTS / "lipreader")
    try:
        config = EvaluationConfig(
            variants=tuple(args.variants),
            weights=args.weights,
            lip_reader=None if args.no_lip_reader else lip_reader,
            sentences=args.sentences,
            max_clips=args.max_clips,
            training_clips=args.training_clips,
            speech=args.speech,
            occlude_mouth=args.occlude_mouth,
            self_ensemble=args.self_ensemble,
            blind_degradation=DegradationConfig() if args.degrade == "blind" else None,
            degradation_seed=args.degrade_seed,
        )
    except ValueError as exc:  # e.g. --max-clips 0: one clear line, not a traceback
        raise EvaluationError(str(exc)) from None
    pipeline = PipelineConfig(detector=detector_config(args))

    def prepare(source: Path, out: Path) -> None:
        summary = prepare_dataset([source], out, pipeline, workers=args.workers, progress=not args.quiet)
        if summary.skipped:
            print(f"{source}: {len(summary.skipped)} clip(s) skipped while preparing "
                  f"({', '.join(sorted({r.reason for r in summary.skipped}))}); see {out / 'manifest.json'}",
                  file=sys.stderr)

    report = evaluate(args.data, config, cache_dir=args.cache, prepare=prepare, workers=args.workers,
                      progress=None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True)))
    report["command"] = "python -m vfhgan_core " + " ".join(shlex.quote(a) for a in args.argv)
    text = markdown_report(report)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text, encoding="utf-8")
    if not args.json and not args.markdown:
        print(text)
    else:
        means = report["methods"]
        for name in ("bicubic", *report["variants"]):
            m = means[name]
            print(f"{name:24s} PSNR-Y {m['psnr_y']:.2f} dB  SSIM-Y {m['ssim_y']:.4f}  ERQA {m['erqa']:.3f}"
                  + (f"  words {m['word_acc']:.1%}" if "word_acc" in m else ""))
        if report["excluded_training_clips"]:
            twins = report.get("same_recordings") or {}
            print(f"left out {len(report['excluded_training_clips'])} clip(s) the variants trained on"
                  + (f" ({len(twins)} under another name: "
                     + ", ".join(f"{c} = {t}" for c, t in twins.items()) + ")" if twins else ""))
        print(f"{len(report['clips'])} clips in {report['seconds']:.0f} s; wrote "
              + " and ".join(p for p in (args.json, args.markdown) if p))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from vfhgan_core.cli import bench

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
    add_detector_arguments(p)
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
    add_detector_arguments(p)
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("enhance", help="restore the face in a video (simulate: degrade and compare; real: paste back)")
    p.add_argument("input", help="input video")
    p.add_argument("output", help="output .mp4")
    p.add_argument("--variant", default=DEFAULT_VARIANT,
                   help=f"trained variant (default {DEFAULT_VARIANT}; e.g. noaudio-noffl-nolip, audio-ffl-lip-real)")
    p.add_argument("--weights", metavar="SRC", help="weights folder or Hub repo id (default: the bundled assets/weights)")
    p.add_argument("--mode", choices=("simulate", "real"), default="simulate",
                   help="simulate: crop at 128, degrade to 32, restore and compare; real: the face is genuinely "
                        "low-resolution, restore and paste back into the frame")
    p.add_argument("--comparison", metavar="PATH", help="simulate mode: side-by-side video (default OUTPUT_comparison.mp4)")
    p.add_argument("--degrade", choices=("clean", "blind"), default="clean",
                   help="simulate mode: clean (default) bicubic x4 input, or blind: one fixed draw of the real-video "
                        "chain (blur, resize, noise, JPEG or H.264; what the '-real' variants are trained for)")
    p.add_argument("--degrade-seed", type=int, default=0, help="seed of the blind draw (default 0)")
    p.add_argument("--occlude-mouth", action="store_true",
                   help="simulate mode: blur the mouth of the 32x32 input beyond reading, so that only the speech "
                        "can tell an audio variant its shape")
    add_self_ensemble_argument(p)
    p.add_argument("--start", type=float, default=0.0, help="start of the segment, seconds")
    p.add_argument("--duration", type=float, default=None, help="length of the segment, seconds (default: to the end)")
    add_detector_arguments(p)
    p.set_defaults(func=enhance.run)

    p = sub.add_parser("enhance-batch", help="enhance every video below a folder (resumable; split between "
                                             "processes under accelerate launch)")
    p.add_argument("src_dir", help="folder of videos (searched recursively)")
    p.add_argument("out_dir", help="output folder (the same tree, .mp4 files, and enhance_batch.json)")
    p.add_argument("--variant", default=DEFAULT_VARIANT, help=f"trained variant (default {DEFAULT_VARIANT})")
    p.add_argument("--weights", metavar="SRC", help="weights folder or Hub repo id (default: the bundled assets/weights)")
    p.add_argument("--mode", choices=("simulate", "real"), default="real",
                   help="real (default): the videos are low-resolution, restore and paste back; simulate: degrade "
                        "the face to 32x32, restore, and also write NAME_comparison.mp4")
    add_self_ensemble_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_detector_arguments(p)
    p.set_defaults(func=batch.run)

    p = sub.add_parser("bench-batch", help="clips per minute and frames per second of enhance-batch with 1 and 2 "
                                           "processes on this machine")
    p.add_argument("src_dir", help="folder of videos to enhance (outputs go to temporary folders)")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts (default 1 2)")
    p.add_argument("--mode", choices=("simulate", "real"), default="real")
    p.add_argument("--variant", default=DEFAULT_VARIANT)
    p.add_argument("--detector-model", metavar="PATH", help="SCRFD .onnx face detector")
    p.add_argument("--json", metavar="OUT.json", help="write the figures as JSON")
    p.set_defaults(func=batch.run_bench)

    p = sub.add_parser("evaluate", help="score bicubic and the trained variants on real clips (the paper's tables)")
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="folders of videos (GRID .align files beside or in align/; prepared once into --cache) "
                        "or prepared folders / shards")
    p.add_argument("--variants", nargs="+", default=["all"], metavar="NAME",
                   help="variants to score (default: all variants in --weights)")
    p.add_argument("--weights", metavar="SRC", help="weights folder or Hub repo id (default: the bundled assets/weights)")
    p.add_argument("--json", metavar="PATH", help="write the full report (means, per dataset, per clip) as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write the tables (paper's Tables 1-3 layout) as markdown")
    p.add_argument("--sentences", choices=("all", "heldout"), default="all",
                   help="heldout: of the clips with word alignments keep only the held-out GRID sentences "
                        "(neither the lip reader nor the shipped generators trained on them)")
    p.add_argument("--lip-reader", metavar="DIR", help="lip reader for word accuracy (default: the bundled one)")
    p.add_argument("--no-lip-reader", action="store_true", help="skip the lip-reading word accuracy")
    p.add_argument("--max-clips", type=int, metavar="N", help="at most N clips per DATA (first by clip id)")
    p.add_argument("--training-clips", choices=("exclude", "include"), default="exclude",
                   help="exclude (default): leave out clips a scored variant trained on (listed in its "
                        "training.json); include: score them too")
    p.add_argument("--degrade", choices=("clean", "blind"), default="clean",
                   help="clean (default): bicubic x4 inputs; blind: each clip degraded by its own fixed draw of the "
                        "real-video chain (blur, resize, noise, JPEG or H.264; vfhgan_core.data.degradations), "
                        "listed per clip in the report")
    p.add_argument("--degrade-seed", type=int, default=0, help="seed of the blind draws (default 0)")
    p.add_argument("--speech", choices=("matched", "reversed", "silence"), default="matched",
                   help="what the audio variants hear: matched (default, the clip's own speech), reversed (the "
                        "clip's speech windows in reverse order: same voice, out of step with the lips) or "
                        "silence; an ablation of the speech input")
    p.add_argument("--occlude-mouth", action="store_true",
                   help="blur the mouth of every LR input frame beyond reading, so that only the speech can tell "
                        "the audio variants its shape (compare an audio variant with its no-audio twin)")
    add_self_ensemble_argument(p)
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "vfhgan" / "prepared"), metavar="DIR",
                   help="where raw videos are prepared (default ~/.cache/vfhgan/prepared)")
    p.add_argument("--workers", type=int, default=2,
                   help="processes preparing raw videos and scoring clips (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_detector_arguments(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("ffl-lab", help="the frequency-loss lab: train a pixel-only and a pixel + FFL network "
                                       "on a face and compare their spectral error per band")
    p.add_argument("video")
    p.add_argument("--at", type=float, default=1.0, help="time of the first frame in seconds (default 1)")
    p.add_argument("--frames", type=int, default=1, help="consecutive frames to train on, 1-8 (default 1)")
    p.add_argument("--steps", type=int, default=1000, help="training steps of each network (default 1000)")
    p.add_argument("--alpha", type=float, default=1.0, help="focal exponent (default 1)")
    p.add_argument("--beta", type=float, default=1.0, help="weight of the frequency loss (default 1)")
    p.add_argument("--log-matrix", action="store_true", help="log(w + 1) focal weights")
    p.add_argument("--patch-factor", type=int, default=1, help="spectra per p x p patch: 1, 2, 4 or 8")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shared initial weights")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", metavar="OUT.json", help="write the final figures as JSON")
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    add_detector_arguments(p)
    p.set_defaults(func=ffl_lab.run)

    p = sub.add_parser("bench", help="params, GFLOPs/frame and CPU frames/s of the networks")
    try:
        from vfhgan_core.cli import bench

        bench.add_arguments(p)
    except ImportError:  # pragma: no cover - bench not importable (broken install)
        pass
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    # idle OpenMP threads sleep instead of spinning: under CPU contention (a 2-core machine running
    # two jobs) spinning threads make a 2-thread run slower than a 1-thread one. Set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
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
