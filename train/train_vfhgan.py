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
import importlib.util
import json
import logging
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration
from torch.utils.data import DataLoader

from vfhgan_core.errors import VFHGANError
from vfhgan_core.evaluation.spectral_curves import SpectralCurves
from vfhgan_core.experiment import ExperimentConfig, load_experiment, save_experiment
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.training.checkpoints import (
    StopRequest,
    TrainState,
    resolve_init_weights,
    resume_checkpoint,
    save_checkpoint,
)
from vfhgan_core.training.datasets import experiment_datasets
from vfhgan_core.training.gan_step import GANStep
from vfhgan_core.training.networks import build_networks
from vfhgan_core.training.optimizers import build_optimizers
from vfhgan_core.training.run_facts import data_record, device_name, flat_config
from vfhgan_core.training.step_budget import StepBudget
from vfhgan_core.training.validation import GRID_TAG, Validator
from vfhgan_core.weights.folder_format import write_weights_folder
from vfhgan_core.weights.hub import load_lip_reader
from vfhgan_core.weights.rounds import round_of, rounds_before, rounds_total
from vfhgan_core.weights.run_record import RunRecord

log = logging.getLogger("train_vfhgan")

#: the training curves and validation grids go to TensorBoard where it is installed (the ``train``
#: extra); without it training runs the same and the log file and ``final/`` record the figures
TRACKER = "tensorboard" if importlib.util.find_spec("tensorboard") else None


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
    p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE", dest="settings",
                   help="override any config field by its dotted path, the value read as JSON (a bare word "
                   "as a string), e.g. --set losses.adversarial=0 losses.perceptual=0 optim.lr_g=5e-5")
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
    exp = exp.with_overrides(optim=optim, data=data, **top) if (optim or data or top) else exp
    return exp.with_settings(parse_settings(args.settings)) if args.settings else exp


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["losses.adversarial=0", "data.train=[\"a\"]"]`` → ``{"losses.adversarial": 0, ...}``: each value is
    read as JSON, and kept as a string where it is not JSON (``optim.lr_schedule=cosine``)."""
    settings: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"error: --set {item!r}: write FIELD=VALUE, e.g. losses.adversarial=0")
        try:
            settings[name] = json.loads(text)
        except json.JSONDecodeError:
            settings[name] = text
    return settings


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
    try:
        exp = experiment_from_args(args)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
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
        log_with=TRACKER,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    main_proc = accelerator.is_main_process
    if TRACKER is None and main_proc:
        log.warning("tensorboard is not installed (pip install -e '.[train]'): no TensorBoard curves or image "
                    "grids; the log and the run folder record everything else")
    mixed = str(accelerator.mixed_precision)
    if args.gpu_memory_fraction and accelerator.device.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(args.gpu_memory_fraction, accelerator.device)

    resume_from = resume_checkpoint(args.resume, ckpt_root, exp)
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

    # ---- models and losses (seeded, so variants of one architecture start alike), optimisers
    nets = build_networks(exp, lip_reader, init_folder)
    generator, discriminator, loss_fn, warmup_loss = nets.generator, nets.discriminator, nets.loss, nets.warmup_loss
    if main_proc:
        if init_folder is not None:
            log.info("generator initialised from %s", init_folder)
        log.info("generator %s: %s", exp.variant, nets.describe())
    o = exp.optim
    # the schedules read the current optim config: a time budget may set max_steps during the run
    optimizers = build_optimizers(generator, discriminator, lambda: o)
    opt_g, sched_g, opt_d, sched_d, ema = (optimizers.generator, optimizers.generator_schedule,
                                           optimizers.discriminator, optimizers.discriminator_schedule,
                                           optimizers.ema)
    state = TrainState()
    if discriminator is not None:
        generator, discriminator, opt_g, opt_d = accelerator.prepare(generator, discriminator, opt_g, opt_d)
        accelerator.register_for_checkpointing(sched_g, sched_d, state)
    else:
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
    step_fn = GANStep(accelerator, generator, opt_g, loss_fn, discriminator, opt_d, warmup_loss,
                      pixel_warmup_steps=o.pixel_warmup_steps, use_audio=exp.generator.use_audio,
                      grad_clip=o.grad_clip, seq_len=d.seq_len,
                      teacher=ema.module if ema is not None and exp.losses.mirror_distillation > 0 else None)

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

    # ---- trackers and what the run records
    if main_proc:
        accelerator.init_trackers("vfhgan", config=flat_config(exp))
    tb = accelerator.get_tracker(TRACKER, unwrap=True) if main_proc and TRACKER else None
    record = data_record(data, d.val_seq_len, command="python " + " ".join(shlex.quote(a) for a in sys.argv),
                         num_processes=accelerator.num_processes, mixed_precision=mixed,
                         device=device_name(accelerator.device), variant=exp.variant,
                         losses=loss_fn.describe()["weights"])
    # a resumed run keeps the command that started it, adds its parts' training time and says where it resumed
    resumed_state = json.loads((resume_from / "trainer_state.json").read_text()) if resume_from is not None else {}
    wall_before = 0.0
    if resume_from is not None:
        before = RunRecord.from_dict(resumed_state.get("extra") or {})
        wall_before = float(before.wall_time_s or 0.0)
        record.command = before.command or record.command
        record.resumed_at = [*(before.resumed_at or []), state.step]
    # the runs behind init_from, kept in the run folder so that a resumed run still knows them
    earlier_file = out / "earlier_rounds.json"
    if init_folder is not None and main_proc:
        earlier_file.write_text(json.dumps(rounds_before(init_folder), indent=2, default=str) + "\n")
    earlier = json.loads(earlier_file.read_text()) if earlier_file.is_file() else []
    last_metrics: dict[str, float] = {}
    # per-band spectral error of the validation frames at every validation (spectral_curves.json)
    curves = SpectralCurves.empty(n_bands=8, scale=d.scale)
    if resumed_state.get("spectral_curves"):
        curves = SpectralCurves.from_dict(resumed_state["spectral_curves"])
    validator = Validator(val_ds, accelerator.device, exp.generator.use_audio, d.val_seq_len, d.num_frames,
                          d.scale, curves)

    def validate() -> dict[str, float]:
        found = validator(eval_model(), state.step)
        accelerator.log(found.scalars, step=state.step)
        if tb is not None:
            tb.add_image(GRID_TAG, found.grid, state.step, dataformats="HWC")
        log.info("step %d validation: %s", state.step, found.summary)
        return found.metrics

    def checkpoint() -> Path:
        so_far = record.replace(steps=state.step, wall_time_s=wall_before + time.perf_counter() - t_start)
        return save_checkpoint(accelerator, ckpt_root, state.step, eval_model(), exp, {
            "step": state.step, "samples_seen": state.step * o.grad_accum * global_batch,
            "metrics": last_metrics, "extra": so_far.to_dict(), "spectral_curves": curves.to_dict(),
            "time": time.time()}, limit=o.checkpoints_total_limit)

    stop = StopRequest().install()     # SIGTERM / SIGINT: checkpoint at the next step boundary, then end

    if main_proc and state.step == 0 and o.val_interval:
        last_metrics = validate()

    # ---- training loop
    sums: dict[str, float] = {}
    count = steps_since_log = 0
    t_log = t_start = time.perf_counter()
    start_step = state.step
    last_saved = state.step if resume_from is not None else -1
    budget = None
    if args.time_budget and state.step == 0:
        budget = StepBudget.from_spec(args.time_budget, o.max_steps, skip_steps=args.budget_window[0],
                                      timed_steps=args.budget_window[1], sync_dir=args.budget_sync,
                                      sync_jobs=args.budget_jobs, name=out.name)
        budget.start()
    generator.train()
    if discriminator is not None:
        discriminator.train()
    for batch in loader:
        if state.step >= o.max_steps:
            break
        for k, v in step_fn(batch, state.step).items():
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
        stopping = stop.requested
        if accelerator.num_processes > 1:       # every process must agree before a collective save
            flag = torch.tensor(float(stopping), device=accelerator.device)
            stopping = bool(accelerator.reduce(flag, reduction="sum").item() > 0)
        if (o.save_interval and state.step % o.save_interval == 0 and state.step < o.max_steps) or stopping:
            checkpoint()
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
    record.steps, record.wall_time_s = state.step, wall_before + wall
    if earlier:
        record.rounds = earlier
        record.total = rounds_total([*earlier, round_of(record)])
    if main_proc:
        last_metrics = validate()
        log.info("%d steps in %.1f min (%.2f s/step)", state.step - start_step, wall / 60,
                 wall / max(1, state.step - start_step))
    if last_saved != state.step:
        checkpoint()
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


if __name__ == "__main__":
    sys.exit(main())
