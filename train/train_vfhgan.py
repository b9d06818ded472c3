"""Train a VFH-GAN generator variant (pixel-loss pretrain or full GAN fine-tune) with Accelerate.

One script for every setting: ``python train/train_vfhgan.py --config C.json`` trains on
the CPU (or the one GPU there is); ``accelerate launch [--multi_gpu ...]
train/train_vfhgan.py --config C.json`` runs the same code on several GPUs or machines
(DDP); mixed precision (``optim.mixed_precision``, ``--mixed-precision`` or ``accelerate
launch --mixed_precision``: ``bf16`` / ``fp16`` on GPU, ``bf16`` also on the CPU) and gradient
accumulation come from Accelerate too.

What a run does, all driven by an :class:`vfhgan_core.experiment.ExperimentConfig`:

* data: prepared shards split by speaker (:func:`vfhgan_core.data.windows.split_clips`),
  random samples of ``seq_len`` frames with their 5-frame LR windows, mel windows and mouth
  boxes (:class:`~vfhgan_core.data.windows.FrameWindowDataset`). Sample ``i`` depends only on
  ``(seed, i)``, so a resumed run sees the samples an uninterrupted run would;
* models: :class:`~vfhgan_core.models.generator.VFHGANGenerator`, a
  :class:`~vfhgan_core.models.discriminator.PatchDiscriminator` when a loss needs one,
  the frozen lip reader when the lip-reading loss is on, an EMA of the generator
  (``torch.optim.swa_utils.AveragedModel``);
* losses: :class:`~vfhgan_core.losses.total.VFHGANLoss` (the weights of ``losses``);
* logging: TensorBoard under ``OUT/logs``: every loss term, learning rates, gradient norms,
  throughput, validation metrics of the EMA generator and of bicubic, sample grids
  (LR | bicubic | SR | GT | mouth zooms);
* checkpoints: ``OUT/checkpoints/checkpoint-NNNNNNN`` (Accelerate ``save_state`` plus the EMA
  generator as a ``save_pretrained`` folder, ``experiment.json``, ``trainer_state.json``),
  written under a temporary name and renamed when complete, the oldest removed beyond
  ``optim.checkpoints_total_limit``. ``--resume latest`` continues exactly where the last
  complete checkpoint stopped (also after a hard kill). SIGTERM / SIGINT save a checkpoint
  and stop at the next step;
* at the end: ``OUT/final/`` holds the EMA generator (float32 ``save_pretrained``),
  ``experiment.json``, ``metrics.json`` and a model card; ``--export ROOT`` also writes it
  to ``ROOT/<variant>/`` (e.g. ``assets/weights``).

Examples (from the repository root)::

    python train/train_vfhgan.py --config train/configs/pretrain-audio.json
    python train/train_vfhgan.py --config train/configs/audio-ffl-lip.json --export assets/weights
    python train/train_vfhgan.py --config train/configs/audio-ffl-lip.json --resume latest
    accelerate launch --multi_gpu --num_processes 4 --mixed_precision bf16 \\
        train/train_vfhgan.py --config train/configs/audio-ffl-lip.json
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shlex
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from vfhgan_core import metrics as M
from vfhgan_core.config import to_dict
from vfhgan_core.data.windows import FrameWindowDataset
from vfhgan_core.errors import VFHGANError, WeightsNotFoundError
from vfhgan_core.experiment import ExperimentConfig, load_experiment, save_experiment
from vfhgan_core.losses.total import LossConfig, VFHGANLoss
from vfhgan_core.models.discriminator import DiscriminatorOutput, PatchDiscriminator
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.spectral_curves import SpectralCurves
from vfhgan_core.training.checkpoints import (
    CHECKPOINT_PREFIX,
    init_generator_from,
    list_checkpoints,
    resolve_init_weights,
)
from vfhgan_core.training.datasets import experiment_datasets
from vfhgan_core.training.optimizers import generator_param_groups
from vfhgan_core.training.step_budget import StepBudget
from vfhgan_core.weights.model_card import write_weights_folder
from vfhgan_core.weights.rounds import round_of, rounds_before, rounds_total
from vfhgan_core.weights.run_record import RunRecord

log = logging.getLogger("train_vfhgan")


# --------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="experiment JSON (train/configs/*.json); with --resume and no "
                   "--config, the run's own OUT/experiment.json is used")
    p.add_argument("--output-dir", type=Path, help="run folder (default: runs/<variant>)")
    p.add_argument("--resume", metavar="latest|PATH",
                   help="continue from the latest complete checkpoint of the run folder, or from PATH")
    p.add_argument("--max-steps", type=int, help="override optim.max_steps")
    p.add_argument("--init-from", help="override init_from (generator weights to start from)")
    p.add_argument("--lip-reader", help="override lip_reader (folder of the trained LipReader)")
    p.add_argument("--train-data", nargs="+", help="override data.train (prepared folders)")
    p.add_argument("--val-data", nargs="+", help="override data.val (prepared folders)")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), help="override optim.mixed_precision")
    p.add_argument("--seed", type=int, help="override optim.seed")
    p.add_argument("--num-workers", type=int, help="override data.num_workers")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    p.add_argument("--gpu-memory-fraction", type=float, metavar="F",
                   help="cap this process's share of the GPU's memory (jobs sharing one GPU: the allocator then "
                   "returns its cache before it runs out, instead of one job failing)")
    p.add_argument("--export", type=Path, metavar="ROOT",
                   help="after training, also write the EMA generator to ROOT/<variant>/ (e.g. assets/weights)")
    p.add_argument("--time-budget", metavar="SECONDS|@UNIX_TIME",
                   help="end the run within this wall-clock (from its first step) or by this time: max_steps "
                   "becomes the most steps that fit, at most the config's, measured on the first steps "
                   "(vfhgan_core/training/step_budget.py) and written into the run's experiment.json")
    p.add_argument("--budget-sync", type=Path, metavar="DIR",
                   help="with --time-budget: jobs sharing DIR agree on the smallest step count of them all")
    p.add_argument("--budget-jobs", type=int, default=1, help="how many jobs share --budget-sync (default 1)")
    p.add_argument("--budget-window", type=int, nargs=2, default=(20, 40), metavar=("SKIP", "TIMED"),
                   help="with --time-budget: steps left untimed, then steps timed (default 20 40)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def experiment_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The run's config: the file (or the run folder's own on resume) with the overrides applied."""
    if args.config is not None:
        exp = load_experiment(args.config)
    elif args.resume and args.output_dir is not None and (args.output_dir / "experiment.json").is_file():
        exp = load_experiment(args.output_dir / "experiment.json")
    else:
        raise SystemExit("error: --config is required (or --resume with --output-dir of an existing run)")
    optim: dict[str, Any] = {}
    data: dict[str, Any] = {}
    top: dict[str, Any] = {}
    if args.max_steps is not None:
        optim["max_steps"] = args.max_steps
    if args.mixed_precision is not None:
        optim["mixed_precision"] = args.mixed_precision
    if args.seed is not None:
        optim["seed"] = args.seed
    if args.train_data:
        data["train"] = tuple(args.train_data)
    if args.val_data:
        data["val"] = tuple(args.val_data)
    if args.num_workers is not None:
        data["num_workers"] = args.num_workers
    if args.init_from is not None:
        top["init_from"] = args.init_from or None
    if args.lip_reader is not None:
        top["lip_reader"] = args.lip_reader
    return exp.with_overrides(optim=optim, data=data, **top) if (optim or data or top) else exp


