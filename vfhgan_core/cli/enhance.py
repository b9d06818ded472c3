"""``enhance``: restore the face in one video (simulate: degrade and compare; real: paste back)."""
from __future__ import annotations

import argparse
from pathlib import Path

from vfhgan_core.cli.options import detector_config
from vfhgan_core.errors import VFHGANError


def run(args: argparse.Namespace) -> int:
    """``enhance``: restore the face of one video and print what was written."""
    import time

    from vfhgan_core.data.degradations import DegradationConfig
    from vfhgan_core.faces.clip import PipelineConfig
    from vfhgan_core.pipelines.face_restorer import FaceRestorer
    from vfhgan_core.pipelines.restore import RestoreOptions

    t0 = time.perf_counter()
    if args.degrade == "blind" and args.mode != "simulate":
        raise VFHGANError("--degrade blind makes the simulated input of simulate mode; in real mode the video's own "
                          "quality is the input. Use --mode simulate, or leave --degrade out.")
    if args.occlude_mouth and args.mode != "simulate":
        raise VFHGANError("--occlude-mouth hides the mouth of simulate mode's 32x32 input; in real mode the video's "
                          "own face is the input. Use --mode simulate, or leave --occlude-mouth out.")
    options = RestoreOptions(
        mode=args.mode,
        start=args.start,
        duration=args.duration,
        pipeline=PipelineConfig(detector=detector_config(args)),
        simulated_degradation=DegradationConfig() if args.degrade == "blind" else None,
        degradation_seed=args.degrade_seed,
        occlude_mouth=args.occlude_mouth,
        self_ensemble=args.self_ensemble,
    )
    restorer = FaceRestorer.load(args.variant, args.weights, options.pipeline.detector)
    out = Path(args.output)
    comparison = None
    if args.mode == "simulate":
        comparison = Path(args.comparison) if args.comparison else out.with_name(out.stem + "_comparison.mp4")
    result, videos = restorer.enhance(args.input, out, options, comparison=comparison)
    if videos.comparison is not None:
        written = f"{videos.main} and {videos.comparison} (LR | bicubic | {args.variant} | ground truth)"
    else:
        written = str(videos.main)
    if result.degradation is not None:
        print(f"simulated input: the real-video chain, seed {args.degrade_seed}: {result.degradation.describe()}")
    for name, weights in result.route_weights.items():
        if len(weights):
            print(f"{name}: its router gave the degraded-video expert {float(weights.mean()):.0%} of the weight "
                  f"on average (frames from {float(weights.min()):.0%} to {float(weights.max()):.0%})")
    seconds = time.perf_counter() - t0
    clip_seconds = result.num_frames / result.fps
    print(
        f"restored {result.num_frames} frames ({clip_seconds:.1f} s of video) with {args.variant}"
        f"{' (flip self-ensemble: two passes a frame)' if args.self_ensemble else ''} in {seconds:.1f} s "
        f"({clip_seconds / seconds:.2f}x real time); wrote {written}"
    )
    return 0
