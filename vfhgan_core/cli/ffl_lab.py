"""``ffl-lab``: the frequency-loss lab of the app (:mod:`vfhgan_core.pipelines.frequency_lab`) from the command line."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vfhgan_core.cli.options import detector_config


def run(args: argparse.Namespace) -> int:
    """``ffl-lab``: run the lab on a face of ``args.video``; print its progress and the band-by-band table."""
    from vfhgan_core.faces.clip import PipelineConfig
    from vfhgan_core.faces.detection import load_face_detector
    from vfhgan_core.pipelines.frequency_lab import ARMS, FrequencyLabConfig, face_frames, run_frequency_lab

    config = FrequencyLabConfig(steps=args.steps, snapshot_every=max(1, args.steps // 10), alpha=args.alpha,
                                loss_weight=args.beta, log_matrix=args.log_matrix, patch_factor=args.patch_factor,
                                learning_rate=args.lr, seed=args.seed, threads=args.threads)
    detector = detector_config(args)
    crops = face_frames(args.video, args.at, args.frames, load_face_detector(detector),
                        PipelineConfig(detector=detector))
    snap = None
    for snap in run_frequency_lab(crops, config):
        if not args.quiet:
            print(f"step {snap.step:5d}  {snap.seconds:6.1f} s  PSNR-Y " +
                  "  ".join(f"{a} {snap.psnr_y[a]:.2f}" for a in ARMS) +
                  "  | above Nyquist " + "  ".join(f"{a} {snap.high_band_error_db(a):.2f} dB" for a in ARMS),
                  flush=True)
    summary = snap.summary()
    print(f"\n{args.video} at {args.at:g} s, {args.frames} frame(s), {args.steps} steps in {snap.seconds:.1f} s "
          f"(α {args.alpha:g}, β {args.beta:g}, log matrix {args.log_matrix}, patch factor {args.patch_factor})")
    print(f"{'band (cycles/px)':>18}  {'bicubic':>8}  {ARMS[0]:>8}  {ARMS[1]:>12}  {'FFL - pixel':>11}")
    errors = summary["band_error_db"]
    for k, band in enumerate(summary["bands"]):
        pix, ffl = errors[ARMS[0]][k], errors[ARMS[1]][k]
        print(f"{band['low']:.4f}-{band['high']:.4f}  {errors['bicubic'][k]:8.2f}  {pix:8.2f}  {ffl:12.2f}  "
              f"{ffl - pix:+11.2f}")
    high = summary["high_band_error_db"]
    print(f"{'above Nyquist':>18}  {high['bicubic']:8.2f}  {high[ARMS[0]]:8.2f}  {high[ARMS[1]]:12.2f}  "
          f"{high[ARMS[1]] - high[ARMS[0]]:+11.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0