# --------------------------------------------------------------------------- building blocks


class TrainState:
    """The step counter, saved and restored by Accelerate with the other state."""

    def __init__(self) -> None:
        self.step = 0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step = int(state["step"])


def load_lip_reader(source: str):
    """The frozen lip reader of the lip-reading loss, with a clear error when it is not trained yet."""
    from vfhgan_core.models.lipreading import LipReader

    is_hub_id = re.fullmatch(r"[\w.\-]+/[\w.\-]+", source) is not None and not source.startswith(".")
    if not os.path.isdir(source) and (not is_hub_id or os.path.exists(source.split("/")[0])):
        raise WeightsNotFoundError(
            f"this config uses the lip-reading loss (losses.lip_reading > 0), which needs a trained lip reader "
            f"at {source!r}, and there is none. Train the GRID lip reader first "
            "(python train/train_lipreader.py --config train/configs/lipreader_grid.json "
            "--data ../prepared/grid_s1 --out assets/weights/lipreader), pass --lip-reader DIR, "
            "or train a variant without the lip loss (a '-nolip' config)."
        )
    return LipReader.from_pretrained(source).eval()


def split_output(out: DiscriminatorOutput, n: int) -> tuple[DiscriminatorOutput, DiscriminatorOutput]:
    """Split a discriminator output of ``cat([a, b])`` into the outputs of ``a`` (first n) and ``b``, in float32."""
    first = DiscriminatorOutput(out.logits[:n].float(), [f[:n].float() for f in out.features])
    second = DiscriminatorOutput(out.logits[n:].float(), [f[n:].float() for f in out.features])
    return first, second


