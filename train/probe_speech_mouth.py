#!/usr/bin/env python
"""How much of the mouth's shape do the speech windows predict? (vfhgan_core/data/speech_mouth.py)

A linear probe, no network: the ceiling of what the audio branch can add. Fits a ridge
regression from each frame's log-mel window to the main components of its mouth crop on the
first clips of ``--data`` and scores it (R²) on the others, or on ``--test-data``, with the
speech matched and, as a control, shifted half a second against the frames.

    python train/probe_speech_mouth.py --data ../prepared/grid_s1 --clips 300 --test-clips 50
    python train/probe_speech_mouth.py --data ../prepared/grid_s1 --clips 250 --test-data ../prepared/grid_speakers
    python train/probe_speech_mouth.py --data ../prepared/grid_s1 --clips 250 --test-data ../prepared/grid_speakers --per-clip
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vfhgan_core.data.shards import load_shard  # noqa: E402
from vfhgan_core.data.speech_mouth import probe_speech_mouth  # noqa: E402
from vfhgan_core.data.windows import find_clip_shards  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="prepared folder (vfhgan prepare) to fit on")
    p.add_argument("--clips", type=int, default=300, help="clips of --data used, in clip-id order (default 300)")
    p.add_argument("--test-clips", type=int, default=50,
                   help="the last N of those are the test clips, unless --test-data is given (default 50)")
    p.add_argument("--test-data", help="prepared folder of other clips (e.g. other speakers) to score on")
    p.add_argument("--components", type=int, default=5, help="mouth components predicted (default 5)")
    p.add_argument("--per-clip", action="store_true",
                   help="score the mouth's motion around each clip's mean from the speech around its mean "
                        "(what a new person's speech could tell the network)")
    args = p.parse_args(argv)

    clips = [load_shard(path) for _, path in sorted(find_clip_shards(args.data).items())][:args.clips]
    if args.test_data:
        train, test = clips, [load_shard(path) for _, path in sorted(find_clip_shards(args.test_data).items())]
    else:
        if not 0 < args.test_clips < len(clips):
            p.error(f"--test-clips must be between 1 and {len(clips) - 1} (there are {len(clips)} clips)")
        train, test = clips[:-args.test_clips], clips[-args.test_clips:]
    probe = probe_speech_mouth(train, test, components=args.components, per_clip=args.per_clip)
    print(f"fit on {len(train)} clips ({probe.train_frames} frames), scored on {len(test)} clips "
          f"({probe.test_frames} frames)")
    if args.per_clip:
        print("per clip: speech and mouth taken around each clip's own mean (the motion, not the person)")
    print("| mouth component | share of variance | R² speech matched | R² speech 0.5 s off |")
    print("|---|---|---|---|")
    for k, (share, a, b) in enumerate(zip(probe.explained, probe.r2_matched, probe.r2_shifted), 1):
        print(f"| {k} | {share:.3f} | {a:.3f} | {b:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
