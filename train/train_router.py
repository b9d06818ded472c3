"""Train the degradation router that joins a degraded-input and a clean-input generator.

The real-world variant is two experts of one architecture and a small router
(:mod:`vfhgan_core.models.router`): the generator fine-tuned on the blind degradation chain
restores poor video, the clean-trained one clean video, and the router weighs them per window
from the LR frames alone. Both experts stay frozen. The script

1. draws ``--samples`` training windows of the degraded expert's experiment (its data, split
   and augmentation; a share ``--clean-prob`` of them clean, the rest through the blind chain),
   runs both experts on them once and keeps, per window, the LR frames and the three
   coefficients of the blend's squared error (:func:`~vfhgan_core.models.router.blend_error_terms`);
2. trains the router on those cached windows for ``--steps`` steps to minimise the mean log-MSE
   of the blend (each window counts as in mean PSNR);
3. scores the routed generator on the validation windows of unseen speakers (the same draws
   for every model), clean and degraded apart, against either expert, bicubic and the
   per-window oracle;
4. writes the routed generator as a variant folder (``OUT/<variant>/``): config.json with its
   ``router``, both experts and the router in model.safetensors, the degraded expert's
   experiment.json, the scores as metrics.json, the routing facts in training.json and a card.

Usage::

    python train/train_router.py --degraded runs/audio-ffl-lip-real --clean assets/weights/audio-ffl-lip \\
        --out assets/weights

``--degraded`` may also be a routed variant folder (its own expert is taken), so the command
reruns on the shipped weights.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vfhgan_core import metrics as M
from vfhgan_core.errors import VFHGANError, WeightsNotFoundError
from vfhgan_core.evaluation.spectral_curves import SPECTRAL_CURVES_FILE
from vfhgan_core.experiment import ExperimentConfig, load_experiment
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.models.router import (
    DegradationRouter,
    RouterConfig,
    best_blend_weight,
    blend_error_terms,
    blend_log_mse,
)
from vfhgan_core.training.datasets import experiment_datasets
from vfhgan_core.training.validation import bicubic_up
from vfhgan_core.weights.folder_format import write_weights_folder
from vfhgan_core.weights.run_record import RunRecord

log = logging.getLogger("train_router")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--degraded", type=Path, required=True,
                   help="the generator trained on degraded inputs: a run folder of train_vfhgan.py, its final/, "
                        "or a variant folder (a routed one gives its own expert)")
    p.add_argument("--clean", type=Path, required=True, help="the clean-trained generator of the same architecture "
                   "(a variant folder such as assets/weights/audio-ffl-lip, or a run's final/)")
    p.add_argument("--out", type=Path, required=True, help="weights root: the variant is written to OUT/<variant>/")
    p.add_argument("--train-data", nargs="+", help="override the experiment's data.train (prepared folders)")
    p.add_argument("--val-data", nargs="+", help="override its data.val (prepared folders)")
    p.add_argument("--val-speakers", nargs="*", help="override its data.val_speakers (none: only --val-data)")
    p.add_argument("--samples", type=int, default=6000, help="training windows to draw and cache (default 6000)")
    p.add_argument("--clean-prob", type=float, default=0.5,
                   help="share of clean windows among them (default 0.5: both experts' inputs equally)")
    p.add_argument("--steps", type=int, default=1500, help="router training steps (default 1500)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--cache", type=Path, help="keep the expert outputs' error terms in this file and reuse them on "
                   "a rerun with the same experts and data (the expensive part: the chain and both experts)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args(argv)


def weights_folder(path: Path) -> Path:
    """The ``config.json`` + ``model.safetensors`` + ``experiment.json`` folder behind ``path``."""
    for folder in (path, path / "final"):
        if all((folder / name).is_file() for name in ("config.json", "model.safetensors", "experiment.json")):
            return folder
    raise WeightsNotFoundError(f"{path} holds no exported generator (config.json, model.safetensors and "
                               "experiment.json, in it or in its final/); finish or export the run first")


def load_expert(path: Path) -> tuple[VFHGANGenerator, ExperimentConfig, Path]:
    """A plain generator (a routed one's own expert), its experiment and its folder."""
    folder = weights_folder(path)
    generator = VFHGANGenerator.from_pretrained(folder).degraded_expert().eval()
    return generator, load_experiment(folder / "experiment.json"), folder


@torch.no_grad()
def collect(dataset, count: int, degraded: VFHGANGenerator, clean: VFHGANGenerator, batch: int = 16) -> dict:
    """Run both experts on ``count`` samples of ``dataset``; keep what the router needs, per window.

    Returns ``lr`` (uint8 ``(N, T, 3, h, w)``), ``terms`` (``(N, 3)``), ``clean`` (bool ``(N,)``: the
    window's input is the clean draw), ``clip_ids`` and the per-window PSNR-Y of both experts and of bicubic.
    """
    lr_all, terms, is_clean, clips, psnr = [], [], [], [], {"degraded": [], "clean": [], "bicubic": []}
    use_audio = degraded.config.use_audio
    for start in range(0, count, batch):
        samples = [dataset[i] for i in range(start, min(start + batch, count))]
        lr = torch.cat([s["lr"] for s in samples])                  # (B·S, T, 3, h, w)
        hr = torch.cat([s["hr"] for s in samples])
        mel = torch.cat([s["mel"] for s in samples]) if use_audio else None
        flags = [dataset.degradation_params(i).is_clean
                 for i in range(start, min(start + batch, count)) for _ in range(samples[0]["lr"].shape[0])]
        a, b = degraded(lr, mel).sr, clean(lr, mel).sr
        terms.append(blend_error_terms(a, b, hr))
        lr_all.append((lr * 255).round().to(torch.uint8))
        is_clean += flags
        clips += [dataset.clips[int(sm["clip"])].clip_id for sm in samples for _ in range(sm["lr"].shape[0])]
        gt8 = M.to_uint8_rgb(hr)
        bic = bicubic_up(lr, 4)
        for key, out in (("degraded", a), ("clean", b), ("bicubic", bic)):
            psnr[key] += list(M.psnr_y(M.to_uint8_rgb(out), gt8, per_frame=True))
    return {"lr": torch.cat(lr_all), "terms": torch.cat(terms), "clean": torch.tensor(is_clean), "clip_ids": clips,
            **{f"psnr_{k}": torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in psnr.items()}}


def train_router(router: DegradationRouter, data: dict, steps: int, batch: int, lr: float, seed: int) -> list[float]:
    """Fit the router to the cached windows; returns the loss every 100 steps."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(router.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.05)
    n = len(data["terms"])
    # each class weighs half, whatever its share of the cache
    clean = data["clean"]
    weights = torch.where(clean, 0.5 / max(int(clean.sum()), 1), 0.5 / max(int((~clean).sum()), 1))
    losses = []
    router.train()
    for step in range(steps):
        idx = torch.multinomial(weights, batch, replacement=True, generator=gen)
        x = data["lr"][idx].float() / 255
        if torch.rand((), generator=gen) < 0.5:
            x = x.flip(-1)
        p = torch.sigmoid(router(x))
        loss = blend_log_mse(p, data["terms"][idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            losses.append(float(loss.detach()))
            log.info("step %d/%d  log-MSE %.4f  (n=%d)", step, steps, float(loss.detach()), n)
    return losses


@torch.no_grad()
def score(router: DegradationRouter, data: dict) -> dict[str, float]:
    """Mean PSNR-Y of the routed blend, either expert, bicubic and the oracle, clean and degraded windows apart."""
    router.eval()
    p = torch.cat([torch.sigmoid(router(data["lr"][i:i + 256].float() / 255))
                   for i in range(0, len(data["lr"]), 256)])
    skip = router.config.skip_below
    p = torch.where(p < skip, torch.zeros_like(p), torch.where(p > 1 - skip, torch.ones_like(p), p))
    a, b, c = data["terms"].double().unbind(1)

    def psnr_at(w: torch.Tensor) -> torch.Tensor:      # RGB PSNR of the blend, from the cached terms
        return 10 * torch.log10(1.0 / (a * w * w + b * w + c).clamp_min(1e-10))

    oracle = best_blend_weight(data["terms"]).double()
    p = p.double()
    out: dict[str, float] = {}
    for name, mask in (("clean", data["clean"]), ("degraded", ~data["clean"])):
        if not mask.any():
            continue
        base = psnr_at(torch.zeros_like(p))[mask]
        out.update({
            f"{name}/windows": int(mask.sum()),
            f"{name}/psnr_y_degraded_expert": float(data["psnr_degraded"][mask].mean()),
            f"{name}/psnr_y_clean_expert": float(data["psnr_clean"][mask].mean()),
            f"{name}/psnr_y_bicubic": float(data["psnr_bicubic"][mask].mean()),
            f"{name}/psnr_rgb_routed_minus_clean_expert": float((psnr_at(p)[mask] - base).mean()),
            f"{name}/psnr_rgb_oracle_minus_clean_expert": float((psnr_at(oracle)[mask] - base).mean()),
            f"{name}/mean_weight": float(p[mask].mean()),
        })
    return out


@torch.no_grad()
def routed_psnr_y(model: VFHGANGenerator, dataset, count: int, batch: int = 16) -> dict[str, float]:
    """Mean PSNR-Y of ``model`` (the routed generator) on ``count`` samples, clean and degraded apart."""
    model.eval()
    found = {"clean": [], "degraded": []}
    for start in range(0, count, batch):
        ids = range(start, min(start + batch, count))
        samples = [dataset[i] for i in ids]
        lr = torch.cat([s["lr"] for s in samples])
        hr = torch.cat([s["hr"] for s in samples])
        mel = torch.cat([s["mel"] for s in samples]) if model.config.use_audio else None
        values = M.psnr_y(M.to_uint8_rgb(model(lr, mel).sr), M.to_uint8_rgb(hr), per_frame=True)
        per = samples[0]["lr"].shape[0]
        for k, i in enumerate(ids):
            kind = "clean" if dataset.degradation_params(i).is_clean else "degraded"
            found[kind] += list(values[k * per:(k + 1) * per])
    return {f"{k}/psnr_y_routed": float(np.mean(v)) for k, v in found.items() if v}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    try:
        return run(args)
    except VFHGANError as exc:
        log.error("%s", exc)
        return 2


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0.0 <= args.clean_prob <= 1.0:
        raise VFHGANError(f"--clean-prob must be in [0, 1], got {args.clean_prob}")
    t0 = time.perf_counter()
    degraded, exp, degraded_folder = load_expert(args.degraded)
    clean, clean_exp, clean_folder = load_expert(args.clean)
    if exp.data.blind_degradation is None:
        raise VFHGANError(f"{degraded_folder} was trained on clean inputs (no data.blind_degradation in its "
                          "experiment.json): --degraded must be the generator trained on the blind chain")
    if degraded.config != clean.config:
        raise VFHGANError(f"{degraded_folder} and {clean_folder} are generators of different architectures; "
                          "routing needs two of the same")

    # the degraded expert's data, with the router's clean share, one window per sample
    blind = replace(exp.data.blind_degradation, clean_prob=args.clean_prob)
    sources = {}
    if args.train_data:
        sources["train"] = tuple(args.train_data)
    if args.val_data:
        sources["val"] = tuple(args.val_data)
    if args.val_speakers is not None:
        sources["val_speakers"] = tuple(args.val_speakers)
    data_cfg = replace(exp.data, blind_degradation=blind, seq_len=1, val_seq_len=2,
                       val_samples_per_clip=max(exp.data.val_samples_per_clip, 8), **sources)
    router_exp = replace(exp, data=data_cfg, optim=replace(exp.optim, seed=args.seed + 101))
    data = experiment_datasets(router_exp, args.samples)
    log.info("data: %d training clips, %d validation clips (%d samples), loaded in %.1f s",
             len(data.train.clips), len(data.val.clips), len(data.val), data.load_seconds)

    t1 = time.perf_counter()
    key = {"degraded": str(degraded_folder.resolve()), "clean": str(clean_folder.resolve()),
           "samples": args.samples, "clean_prob": args.clean_prob, "seed": args.seed,
           "train": sorted(data.split.train), "val": sorted(data.split.val)}
    if args.cache is not None and args.cache.is_file() and torch.load(args.cache)["key"] == key:
        saved = torch.load(args.cache)
        train_cache, val_cache = saved["train"], saved["val"]
        log.info("reusing the cached windows of %s", args.cache)
    else:
        train_cache = collect(data.train, args.samples, degraded, clean)
        log.info("cached %d training windows (%d clean) in %.0f s", len(train_cache["terms"]),
                 int(train_cache["clean"].sum()), time.perf_counter() - t1)
        val_cache = collect(data.val, len(data.val), degraded, clean)
        if args.cache is not None:
            torch.save({"key": key, "train": train_cache, "val": val_cache}, args.cache)

    torch.manual_seed(args.seed)
    router = DegradationRouter(RouterConfig())
    losses = train_router(router, train_cache, args.steps, args.batch_size, args.lr, args.seed)
    train_scores = score(router, train_cache)
    val_scores = score(router, val_cache)

    model = VFHGANGenerator.routed(degraded, clean, router)
    val_scores.update(routed_psnr_y(model, data.val, len(data.val)))
    for k, v in sorted(val_scores.items()):
        log.info("validation %s: %s", k, f"{v:.3f}" if isinstance(v, float) else v)

    metrics = {}
    for kind in ("clean", "degraded"):
        if f"{kind}/psnr_y_routed" in val_scores:
            metrics[f"psnr_y_{kind}_inputs"] = val_scores[f"{kind}/psnr_y_routed"]
            metrics[f"bicubic/psnr_y_{kind}_inputs"] = val_scores[f"{kind}/psnr_y_bicubic"]
            metrics[f"psnr_y_{kind}_inputs_clean_expert"] = val_scores[f"{kind}/psnr_y_clean_expert"]
            metrics[f"psnr_y_{kind}_inputs_degraded_expert"] = val_scores[f"{kind}/psnr_y_degraded_expert"]
    # the degraded expert's record, its parameter count left to the routed generator's
    facts = (RunRecord.read(degraded_folder) or RunRecord()).replace(num_parameters=None)
    facts = facts.replace(routing={
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "degraded_expert": str(degraded_folder),
        "clean_expert": str(clean_folder),
        "clean_expert_variant": clean_exp.variant,
        "samples": args.samples, "clean_prob": args.clean_prob, "steps": args.steps,
        "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "train_windows": len(train_cache["terms"]), "val_windows": len(val_cache["terms"]),
        "loss_every_100_steps": [round(v, 5) for v in losses],
        "train_scores": train_scores, "val_scores": val_scores,
        "wall_time_s": round(time.perf_counter() - t0, 1),
    })
    dest = write_weights_folder(args.out / exp.variant, model, exp, metrics, facts)
    curves = degraded_folder / SPECTRAL_CURVES_FILE
    if curves.is_file() and curves.resolve() != (dest / SPECTRAL_CURVES_FILE).resolve():
        shutil.copyfile(curves, dest / SPECTRAL_CURVES_FILE)
    log.info("wrote %s in %.0f s", dest, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
