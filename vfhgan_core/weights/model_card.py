"""Model cards and weights folders of trained VFH-GAN generators: the one card builder.

:func:`write_model_card` writes a ``README.md`` with Hugging Face front matter
(licence, ``library_name: vfhgan``, tags, datasets, metrics) describing a run
from its :class:`~vfhgan_core.experiment.ExperimentConfig`: architecture, every
loss weight and which perceptual term was used (VGG19 or discriminator feature
matching, and why), data and speaker split, schedule, validation metrics
beside the bicubic baseline, the licences of the training data and the
command that trained it.

:func:`vfhgan_core.weights.folder_format.write_weights_folder` writes a complete variant folder
with such a card, the layout :func:`vfhgan_core.weights.hub.load_generator` reads::

    <folder>/config.json          generator architecture (save_pretrained)
    <folder>/model.safetensors    float32 weights (save_pretrained)
    <folder>/experiment.json      the ExperimentConfig of the run
    <folder>/metrics.json         validation metrics (when given)
    <folder>/training.json        facts of the run (a RunRecord): steps, data counts, device, command
    <folder>/README.md            the model card

(what a folder must hold to be published, and its validation: :mod:`vfhgan_core.weights.folder_format`).

:func:`write_repo_card` writes the card of a Hub repo of several variants: a table of the
variants with their switches and validation metrics, how to load them, their data licences
(:mod:`vfhgan_core.weights.publish` stages and uploads the repo). The training data's
licences come from :mod:`vfhgan_core.weights.licences`.

:func:`lipreader_card` writes the card of the GRID lip reader (``train/train_lipreader.py``)
from the ``training.json`` that run wrote: every card is built here, from recorded facts.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from huggingface_hub import ModelCard, ModelCardData, constants

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.experiment import ExperimentConfig
from vfhgan_core.losses.perceptual import resolve_perceptual
from vfhgan_core.metrics import METRICS, canonical_metrics
from vfhgan_core.weights.licences import dataset_licences
from vfhgan_core.weights.run_record import RunRecord
from vfhgan_core.weights.variants import DEFAULT_VARIANT, LIPREADER, parse_variant

if TYPE_CHECKING:   # the folders' types only: folder_format writes cards, so it imports this module
    from vfhgan_core.weights.folder_format import LipReaderFolder, VariantFolder

__all__ = ["REPO_CARD_METRICS", "lipreader_card", "save_model_card", "write_lipreader_card", "write_model_card",
           "write_repo_card"]

#: metrics shown in the card (their headings come from :data:`vfhgan_core.metrics.vocabulary.METRICS`)
CARD_METRICS = ("psnr_y", "ssim_y", "erqa", "mouth_psnr_y", "flicker")
#: metrics shown in the repo card's table: (key in metrics.json, column header)
REPO_CARD_METRICS = tuple((key, METRICS[key].heading) for key in CARD_METRICS)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 and value != 0 else f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _degradation_text(data) -> str:
    """How the LR inputs were made: the clean degradation, or the blind chain with its ranges."""
    b = data.blind_degradation
    if b is None:
        return f"{data.degradation} ×{data.scale}, rounded to 8 bits"
    return (f"blind real-video chain ×{b.scale}, drawn per sample (`vfhgan_core.data.degradations`): "
            f"Gaussian blur p = {_fmt(b.blur_prob)} (σ {_fmt(b.blur_sigma[0])}–{_fmt(b.blur_sigma[1])} HR px, "
            f"anisotropic {_fmt(b.anisotropic_prob)}); downsampling by {', '.join(b.resize_methods)}; "
            f"Gaussian noise p = {_fmt(b.gaussian_noise_prob)} (σ {_fmt(b.gaussian_sigma[0])}–"
            f"{_fmt(b.gaussian_sigma[1])}), Poisson noise p = {_fmt(b.poisson_noise_prob)}; JPEG p = "
            f"{_fmt(b.jpeg_prob)} (quality {_fmt(b.jpeg_quality[0])}–{_fmt(b.jpeg_quality[1])}), else H.264 p = "
            f"{_fmt(b.h264_prob)} ({_fmt(b.h264_kbps[0])}–{_fmt(b.h264_kbps[1])} kbit/s); a second round p = "
            f"{_fmt(b.second_order_prob)}"
            + (f"; clean antialiased bicubic ×{b.scale} instead of the chain for a share "
               f"p = {_fmt(b.clean_prob)} of the samples" if b.clean_prob > 0 else ""))


def _routing_text(routing: Mapping[str, Any], variant: str) -> str:
    """The card's account of a routed generator (:attr:`RunRecord.routing` of ``train/train_router.py``)."""
    val = routing.get("val_scores", {})
    lines = [
        "This generator holds two experts of one architecture and a small router "
        "(`vfhgan_core.models.router.DegradationRouter`, ClassSR's idea with a soft weight). Its own layers "
        f"are the generator trained on the blind chain below (`{variant}`'s experiment); `clean_expert` is "
        f"`{routing.get('clean_expert_variant', 'the clean-trained generator')}`, trained on clean bicubic ×4 "
        "inputs. For each window the router looks at the LR frames and gives a weight p; the output is "
        "p × degraded-input expert + (1 − p) × clean-input expert (an expert whose weight is under "
        "2 % is not run).",
        "",
        f"The router was trained with both experts frozen, on {_fmt(routing.get('train_windows'))} training "
        f"windows ({_fmt(routing.get('clean_prob'))} of them clean, the others through the blind chain) for "
        f"{_fmt(routing.get('steps'))} steps, to minimise the mean log-MSE of the blend.",
    ]
    rows = []
    for kind in ("clean", "degraded"):
        if f"{kind}/psnr_y_routed" in val:
            rows.append((f"{kind} inputs ({_fmt(val.get(f'{kind}/windows'))} windows)",
                         _fmt(val[f"{kind}/psnr_y_routed"]), _fmt(val[f"{kind}/psnr_y_clean_expert"]),
                         _fmt(val[f"{kind}/psnr_y_degraded_expert"]), _fmt(val[f"{kind}/psnr_y_bicubic"]),
                         _fmt(val[f"{kind}/mean_weight"])))
    if rows:
        lines += ["", f"{METRICS['psnr_y'].label} on the validation windows of unseen speakers:", "",
                  _table(rows, ("input", "routed", "clean expert", "degraded expert", "bicubic", "mean p"))]
    if "command" in routing:
        lines += ["", "Command:", "", "```bash", str(routing["command"]), "```"]
    return "\n".join(lines)


