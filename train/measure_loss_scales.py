"""How strongly each loss term pulls on the generator's output at the start of a fine-tune.

For a config, this loads the generator it starts from (``init_from``), a freshly initialised
discriminator (as the fine-tune has at step 0) and the lip reader, draws a few training
batches, and prints for every term its unweighted value, the norm of its gradient with
respect to the generator's outputs (SR and its ×2 image), the configured weight, and the
weighted gradient relative to the 128-px pixel term. Use it to choose loss weights that let
every switched term matter (the shipped weights were set this way; see train/README.md §5).

Usage::

    python train/measure_loss_scales.py --config train/configs/audio-ffl-lip.json
    python train/measure_loss_scales.py --config train/configs/audio-ffl-lip.json \\
        --init runs/pretrain-audio/final --lip-reader assets/weights/lipreader --batches 5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from vfhgan_core.data.windows import FrameWindowDataset, load_window_clips, split_clips
from vfhgan_core.experiment import load_experiment
from vfhgan_core.losses.total import LossConfig, VFHGANLoss
from vfhgan_core.models.discriminator import PatchDiscriminator
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.weights.hub import load_lip_reader

TERMS = ("pixel_128", "pixel_64", "frequency", "radial_spectrum", "perceptual", "adversarial", "lip_reading")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--init", help="generator folder (default: the config's init_from)")
    p.add_argument("--lip-reader", help="lip reader folder (default: the config's lip_reader)")
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--clips", type=int, default=40, help="training clips to draw from")
    args = p.parse_args(argv)

    exp = load_experiment(args.config)
    torch.manual_seed(exp.optim.seed)
    init = args.init or exp.init_from
    generator = VFHGANGenerator.from_pretrained(init) if init else VFHGANGenerator(exp.generator)
    generator.train()
    discriminator = PatchDiscriminator(exp.discriminator).train()
    lip_source = args.lip_reader or exp.lip_reader
    lip_reader = None
    if lip_source and Path(lip_source).is_dir():
        lip_reader = load_lip_reader(lip_source)
    d = exp.data
    split = split_clips(d.train, d.val, d.val_speakers, d.speaker_rules, args.clips)
    dataset = FrameWindowDataset(load_window_clips(split.train.values(), d.scale, d.degradation),
                                 d.num_frames, max(2, d.seq_len), train=True, seed=exp.optim.seed)
    seq = dataset.seq_len
    zero = {t: 0.0 for t in TERMS}
    losses = {}
    for term in TERMS:
        if term == "lip_reading" and lip_reader is None:
            continue
        cfg = LossConfig(**{**zero, term: 1.0}, pixel_kind=exp.losses.pixel_kind,
                         frequency_at_64=exp.losses.frequency_at_64, frequency_loss=exp.losses.frequency_loss,
                         radial_spectrum_loss=exp.losses.radial_spectrum_loss,
                         perceptual_loss=exp.losses.perceptual_loss, adversarial_loss=exp.losses.adversarial_loss,
                         lip_features=exp.losses.lip_features)
        losses[term] = VFHGANLoss(cfg, lip_reader=lip_reader if term == "lip_reading" else None)

    sums: dict[str, list[float]] = {t: [0.0, 0.0] for t in losses}
    per_batch = max(1, exp.optim.batch_size)
    for b in range(args.batches):
        items = [dataset[b * per_batch + i] for i in range(per_batch)]
        lr = torch.cat([x["lr"] for x in items])
        hr = torch.cat([x["hr"] for x in items])
        mel = torch.cat([x["mel"] for x in items])
        boxes = torch.cat([x["mouth_boxes"] for x in items])
        with torch.no_grad():
            out = generator(lr, mel if exp.generator.use_audio else None)
        for term, loss in losses.items():
            sr = out.sr.detach().clone().requires_grad_(True)
            sr_x2 = out.sr_x2.detach().clone().requires_grad_(True)
            fake = discriminator(sr) if term in ("perceptual", "adversarial") else None
            real = discriminator(hr) if term == "perceptual" else None
            value = loss.generator_terms(sr, sr_x2, hr, fake=fake, real=real, mouth_boxes=boxes, seq_len=seq)["total"]
            grads = torch.autograd.grad(value, [sr, sr_x2], allow_unused=True)
            norm = sum(float(g.norm() ** 2) for g in grads if g is not None) ** 0.5
            sums[term][0] += float(value.detach()) / args.batches
            sums[term][1] += norm / args.batches

    base = sums["pixel_128"][1] * max(exp.losses.pixel_128, 1e-12)
    print(f"{'term':12s} {'value':>10s} {'|grad|':>10s} {'weight':>8s} {'weighted |grad| / pixel_128':>28s}")
    for term, (value, grad) in sums.items():
        weight = getattr(exp.losses, term)
        print(f"{term:12s} {value:10.3e} {grad:10.3e} {weight:8.2g} {weight * grad / base:28.3f}")
    if lip_reader is None:
        print(f"(no lip reader at {lip_source!r}: lip_reading not measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