def as_float(out: DiscriminatorOutput) -> DiscriminatorOutput:
    return DiscriminatorOutput(out.logits.float(), [f.float() for f in out.features])


def flatten_batch(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """(B, S, ...) sample tensors → (B·S, ...) frames, sequence-major (what the losses expect)."""
    return (batch["lr"].flatten(0, 1), batch["hr"].flatten(0, 1), batch["mel"].flatten(0, 1),
            batch["mouth_boxes"].flatten(0, 1))


# --------------------------------------------------------------------------- validation


def bicubic_up(lr_windows: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic ×scale of the centre LR frame of each window, clamped to [0, 1]."""
    centre = lr_windows[:, lr_windows.shape[1] // 2]
    return F.interpolate(centre, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def frame_metrics(sr: torch.Tensor, gt: torch.Tensor, boxes: torch.Tensor, seq_len: int) -> dict[str, float]:
    """Validation metrics of frames (N, 3, H, W) in [0, 1]; N = sequences × seq_len."""
    sr8, gt8 = M.to_uint8_rgb(sr), M.to_uint8_rgb(gt)
    flicker = [M.temporal_flicker(sr8[i:i + seq_len], gt8[i:i + seq_len]) for i in range(0, len(sr8), seq_len)]
    return {
        "psnr_y": M.psnr_y(sr8, gt8),
        "ssim_y": M.ssim_y(sr8, gt8),
        "erqa": M.erqa(sr8, gt8, version="1.0"),
        "mouth_psnr_y": M.mouth_psnr(sr8, gt8, boxes.cpu().numpy()),
        "flicker": float(np.mean(flicker)),
    }


@torch.no_grad()
def run_validation(generator: VFHGANGenerator, dataset: FrameWindowDataset, device: torch.device,
                   use_audio: bool, batch_size: int = 8) -> dict[str, torch.Tensor]:
    """SR, bicubic and GT of every validation frame (CPU float tensors) with mouth boxes."""
    was_training = generator.training
    generator.eval()
    srs, bics, gts, boxes = [], [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for batch in loader:
        lr, hr, mel, box = flatten_batch(batch)
        out = generator(lr.to(device), mel.to(device) if use_audio else None)
        srs.append(out.sr.float().clamp(0, 1).cpu())
        bics.append(bicubic_up(lr, generator.config.scale))
        gts.append(hr)
        boxes.append(box)
    generator.train(was_training)
    return {"sr": torch.cat(srs), "bicubic": torch.cat(bics), "gt": torch.cat(gts), "boxes": torch.cat(boxes)}


def sample_grid(lr: torch.Tensor, bicubic: torch.Tensor, sr: torch.Tensor, gt: torch.Tensor,
                boxes: torch.Tensor, scale: int) -> np.ndarray:
    """uint8 (rows·H, 7·W, 3) grid: per row LR (nearest ×scale) | bicubic | SR | GT | mouth bicubic |
    mouth SR | mouth GT (the mouth box zoomed to the tile size)."""
    import cv2

    rows = []
    for i in range(len(sr)):
        tiles = [F.interpolate(lr[i:i + 1], scale_factor=scale, mode="nearest")[0], bicubic[i], sr[i], gt[i]]
        tiles = [M.to_uint8_rgb(t)[0] for t in tiles]
        size = tiles[0].shape[0]
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[i].tolist())
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(size, max(x2, x1 + 1)), min(size, max(y2, y1 + 1))
        for img in tiles[1:4]:
            tiles.append(cv2.resize(img[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_NEAREST))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("accelerate").setLevel(logging.WARNING)
    # the discriminator's scheduler steps with the generator's during the pixel warm-up, before its
    # optimiser ever stepped: intended (both follow the same step count), so PyTorch's warning is noise
    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
    try:
        return train(args)
    except VFHGANError as exc:
        log.error("%s", exc)
        return 2


def train(args: argparse.Namespace) -> int:
    exp = experiment_from_args(args)
    out = args.output_dir or Path("runs") / exp.variant
    ckpt_root = out / "checkpoints"
    if args.export is not None and not exp.is_variant:
        raise VFHGANError(f"--export needs a variant name like 'audio-ffl-lip'; {exp.variant!r} is a "
                          "preparatory run (use its final/ folder as init_from instead)")

    mixed = exp.optim.mixed_precision
    use_cpu = args.cpu or not torch.cuda.is_available()
    if use_cpu and mixed == "fp16":
        log.warning("fp16 mixed precision needs a GPU; training in float32 on the CPU")
        mixed = "no"
    accelerator = Accelerator(
        cpu=use_cpu,
        # "no" in the config leaves the choice to `accelerate launch --mixed_precision` / accelerate config;
        # bf16 also runs on the CPU (autocast), which is slower there than float32 on most CPUs
        mixed_precision=mixed if use_cpu else (None if mixed == "no" else mixed),
        gradient_accumulation_steps=exp.optim.grad_accum,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    main_proc = accelerator.is_main_process
    mixed = str(accelerator.mixed_precision)
    if args.gpu_memory_fraction and accelerator.device.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(args.gpu_memory_fraction, accelerator.device)

    # ---- where to start
    resume_from: Path | None = None
    if args.resume:
        if args.resume == "latest":
            ckpts = list_checkpoints(ckpt_root)
            resume_from = ckpts[-1] if ckpts else None
            if resume_from is None:
                log.info("--resume latest: no checkpoint in %s yet, starting a new run", ckpt_root)
        else:
            resume_from = Path(args.resume)
            if not (resume_from / "trainer_state.json").is_file():
                raise VFHGANError(f"{resume_from} is not a complete checkpoint of this trainer "
                                  "(no trainer_state.json); use --resume latest or a checkpoint-N folder")
        if resume_from is not None:
            previous = load_experiment(resume_from / "experiment.json")
            if previous.fingerprint() != exp.fingerprint():
                raise VFHGANError(
                    f"the config differs from the one {resume_from} was trained with (only optim.max_steps may "
                    f"change on resume); resume without --config to use {out / 'experiment.json'}"
                )
    elif list_checkpoints(ckpt_root):
        raise VFHGANError(f"{out} already holds checkpoints: pass --resume latest to continue, or choose "
                          "another --output-dir")

    if main_proc:
        out.mkdir(parents=True, exist_ok=True)
        save_experiment(exp, out / "experiment.json")
        log.info("run %s → %s (%d process(es), %s, mixed precision %s)", exp.variant, out,
                 accelerator.num_processes, accelerator.device, mixed)

    # ---- what must exist before anything is loaded: the lip reader and the initial weights
    lip_reader = load_lip_reader(exp.lip_reader) if exp.losses.lip_reading > 0 else None
    init_folder = resolve_init_weights(exp.init_from) if exp.init_from and resume_from is None else None

    # ---- data
    d = exp.data
    global_batch = exp.optim.batch_size * accelerator.num_processes
    total_samples = exp.optim.max_steps * exp.optim.grad_accum * global_batch
    data = experiment_datasets(exp, total_samples)
    split, train_ds, val_ds = data.split, data.train, data.val
    if main_proc and split.same_recordings:
        log.warning("left out of validation, being training clips under another name (same speech "
                    "fingerprint): %s", ", ".join(f"{v} = {t}" for v, t in split.same_recordings.items()))
    if main_proc:
        log.info("data: %d training clips (%d frames, speakers %s), %d validation clips (%d samples, speakers %s), "
                 "loaded in %.1f s", len(train_ds.clips), train_ds.total_frames, list(split.train_speakers)[:5],
                 len(val_ds.clips), len(val_ds), list(split.val_speakers)[:5], data.load_seconds)

    # ---- models and losses (seeded here, so variants of one architecture start alike)
    set_seed(exp.optim.seed)
    generator = VFHGANGenerator(exp.generator)
    use_disc = exp.losses.uses_discriminator
    discriminator = PatchDiscriminator(exp.discriminator) if use_disc else None
    loss_fn = VFHGANLoss(exp.losses, lip_reader=lip_reader)
    warmup_loss = VFHGANLoss(LossConfig(
        perceptual=0.0, pixel_128=exp.losses.pixel_128 or 1.0, pixel_64=exp.losses.pixel_64,
        pixel_kind=exp.losses.pixel_kind, lip_reading=0.0, frequency=0.0, adversarial=0.0,
    )) if exp.optim.pixel_warmup_steps else None
    if init_folder is not None:
        init_generator_from(generator, init_folder)
        if main_proc:
            log.info("generator initialised from %s", init_folder)
    if main_proc:
        log.info("generator %s: %d parameters; discriminator: %s; losses: %s", exp.variant,
                 generator.num_parameters(),
                 f"{sum(p.numel() for p in discriminator.parameters())} parameters" if discriminator else "none",
                 json.dumps(loss_fn.describe()))

    o = exp.optim
    opt_cls = torch.optim.AdamW if o.weight_decay else torch.optim.Adam
    opt_g = opt_cls(generator_param_groups(generator, o), lr=o.lr_g, betas=o.betas, weight_decay=o.weight_decay)
    # the schedules read the current optim config: a time budget may set max_steps during the run
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lambda step: o.lr_factor(step))
    ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(o.ema_decay), use_buffers=True) \
        if o.ema_decay > 0 else None
    state = TrainState()

    if discriminator is not None:
        opt_d = opt_cls(discriminator.parameters(), lr=o.lr_d, betas=o.betas, weight_decay=o.weight_decay)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lambda step: o.lr_factor(step))
        generator, discriminator, opt_g, opt_d = accelerator.prepare(generator, discriminator, opt_g, opt_d)
        accelerator.register_for_checkpointing(sched_g, sched_d, state)
    else:
        opt_d = sched_d = None
        generator, opt_g = accelerator.prepare(generator, opt_g)
        accelerator.register_for_checkpointing(sched_g, state)
    if ema is not None:
        ema.to(accelerator.device)
        ema.module.eval()
        accelerator.register_for_checkpointing(ema)
    loss_fn.to(accelerator.device)
    if warmup_loss is not None:
        warmup_loss.to(accelerator.device)
    gen_raw: VFHGANGenerator = accelerator.unwrap_model(generator)
    disc_raw = accelerator.unwrap_model(discriminator) if discriminator is not None else None

    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        if main_proc:
            log.info("resumed from %s at step %d", resume_from, state.step)

    def eval_model() -> VFHGANGenerator:
        return ema.module if ema is not None else gen_raw

    # ---- data loader: global sample indices continue where the run stopped
    first_sample = state.step * o.grad_accum * global_batch
    loader = DataLoader(train_ds, batch_size=o.batch_size, sampler=range(first_sample, total_samples),
                        num_workers=d.num_workers, drop_last=True, persistent_workers=d.num_workers > 0)
    loader = accelerator.prepare(loader)

    # ---- trackers
    if main_proc:
        accelerator.init_trackers("vfhgan", config={k: v for k, v in _flat_config(exp).items()})
    tb = accelerator.get_tracker("tensorboard", unwrap=True) if main_proc else None
    record = RunRecord(
        command="python " + " ".join(shlex.quote(a) for a in sys.argv),
        train_clips=len(train_ds.clips), train_frames=train_ds.total_frames,
        val_clips=len(val_ds.clips), val_frames=len(val_ds) * d.val_seq_len,
        train_speakers=list(split.train_speakers), val_speakers=list(split.val_speakers),
        clip_ids=sorted(split.train)[:50] + sorted(split.val)[:50],
        # every training clip and its speech fingerprint, so `vfhgan evaluate` can keep them
        # out of the scores, also when a data source holds one under another name
        train_clip_ids=sorted(c.clip_id for c in train_ds.clips),
        train_clip_fingerprints={c.clip_id: split.fingerprints.get(c.clip_id)
                                 for c in sorted(train_ds.clips, key=lambda c: c.clip_id)},
        val_same_recordings=dict(split.same_recordings),
        num_processes=accelerator.num_processes, mixed_precision=mixed,
        device=_device_name(accelerator.device),
        variant=exp.variant,
        losses=loss_fn.describe()["weights"],
    )
    # the runs behind init_from, kept in the run folder so that a resumed run still knows them
    earlier_file = out / "earlier_rounds.json"
    if init_folder is not None and main_proc:
        earlier_file.write_text(json.dumps(rounds_before(init_folder), indent=2, default=str) + "\n")
    earlier = json.loads(earlier_file.read_text()) if earlier_file.is_file() else []
    baseline: dict[str, float] = {}
    last_metrics: dict[str, float] = {}
    # per-band spectral error of the validation frames at every validation (spectral_curves.json)
    curves = SpectralCurves.empty(n_bands=8, scale=d.scale)
    if resume_from is not None:
        saved = json.loads((resume_from / "trainer_state.json").read_text()).get("spectral_curves")
        if saved:
            curves = SpectralCurves.from_dict(saved)

    def validate() -> dict[str, float]:
        nonlocal baseline
        res = run_validation(eval_model(), val_ds, accelerator.device, exp.generator.use_audio,
                             batch_size=max(1, 64 // d.val_seq_len))
        found = frame_metrics(res["sr"], res["gt"], res["boxes"], d.val_seq_len)
        if not baseline:
            baseline = frame_metrics(res["bicubic"], res["gt"], res["boxes"], d.val_seq_len)
        values = {**found, **{f"bicubic/{k}": v for k, v in baseline.items()}}
        bands = curves.record(state.step, res["sr"], res["gt"], res["bicubic"])
        edges = curves.band_edges
        spectrum = {f"spectrum/band_{edges[k]:.4f}-{edges[k + 1]:.4f}_db": v for k, v in enumerate(bands)}
        spectrum["spectrum/above_nyquist_db"] = curves.above_nyquist_db()[-1]
        accelerator.log({f"val/{k}": v for k, v in {**values, **spectrum}.items()}, step=state.step)
        pick = np.linspace(0, len(val_ds) - 1, min(6, len(val_ds))).round().astype(int) * d.val_seq_len
        lr_frames = torch.stack([val_ds[int(i) // d.val_seq_len]["lr"][0] for i in pick])
        grid = sample_grid(lr_frames[:, d.num_frames // 2], res["bicubic"][pick], res["sr"][pick],
                           res["gt"][pick], res["boxes"][pick], d.scale)
        if tb is not None:
            tb.add_image("val/samples (LR | bicubic | SR | GT | mouth: bicubic, SR, GT)", grid, state.step,
                         dataformats="HWC")
        log.info("step %d validation: %s", state.step,
                 ", ".join(f"{k} {v:.4f} (bicubic {baseline[k]:.4f})" for k, v in found.items()))
        return values

    def save_checkpoint() -> Path:
        name = f"{CHECKPOINT_PREFIX}{state.step:07d}"
        tmp = ckpt_root / f".tmp-{name}"
        final = ckpt_root / name
        if main_proc:
            ckpt_root.mkdir(parents=True, exist_ok=True)
            for stale in ckpt_root.glob(".tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()     # every process has written its part before the rename
        if main_proc:
            eval_model().save_pretrained(tmp / "ema_generator")
            save_experiment(exp, tmp / "experiment.json")
            (tmp / "trainer_state.json").write_text(json.dumps(
                {"step": state.step, "samples_seen": state.step * o.grad_accum * global_batch,
                 "metrics": last_metrics, "extra": record.to_dict(), "spectral_curves": curves.to_dict(),
                 "time": time.time()}, indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            limit = o.checkpoints_total_limit
            if limit:
                for old in list_checkpoints(ckpt_root)[:-limit]:
                    shutil.rmtree(old, ignore_errors=True)
            log.info("saved %s", final)
        accelerator.wait_for_everyone()
        return final

    # stop cleanly on SIGTERM / SIGINT: checkpoint at the next step boundary
    stop = {"requested": False}

    def _request_stop(signum, _frame):
        stop["requested"] = True
        log.warning("signal %d: saving a checkpoint and stopping after this step", signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _request_stop)

    if main_proc and state.step == 0 and o.val_interval:
        last_metrics = validate()

    # ---- training loop
    sums: dict[str, float] = {}
    count = steps_since_log = 0
    t_log = time.perf_counter()
    t_start = time.perf_counter()
    start_step = state.step
    last_saved = state.step if resume_from is not None else -1
    seq = d.seq_len
    budget = _step_budget(args, o.max_steps, out.name) if state.step == 0 else None
    if budget is not None:
        budget.start()
    generator.train()
    if discriminator is not None:
        discriminator.train()
    for batch in loader:
        if state.step >= o.max_steps:
            break
        gan_phase = discriminator is not None and state.step >= o.pixel_warmup_steps
        with accelerator.accumulate(*(m for m in (generator, discriminator) if m is not None)):
            lr, hr, mel, boxes = flatten_batch(batch)
            out_g = generator(lr, mel if exp.generator.use_audio else None)
            sr, sr_x2 = out_g.sr.float(), out_g.sr_x2.float()
            logs: dict[str, float] = {}
            if gan_phase:
                disc_raw.requires_grad_(True)
                real_d, fake_d = split_output(discriminator(torch.cat([hr, sr.detach()])), hr.shape[0])
                d_terms = loss_fn.discriminator_terms(real_d, fake_d)
                accelerator.backward(d_terms["total"])
                if accelerator.sync_gradients and o.grad_clip:
                    logs["grad_norm/d"] = float(accelerator.clip_grad_norm_(discriminator.parameters(), o.grad_clip))
                opt_d.step()
                opt_d.zero_grad(set_to_none=True)
                disc_raw.requires_grad_(False)
                logs.update({f"d/{k}": float(v.detach()) for k, v in d_terms.items()})
                logs["d/real_logit"] = float(real_d.logits.detach().mean())
                logs["d/fake_logit"] = float(fake_d.logits.detach().mean())
                fake = as_float(disc_raw(sr))
                with torch.no_grad():
                    real = as_float(disc_raw(hr))
                g_terms = loss_fn.generator_terms(sr, sr_x2, hr, fake=fake, real=real, mouth_boxes=boxes, seq_len=seq)
            else:
                g_loss = warmup_loss if (discriminator is not None and warmup_loss is not None) else loss_fn
                g_terms = g_loss.generator_terms(sr, sr_x2, hr, mouth_boxes=boxes, seq_len=seq)
            accelerator.backward(g_terms["total"])
            if accelerator.sync_gradients and o.grad_clip:
                logs["grad_norm/g"] = float(accelerator.clip_grad_norm_(generator.parameters(), o.grad_clip))
            opt_g.step()
            opt_g.zero_grad(set_to_none=True)
            logs.update({f"g/{k}": float(v.detach()) for k, v in g_terms.items()})
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        if not accelerator.sync_gradients:
            continue

        # ---- one optimiser step done
        if ema is not None:
            ema.update_parameters(gen_raw)
        sched_g.step()
        if sched_d is not None:
            sched_d.step()
        state.step += 1
        if budget is not None and (chosen := budget.observe(state.step)) is not None:
            exp = exp.with_overrides(optim={"max_steps": chosen})
            o = exp.optim
            record.time_budget = budget.record
            if main_proc:
                save_experiment(exp, out / "experiment.json")

        steps_since_log += 1
        if o.log_interval and (state.step % o.log_interval == 0 or state.step == o.max_steps):
            elapsed = time.perf_counter() - t_log
            means = {k: v / count for k, v in sums.items()}
            means.update({"lr/g": sched_g.get_last_lr()[0], "time/s_per_step": elapsed / steps_since_log,
                          "time/frames_per_s": steps_since_log * exp.frames_per_step * accelerator.num_processes
                          / elapsed})
            if sched_d is not None:
                means["lr/d"] = sched_d.get_last_lr()[0]
            accelerator.log(means, step=state.step)
            if main_proc:
                log.info("step %d/%d %s", state.step, o.max_steps,
                         " ".join(f"{k}={v:.4g}" for k, v in means.items() if k.startswith(("g/", "d/total", "time/s"))))
            sums, count, steps_since_log, t_log = {}, 0, 0, time.perf_counter()

        t_pause = time.perf_counter()
        if main_proc and o.val_interval and state.step % o.val_interval == 0 and state.step < o.max_steps:
            last_metrics = validate()
        stopping = stop["requested"]
        if accelerator.num_processes > 1:       # every process must agree before a collective save
            flag = torch.tensor(float(stopping), device=accelerator.device)
            stopping = bool(accelerator.reduce(flag, reduction="sum").item() > 0)
        if (o.save_interval and state.step % o.save_interval == 0 and state.step < o.max_steps) or stopping:
            save_checkpoint()
            last_saved = state.step
        t_log += time.perf_counter() - t_pause        # validation and saving do not count as step time
        if stopping:
            log.warning("stopped at step %d; continue with --resume latest", state.step)
            accelerator.end_training()
            return 143
        if state.step >= o.max_steps:
            break

    # ---- end of the run
    if state.step < o.max_steps:
        log.warning("the data loader ended at step %d before max_steps %d", state.step, o.max_steps)
    wall = time.perf_counter() - t_start
    record.steps, record.wall_time_s = state.step, wall
    if earlier:
        record.rounds = earlier
        record.total = rounds_total([*earlier, round_of(record)])
    if main_proc:
        last_metrics = validate()
        log.info("%d steps in %.1f min (%.2f s/step)", state.step - start_step, wall / 60,
                 wall / max(1, state.step - start_step))
    if last_saved != state.step:
        save_checkpoint()
    if main_proc:
        model = eval_model()
        final = write_weights_folder(out / "final", model, exp, last_metrics, record)
        curves.save(final)
        log.info("final EMA generator → %s", final)
        if args.export is not None:
            dest = write_weights_folder(args.export / exp.variant, model, exp, last_metrics, record)
            curves.save(dest)
            log.info("exported %s → %s", exp.variant, dest)
    accelerator.end_training()
    return 0


def _step_budget(args: argparse.Namespace, upper: int, name: str) -> StepBudget | None:
    if not args.time_budget:
        return None
    text = str(args.time_budget)
    seconds = float(text[1:]) - time.time() if text.startswith("@") else float(text)
    if seconds <= 0:
        raise VFHGANError(f"--time-budget {text}: that time has passed; give seconds or a later @UNIX_TIME")
    skip, timed = args.budget_window
    return StepBudget(seconds=seconds, upper=upper, skip_steps=skip, timed_steps=timed,
                      sync_dir=args.budget_sync, sync_jobs=args.budget_jobs, name=name)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _flat_config(exp: ExperimentConfig) -> dict[str, Any]:
    """Scalar hyper-parameters for TensorBoard's hparams view (nested keys joined by '.')."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (int, float, str, bool)):
            flat[prefix] = value
        elif value is None:
            flat[prefix] = "none"
        else:
            flat[prefix] = json.dumps(value)

    walk("", to_dict(exp))
    return flat


if __name__ == "__main__":
    sys.exit(main())