def write_model_card(
    folder: str | Path,
    experiment: ExperimentConfig,
    metrics: Mapping[str, float] | None = None,
    record: RunRecord | None = None,
) -> Path:
    """Write ``folder/README.md`` describing a trained generator.

    Args:
        folder: the weights folder (created if needed).
        experiment: the run's config.
        metrics: validation metrics of the exported weights: ``psnr_y``, ``ssim_y``, ``erqa``,
            ``mouth_psnr_y``, ``flicker`` (:data:`vfhgan_core.metrics.vocabulary.METRICS`; older files'
            ``mouth_psnr`` and ``temporal_flicker`` are read as these) and the same names prefixed
            ``bicubic/`` for the baseline on the same frames; other keys are listed as they are.
        record: facts only the trainer knows (:class:`~vfhgan_core.weights.run_record.RunRecord`,
            every field optional: the card leaves out what is not set).

    Returns:
        The path of the written ``README.md``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    r = record or RunRecord()
    metrics = canonical_metrics(metrics or {})
    g, losses, data, optim = (experiment.generator, experiment.losses,
                                 experiment.data, experiment.optim)
    licences = dataset_licences(experiment, r.clip_ids)
    research_only = any("research" in lic for _, lic, _ in licences)
    perceptual = resolve_perceptual(losses.perceptual_loss.vgg_weights)
    tags = ["super-resolution", "face-hallucination", "audio-visual", "video", "vfh-gan", "pytorch"]
    if experiment.is_variant:
        tags.append(experiment.variant)
    card_data = ModelCardData(
        license=r.license or "apache-2.0",
        library_name="vfhgan",
        tags=tags,
        datasets=[name.split(" (")[0] for name, lic, _ in licences if lic != "unknown"],
        metrics=["psnr", "ssim", "erqa"],
        pipeline_tag="image-to-image",
    )

    title = f"VFH-GAN generator: `{experiment.variant}`"
    parts = [f"# {title}", ""]
    parts.append(
        "×4 face restoration of talking-face video (32×32 → 128×128 face crops): each output frame is "
        f"restored from a window of {g.num_frames} low-resolution frames"
        + (" and the speech around it (an 80-bin log-mel window of 0.2 s)" if g.use_audio else "")
        + ". Reimplementation of *Audio-visual video face hallucination with frequency supervision and "
        "cross modality support by speech based lip reading loss* (Sharma, Dhall, Kumar & Bawa, 2022)."
    )
    if experiment.description:
        parts += ["", experiment.description]
    if research_only:
        parts += ["", "**Research use only**: part of the training data (HDTF) is licensed for research use."]

    # usage
    repo = r.repo_id
    parts += ["", "## Usage", "", "```python",
              "from vfhgan_core.weights import load_generator",
              f"generator = load_generator({experiment.variant!r}"
              + (f", source={repo!r}" if repo else ", source='path/to/weights'") + ")",
              "# lr: float (B, %d, 3, 32, 32) RGB in [0, 1]%s" % (
                  g.num_frames, "; mel: (B, 1, 80, 16) log-mel windows" if g.use_audio else ""),
              "sr = generator(lr%s).sr  # (B, 3, 128, 128)" % (", mel" if g.use_audio else ""),
              "```"]

    # architecture
    arch_rows = [
        ("frames per window", str(g.num_frames)),
        ("PHFE-B widths / depths (1×, 2×, 4×)", f"{_fmt(g.widths)} / {_fmt(g.depths)}"),
        ("audio branch (CMFE-B)", "yes" if g.use_audio else "no (the paper's \"w/o audio\")"),
        ("axial attention", ("yes" if g.use_attention else "no") if g.use_audio else "n/a"),
    ]
    if g.use_audio:
        arch_rows.append(("latent / audio dim, attention layers × heads",
                          f"{g.latent_dim} / {g.audio_dim}, {g.attention_layers} × {g.attention_heads}"))
    if r.num_parameters is not None:
        arch_rows.append(("parameters", f"{int(r.num_parameters):,}"))
    routing = r.routing
    if routing:
        arch_rows.append(("degradation router", "yes: two experts of this architecture, weighed per window"))
    parts += ["", "## Architecture", "", _table(arch_rows, ("", "")), "",
              "Full settings: `config.json` (generator) and `experiment.json` (the whole run)."]
    if routing:
        parts += ["", "## Routing between two experts", "", _routing_text(routing, experiment.variant)]

    # losses
    weight_rows = [
        ("perceptual", _fmt(losses.perceptual), "content term of eq. 11"),
        ("pixel (128×128)", _fmt(losses.pixel_128), losses.pixel_kind.upper()),
        ("pixel (64×64)", _fmt(losses.pixel_64), f"{losses.pixel_kind.upper()} on the intermediate ×2 output"),
        ("lip reading α", _fmt(losses.lip_reading), "L1 of frozen lip-reader features of mouth crops"),
        ("frequency β", _fmt(losses.frequency),
         "focal frequency loss" + (" at 128 and 64 px" if losses.frequency_at_64 else "")),
        ("adversarial γ", _fmt(losses.adversarial), f"{losses.adversarial_loss.kind} GAN loss"),
    ]
    parts += ["", "## Losses", "", _table(weight_rows, ("term", "weight", "what")), ""]
    if losses.perceptual > 0:
        parts.append(f"Perceptual term: **{perceptual.kind.replace('_', ' ')}** — {perceptual.reason}.")
    else:
        parts.append("No perceptual term (weight 0).")
    if optim.pixel_warmup_steps:
        parts.append(f"The first {optim.pixel_warmup_steps} step(s) trained the generator with the pixel terms only.")
    if experiment.init_from:
        parts.append(f"Initialised from `{experiment.init_from}`.")

    # data
    data_rows = [
        ("training sources", _fmt(list(data.train))),
        ("validation sources", _fmt(list(data.val)) or "held-out speakers of the training sources"),
    ]
    if data.val_speakers:
        data_rows.append(("held-out speakers", _fmt(list(data.val_speakers))))
    if data.holdout_sentences is not None:
        rule = data.holdout_sentences
        held = (f"the {len(rule.heldout)} listed sentences" if rule.heldout else
                f"{rule.heldout_fraction:.0%} of sentences by sha256 rule (salt {rule.salt!r})")
        data_rows.append(("sentences left out of training", f"{held}: the lip reader's evaluation sentences"))
    for speakers, label in ((r.train_speakers, "training speakers (groups)"),
                            (r.val_speakers, "validation speakers (groups)")):
        if speakers is not None:
            data_rows.append((label, _fmt(list(speakers))))
    for count, label in ((r.train_clips, "training clips"), (r.train_frames, "training frames"),
                         (r.val_clips, "validation clips"), (r.val_frames, "validation frames")):
        if count is not None:
            data_rows.append((label, f"{int(count):,}"))
    data_rows += [
        ("degradation", _degradation_text(data)),
        ("sample", f"{data.seq_len} consecutive frame(s), each with its {data.num_frames}-frame LR window"),
        ("augmentation", ", ".join([f"horizontal flip p = {_fmt(data.hflip_prob)}"]
                                   + ([f"colour jitter {_fmt(data.color_jitter)}"] if data.color_jitter else [])
                                   + ([f"geometric jitter {_fmt(data.geometric_jitter)}"]
                                      if data.geometric_jitter else [])
                                   + ([f"mouth occlusion p = {_fmt(data.mouth_occlusion)}"]
                                      if data.mouth_occlusion else []))),
    ]
    split_lines = ["The split is by speaker: no validation speaker is seen in training."]
    dropped = dict(r.val_same_recordings or {})
    if dropped:
        split_lines.append("Left out of validation, being training clips under another name (same speech "
                           "fingerprint): " + ", ".join(f"`{v}` = `{t}`" for v, t in sorted(dropped.items())) + ".")
    kept = dict(r.val_training_recordings or {})
    if kept:
        split_lines.append("**Caveat:** " + ", ".join(f"`{v}`" for v in sorted(kept)) + " in the validation data "
                           "is the training clip " + ", ".join(f"`{t}`" for _, t in sorted(kept.items()))
                           + " under another name (same speech fingerprint, found after this run), so the "
                           "validation metrics below include a training clip. `vfhgan evaluate` leaves it out.")
    parts += ["", "## Data and split", "", " ".join(split_lines), "", _table(data_rows, ("", ""))]

    # training
    processes = int(r.num_processes if r.num_processes is not None else 1)
    frames_per_step = experiment.frames_per_step * processes
    train_rows = [
        ("steps", _fmt(r.steps if r.steps is not None else optim.max_steps)),
        ("frames per step", f"{frames_per_step} ({optim.batch_size} samples × {data.seq_len} frames × "
                            f"{optim.grad_accum} accumulation × {processes} process(es))"),
        ("optimiser", f"Adam{'W' if optim.weight_decay else ''}, lr G {_fmt(optim.lr_g)}"
                      + (f" (audio branch ×{_fmt(optim.audio_branch_lr_scale)})"
                         if optim.audio_branch_lr_scale != 1 and experiment.generator.use_audio else "")
                      + f", lr D {_fmt(optim.lr_d)}, betas {_fmt(optim.betas)}"),
        ("schedule", f"{optim.warmup_steps} warm-up steps, then {optim.lr_schedule}"),
        ("EMA of the generator", f"decay {_fmt(optim.ema_decay)}" if optim.ema_decay else "no"),
        ("mixed precision", str(r.mixed_precision if r.mixed_precision is not None else optim.mixed_precision)),
        ("seed", str(optim.seed)),
    ]
    if r.device is not None:
        train_rows.append(("device", str(r.device)))
    if r.wall_time_s is not None:
        train_rows.append(("training time", f"{float(r.wall_time_s) / 60:.1f} min"))
    if r.resumed_at:
        steps = ", ".join(str(int(s)) for s in r.resumed_at)
        train_rows.append(("interrupted", f"stopped and continued with `--resume latest` at step {steps}; "
                                          "the training time sums the parts, and the command below started it"))
    parts += ["", "## Training", "", _table(train_rows, ("", ""))]
    if r.rounds:
        parts += ["", _rounds_section(r)]
    if r.command is not None:
        parts += ["", "Command:", "", "```bash", str(r.command), "```"]

    # metrics
    parts += ["", "## Validation metrics", ""]
    if metrics:
        rows = []
        shown = set()
        for key, label in ((k, METRICS[k].heading) for k in CARD_METRICS):
            if key in metrics:
                base = metrics.get(f"bicubic/{key}")
                rows.append((label, _fmt(float(metrics[key])), "" if base is None else _fmt(float(base))))
                shown |= {key, f"bicubic/{key}"}
        for key, value in metrics.items():
            if key not in shown and isinstance(value, (int, float)):
                rows.append((key, _fmt(float(value)), ""))
        parts += [_table(rows, ("metric", "this model", "bicubic")), "",
                  "Measured on the validation frames (" + ("see the caveat above" if kept else "unseen speakers")
                  + "), 128×128 face crops, Y channel of BT.601 YCbCr as in the paper."]
    else:
        parts.append("Not measured.")

    # licences
    parts += ["", "## Data licences", ""]
    parts += [f"- {name}: {lic} ({note})" for name, lic, note in licences]
    parts += ["", "The code is Apache-2.0. The paper's authors released no weights; these were trained "
              "from scratch by this project."]

    return save_model_card(folder, card_data, parts)


def save_model_card(folder: str | Path, card_data: ModelCardData, parts: list[str]) -> Path:
    """Write ``folder/README.md``: the YAML front matter of ``card_data``, then the markdown lines ``parts``."""
    card = ModelCard("---\n" + card_data.to_yaml() + "\n---\n\n" + "\n".join(parts) + "\n")
    path = Path(folder) / "README.md"
    card.save(path)
    return path


def _rounds_section(record: RunRecord) -> str:
    """The runs these weights went through, oldest first, this run last, and their total."""
    from vfhgan_core.weights.rounds import round_of, rounds_total

    rounds = [*(record.rounds or []), round_of(record)]
    rows = []
    for i, r in enumerate(rounds, 1):
        losses = r.get("losses") or {}
        switched = ", ".join(f"{k} {_fmt(v)}" for k, v in losses.items()
                             if k in ("frequency", "radial_spectrum", "lip_reading", "adversarial")
                             or (k == "mirror_distillation" and v))
        minutes = f"{float(r['wall_time_s']) / 60:.1f}" if r.get("wall_time_s") is not None else "?"
        if r.get("resumed_at"):
            minutes += " (resumed at step " + ", ".join(str(int(s)) for s in r["resumed_at"]) + ")"
        rows.append((str(i), f"`{r['variant']}`" if r.get("variant") else "?", str(r.get("device", "?")),
                     _fmt(r.get("steps")), minutes, switched or "?"))
    total = rounds_total(rounds)
    by_device = "; ".join(f"{k}: {v / 60:.1f} min" for k, v in total["wall_time_s_by_device"].items())
    grafted = any(r.get("variant") and r["variant"] != rounds[-1].get("variant") and not r["variant"].startswith("pretrain")
                  for r in rounds[:-1])
    note = (" Rounds of another variant came first: this audio variant started from the weights of its no-audio "
            "twin, with a fresh audio branch (an audio graft, train/README.md §9)." if grafted else "")
    return ("These weights are the last of several training runs, each starting from the one before "
            f"(`training.json`, `rounds`).{note}\n\n" +
            _table(rows, ("round", "variant", "device", "steps", "minutes", "loss weights")) +
            f"\n\nIn all: {total['steps']} steps; training time {by_device} (the pixel pretrain these "
            "runs start from is not counted where its run did not record it).")


def _repo_fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–" if value is None else str(value)
    return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"


def _yes(flag: bool) -> str:
    return "✓" if flag else "–"


def write_repo_card(
    staging: str | Path,
    repo_id: str,
    variants: Sequence[VariantFolder],
    lipreader: LipReaderFolder | None = None,
    revision: str | None = None,
) -> Path:
    """Write the repo-level ``README.md`` (model card of the whole repo) into ``staging``.

    The card has Hub front matter (licence, ``library_name: vfhgan``, tags, datasets, metrics),
    a table of the variants with their switches and validation metrics (``metrics.json``,
    bicubic on the same frames when the variants agree on it), how to load a variant (CLI,
    app and Python) and the data licences gathered from the variants' cards.

    Returns:
        The path of the written card.
    """
    staging = Path(staging)
    staging.mkdir(parents=True, exist_ok=True)
    names = [v.name for v in variants]
    example = DEFAULT_VARIANT if DEFAULT_VARIANT in names else names[0]

    licences: dict[str, list[str]] = {}
    for v in variants:
        for line in v.licences:
            licences.setdefault(line, []).append(v.name)
    weight_licences = {str(v.card_data.get("license", "apache-2.0")) for v in variants}
    datasets = list(dict.fromkeys(d for v in variants for d in v.card_data.get("datasets") or []))
    if lipreader is not None:
        datasets += [d for d in lipreader.card_data.get("datasets") or [] if d not in datasets]
    research_only = any("research" in line.lower() for line in licences)
    card_data = ModelCardData(
        license=weight_licences.pop() if len(weight_licences) == 1 else "other",
        library_name="vfhgan",
        tags=["super-resolution", "face-hallucination", "audio-visual", "video", "vfh-gan", "pytorch", *names],
        datasets=datasets or None,
        metrics=["psnr", "ssim", "erqa"],
        pipeline_tag="image-to-image",
    )

    parts = ["# VFH-GAN: audio-visual video face hallucination (×4)", ""]
    parts.append(
        "Trained generators of a reimplementation of *Audio-visual video face hallucination with frequency "
        "supervision and cross modality support by speech based lip reading loss* (Sharma, Dhall, Kumar & Bawa, "
        "2022): ×4 restoration of talking-face video (32×32 → 128×128 face crops) from a window of low-resolution "
        "frames and, for the `audio` variants, the speech around each frame. Each variant is one subfolder of this "
        "repo, named after the switches it was trained with; its own `README.md` is its full model card.")
    if research_only:
        parts += ["", "**Research use only** for the variants trained on research-only data (see *Data licences*)."]
    if revision and revision != constants.DEFAULT_REVISION:
        parts += ["", f"These files are on the branch `{revision}` of `{repo_id}`."]

    # variants table
    header = ("variant", "audio", "attention", "frequency loss", "lip loss", "steps",
              *(label for _, label in REPO_CARD_METRICS))
    rows = []
    for v in variants:
        s = parse_variant(v.name)
        label = f"[`{v.name}`]({v.name}/README.md)" + (" (default)" if v.name == DEFAULT_VARIANT else "")
        rows.append((label, _yes(s["audio"]), _yes(s["attention"]) if s["audio"] else "n/a",
                     _yes(s["frequency_loss"]), _yes(s["lip_loss"]), _repo_fmt(v.training.steps),
                     *(_repo_fmt(v.metrics.get(key)) for key, _ in REPO_CARD_METRICS)))
    baselines = {tuple(_repo_fmt(v.metrics.get(f"bicubic/{key}")) for key, _ in REPO_CARD_METRICS)
                 for v in variants if any(f"bicubic/{key}" in v.metrics for key, _ in REPO_CARD_METRICS)}
    if len(baselines) == 1:
        rows.append(("bicubic (same frames)", "", "", "", "", "", *baselines.pop()))
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    parts += ["", "## Variants", "", *lines, "",
              "Validation metrics of each exported generator on unseen speakers (128×128 face crops, Y channel of "
              "BT.601 YCbCr; ERQA v1.0), from its `metrics.json`; – where not measured."]
    if len(baselines) > 1:
        parts.append("The variants were validated on different frames: see each variant's card for its bicubic "
                     "baseline.")
    parts += ["", "Each variant folder holds `config.json` (generator architecture), `model.safetensors` (float32 "
              "weights), `experiment.json` (the whole training run), `metrics.json`, `training.json` and `README.md`."]

    # usage
    parts += ["", "## Usage", "",
              "With the VFH-GAN code installed (`pip install -e .` in a checkout of the project):", "",
              "```bash",
              f"python -m vfhgan_core enhance in.mp4 out.mp4 --weights {repo_id} --variant {example}",
              f"python app.py --weights {repo_id}    # the web app, every variant of this repo",
              "```", "",
              "```python",
              "from vfhgan_core.weights import load_generator",
              f"generator = load_generator({example!r}, source={repo_id!r})",
              "# or",
              "from vfhgan_core.models.generator import VFHGANGenerator",
              f"generator = VFHGANGenerator.from_pretrained({repo_id!r}, subfolder={example!r}"
              + (f", revision={revision!r}" if revision and revision != constants.DEFAULT_REVISION else "") + ")",
              "```", "",
              "Files are downloaded once into the Hugging Face cache; later runs work offline (`HF_HUB_OFFLINE=1`)."]
    if revision and revision != constants.DEFAULT_REVISION:
        parts += ["", f"The command line, the app and `load_generator` read the default branch; the files of the "
                      f"branch `{revision}` load with `from_pretrained(..., revision={revision!r})`."]
    if lipreader is not None:
        parts += ["", "## Lip reader", "",
                  f"`{LIPREADER}/` holds the frozen word-level lip reader ({lipreader.num_parameters:,} parameters) "
                  "whose features give the lip-reading loss of the `-lip` variants; it is needed for training only:",
                  "", "```bash",
                  f"hf download {repo_id} --include '{LIPREADER}/*' --local-dir weights",
                  "python train/train_vfhgan.py --config train/configs/audio-ffl-lip.json "
                  f"--lip-reader weights/{LIPREADER}",
                  "```", "", f"See [`{LIPREADER}/README.md`]({LIPREADER}/README.md) for its data and accuracy."]

    # licences
    parts += ["", "## Data licences", ""]
    for line, users in licences.items():
        parts.append(line + ("" if len(users) == len(variants) else f" — variants: {', '.join(users)}"))
    if lipreader is not None:
        for d in lipreader.card_data.get("datasets") or []:
            parts.append(f"- lip reader: {d}")
    if not licences and lipreader is None:
        parts.append("Not recorded in the variants' cards: check the training data's licences before use.")
    parts += ["", "The code is Apache-2.0. The paper's authors released no weights; these were trained from scratch "
              "by the VFH-GAN project."]

    return save_model_card(staging, card_data, parts)


# --------------------------------------------------------------------------- the lip reader's card


def lipreader_card(record: Mapping[str, Any]) -> str:
    """The ``README.md`` of a lip reader trained by ``train/train_lipreader.py``, from its ``training.json``.

    ``record`` holds the run's ``config`` (data, model, optim, log_every, ...), its ``best`` and
    ``last`` held-out evaluations, the step and time counts, the held-out sentence names, the
    command and ``device`` (how it ran: processor, cores, torch threads).
    """
    from vfhgan_core.models.lipreading import LipReaderConfig

    config = record["config"]
    data, optim = config["data"], config["optim"]
    split, augmentation = data["split"], data["augmentation"]
    model = from_dict(LipReaderConfig, config["model"])
    best, last = record.get("best"), record.get("last")
    vocab = len(data["vocabulary"])
    heldout = record["heldout_sentences"]
    lines = [
        "---",
        "library_name: vfhgan",
        "license: apache-2.0",
        "tags: [lip-reading, visual-speech-recognition, grid-corpus]",
        "datasets: [GRID corpus speaker s1 (CC BY 4.0)]",
        "---",
        "",
        "# VFH-GAN GRID lip reader (word level, speaker s1)",
        "",
        "The frozen feature extractor of VFH-GAN's lip-reading loss: a word-level visual lip reader "
        "of the architecture family of Martinez et al., *Lipreading using temporal convolutional networks* "
        "(ICASSP 2020; the paper's reference [21]), trained by this project from scratch on GRID. "
        "The official LRW weights could not be used (non-commercial licence, not downloadable here).",
        "",
        "```python",
        "from vfhgan_core.models.lipreading import LipReader",
        "model = LipReader.from_pretrained(\"assets/weights/lipreader\")  # eval(), float32",
        "```",
        "",
        "## Result",
        "",
    ]
    if best is not None:
        lines += [
            f"* held-out word accuracy: **{best['accuracy']:.1%}** ({best['count']} words of "
            f"{len(heldout)} unseen sentences; chance 1/{vocab} = {1 / vocab:.1%}), "
            f"best of the evaluations, at step {best['step']}; held-out cross-entropy {best['loss']:.3f}",
        ]
        if last is not None and last["step"] != best["step"]:
            lines.append(f"* at the last step ({last['step']}): {last['accuracy']:.1%}")
        if best["step"] == record["steps"]:
            lines.append("* the saved model is the one of the last step (also the best evaluation), so choosing "
                         "it did not lean on the held-out sentences")
        else:
            lines.append("* the held-out sentences also chose the saved step, so this figure is slightly "
                         "optimistic; there is no third, untouched test part")
        lines += ["", "| word group | held-out accuracy |", "|---|---|"]
        lines += [f"| {g} | {a:.1%} |" for g, a in best.get("per_group", {}).items()]
    lines += [
        "",
        "## Model",
        "",
        f"* `LipReader` with `{json.dumps(to_dict(model))}`",
        f"* {record['num_parameters'] / 1e6:.2f} M parameters: 3D conv front-end (5x7x7, {model.channels[0]} "
        f"channels), ResNet-18 trunk of widths {list(model.channels)}, multi-scale TCN (kernels "
        f"{list(model.tcn_kernel_size)}, {model.tcn_num_layers} layers, {model.tcn_channels} channels, dropout "
        f"{model.tcn_dropout}), {vocab}-word classifier",
        f"* input: float32 `(B, 1, {data['frames']}, 88, 88)` grayscale mouths at 25 fps, normalised "
        "`(x - 0.421) / 0.165` for x in [0, 1]: the centre 88x88 of the 96x96 mouth region that "
        "`vfhgan_core.faces.mouths.crop_mouths` cuts from a 128x128 face crop",
        "* labels: index into the sorted GRID vocabulary (`vfhgan_core.data.words.GRID_VOCABULARY`)",
        "",
        "## Data",
        "",
        "* GRID audio-visual corpus (Cooke, Barker, Cunningham and Shao, *An audio-visual corpus for speech "
        "perception and automatic speech recognition*, JASA 2006), speaker s1: 900 sentences; "
        "licence **CC BY 4.0**. Word boundaries from the corpus's `.align` files.",
        f"* one example per spoken word: a {data['frames']}-frame window centred on the word "
        "(`vfhgan_core.data.words.WordClipDataset`)",
        f"* split by sentence: {record['train_sentences']} training sentences ({record['train_words']} words), "
        f"{len(heldout)} held-out sentences; rule: a sentence is held out when "
        f"`sha256(\"{split['salt']}:<sentence>\") mod 10000 < {round(split['heldout_fraction'] * 10000)}`"
        + (" (explicit list in `training.json`)" if split.get("heldout") else "")
        + "; the held-out names are listed in `training.json`",
        f"* augmentation (training only): random 88x88 crop, horizontal flip p={augmentation['flip_prob']}, "
        f"one time mask of up to {augmentation['time_mask_max']} frames, window shift up to "
        f"{augmentation['max_shift']} frames",
        "* one speaker only: expect much lower accuracy on other faces. It is meant as the frozen network of "
        "the lip-reading loss (its front-end and trunk features), not as a general lip reader.",
        "",
        "## Training",
        "",
        f"* AdamW (lr {optim['lr']}, weight decay {optim['weight_decay']}), {optim['warmup_steps']} "
        f"warm-up steps then cosine decay, batch {optim['batch_size']}, label smoothing "
        f"{optim['label_smoothing']}, {record['steps']} steps",
        f"* {record['train_seconds'] / 60:.1f} min of training (data loading not counted) on "
        f"{record.get('device', 'an unrecorded device')}, torch {record['torch']}; train loss (augmented, "
        f"label-smoothed) {record['train_loss_first']:.3f} at step 1 -> {record['train_loss_last']:.3f} over "
        f"the last {config['log_every']} steps",
        "* command:",
        "",
        "```",
        record.get("command", ""),
        "```",
        "",
        "## Licence and attribution",
        "",
        "Weights: trained by the VFH-GAN project. Training data: the GRID corpus, CC BY 4.0 "
        "(http://spandh.dcs.shef.ac.uk/gridcorpus/); speaker s1 clips and alignments as redistributed "
        "in the osalinasv/lipnet repository.",
        "",
    ]
    return "\n".join(lines)


def write_lipreader_card(folder: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``folder/README.md``, the lip reader's card (:func:`lipreader_card`), and return its path."""
    path = Path(folder) / "README.md"
    path.write_text(lipreader_card(record), encoding="utf-8")
    return path
