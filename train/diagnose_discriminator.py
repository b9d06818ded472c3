#!/usr/bin/env python
"""Can a fresh discriminator tell real faces from a generator's output?

Trains a new :class:`~vfhgan_core.models.discriminator.PatchDiscriminator` (the variant's
own discriminator settings, or overrides) to separate the ground-truth 128×128 crops of
prepared clips from restored ones, with the generator frozen, and prints the real/fake
logits and the accuracy as it learns. It answers "is the adversarial term giving the
generator any signal?" before a long GAN run: if the discriminator cannot separate SR from
HR within a few hundred steps, the adversarial and feature-matching terms pull on
near-random features.

    python train/diagnose_discriminator.py --variant audio-ffl-lip --data ../prepared/grid_s1
    python train/diagnose_discriminator.py --against bicubic --data ../prepared/grid_s1   # the easy case

``--against sr`` (default) uses the variant's restored frames, ``bicubic`` the bicubic ×4
of the LR frame, which a working discriminator separates within about a hundred steps.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vfhgan_core.data.windows import (  # noqa: E402
    DataSplitError,
    FrameWindowDataset,
    find_clip_shards,
    load_window_clips,
)
from vfhgan_core.experiment import load_experiment  # noqa: E402
from vfhgan_core.losses.adversarial import AdversarialLoss  # noqa: E402
from vfhgan_core.models.discriminator import PatchDiscriminator  # noqa: E402
from vfhgan_core.training.validation import bicubic_up  # noqa: E402
from vfhgan_core.weights.hub import DEFAULT_VARIANT, load_generator, variant_source  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default=DEFAULT_VARIANT, help=f"generator variant (default {DEFAULT_VARIANT})")
    p.add_argument("--weights", help="weights folder or Hub repo id (default: the bundled assets/weights)")
    p.add_argument("--data", nargs="+", required=True, help="prepared folders or shards (training clips)")
    p.add_argument("--against", choices=("sr", "bicubic"), default="sr", help="what the fakes are")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, help="discriminator learning rate (default: the variant's optim.lr_d)")
    p.add_argument("--spectral-norm", choices=("on", "off"), help="override the variant's setting")
    p.add_argument("--max-clips", type=int, default=100, help="clips loaded (first by id; default 100)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the history and the verdict to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.steps < 1 or args.batch_size < 1:
        raise SystemExit("--steps and --batch-size must be >= 1")
    torch.manual_seed(args.seed)
    path, subfolder = variant_source(args.variant, args.weights)
    exp = load_experiment(Path(path) / (subfolder or "") / "experiment.json")
    generator = load_generator(args.variant, args.weights).eval()
    d_config = exp.discriminator
    if args.spectral_norm is not None:
        d_config = dataclasses.replace(d_config, use_spectral_norm=args.spectral_norm == "on")
    disc = PatchDiscriminator(d_config)
    lr = args.lr if args.lr is not None else exp.optim.lr_d
    opt = torch.optim.Adam(disc.parameters(), lr=lr, betas=tuple(exp.optim.betas))
    loss = AdversarialLoss(exp.losses.adversarial_loss.kind)

    shards = {}
    try:
        for src in args.data:
            shards.update(find_clip_shards(src))
    except DataSplitError as exc:
        raise SystemExit(str(exc)) from None
    paths = [shards[k] for k in sorted(shards)[: args.max_clips]]
    if not paths:
        raise SystemExit(f"no prepared clip in {args.data}")
    clips = load_window_clips(paths, exp.data.scale, exp.data.degradation)
    ds = FrameWindowDataset(clips, exp.data.num_frames, 1, train=True, seed=args.seed,
                            hflip_prob=exp.data.hflip_prob, length=args.steps * args.batch_size)
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size)
    print(f"{args.variant}: discriminator {d_config} lr {lr:g}; fakes = {args.against}; {len(clips)} clips",
          flush=True)
    history = []
    t0 = time.perf_counter()
    for step, batch in enumerate(loader, start=1):
        lr_frames, hr, mel = batch["lr"].flatten(0, 1), batch["hr"].flatten(0, 1), batch["mel"].flatten(0, 1)
        with torch.no_grad():
            if args.against == "sr":
                fake = generator(lr_frames, mel if exp.generator.use_audio else None).sr.clamp(0, 1)
            else:
                fake = bicubic_up(lr_frames, exp.data.scale)
        logits = disc(torch.cat([hr, fake])).logits
        d_loss = loss.discriminator_loss(logits[: hr.shape[0]], logits[hr.shape[0]:])
        opt.zero_grad(set_to_none=True)
        d_loss.backward()
        opt.step()
        logits, d_loss = logits.detach(), d_loss.detach()
        real, fake_logits = logits[: hr.shape[0]], logits[hr.shape[0]:]
        if step % args.log_every == 0 or step == args.steps:
            acc = 0.5 * (float((real > 0).float().mean()) + float((fake_logits < 0).float().mean()))
            row = {"step": step, "loss": float(d_loss), "real_logit": float(real.mean()),
                   "fake_logit": float(fake_logits.mean()), "accuracy": acc}
            history.append(row)
            print(f"step {step:4d}  loss {row['loss']:.3f}  real {row['real_logit']:+.3f}  "
                  f"fake {row['fake_logit']:+.3f}  patch accuracy {acc:.2f}  ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    last = history[-1]
    verdict = "separates" if last["accuracy"] >= 0.75 else "does NOT separate"
    print(f"after {args.steps} steps the discriminator {verdict} real from {args.against} "
          f"(patch accuracy {last['accuracy']:.2f}; 0.5 = chance)")
    result = {"history": history, "verdict": verdict}
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
