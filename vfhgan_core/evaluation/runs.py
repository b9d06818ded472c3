"""Evaluation runs: bicubic and every generator variant scored on real clips (``evaluate``).

Data sources are prepared folders (the output of ``prepare``: shards with the 128×128
face crops, mel windows, mouth boxes and, for GRID, word alignments) or folders / files of
raw videos, which are prepared once into a cache folder with the same pipeline and reused.

For every clip, the 128×128 crops are the ground truth; they are degraded to 32×32 as in
training (:func:`vfhgan_core.faces.crops.degrade`) and restored by bicubic ×4 and by each
variant. Every method is scored against the ground truth:

* ``psnr_y``, ``ssim_y``, ``erqa`` (v1.0), ``mouth_psnr_y``: per frame, averaged over the
  clip (:mod:`vfhgan_core.metrics.clip_scores`);
* ``flicker``: temporal flicker of the clip (lower is better);
* ``hf_error_db``: mean over frames and over the rings of the radial power spectrum above
  the LR Nyquist frequency (0.125 cycles/pixel of the 128×128 frame by default) of
  ``|10·log10(P_SR / P_GT)|`` (:func:`vfhgan_core.metrics.spectral.high_frequency_scores`): how far
  the restored fine detail is from the truth in level (lower is better; bicubic is far below the
  truth there);
* ``hf_energy_ratio``: power in that band of SR over GT (1 = as much detail as the truth,
  below 1 = smoother, above 1 = invented detail);
* ``word_acc`` (clips with a word alignment, when a lip reader is given): the share of
  spoken words the lip reader recognises from the method's mouth regions; the ground
  truth's own accuracy is reported as the method ``ground_truth``.

Clips are scored one after another, or by ``workers`` processes in parallel (each loads the
generators once and runs them on its share of the CPU threads; the report is the same,
in the same clip order).

Means: ``methods`` holds the mean over clips of each clip's figure (every clip counts
the same), except ``word_acc`` which pools the words of all clips; ``datasets`` holds
the same per data source.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from vfhgan_core.audio import AudioConfig, silent_mel_windows
from vfhgan_core.config import to_dict
from vfhgan_core.data.degradations import DegradationConfig, degrade_clip, occlude_mouth
from vfhgan_core.data.fingerprints import find_same_recordings, shard_fingerprint
from vfhgan_core.data.shards import ClipShard, ShardError, load_shard, read_shard_meta
from vfhgan_core.data.windows import DataSplitError, find_clip_shards
from vfhgan_core.data.words import SentenceSplit, WordClipDataset, sentence_of
from vfhgan_core.errors import VFHGANError
from vfhgan_core.faces.crops import degrade
from vfhgan_core.metrics import ERQA_VERSION, METRICS
from vfhgan_core.metrics.clip_scores import score_frames
from vfhgan_core.metrics.spectral import high_frequency_scores
from vfhgan_core.pipelines.restore import bicubic_x4, run_generator

log = logging.getLogger(__name__)

__all__ = [
    "EvaluationConfig",
    "EvaluationError",
    "resolve_variants",
    "dataset_clips",
    "training_clips",
    "word_accuracy",
    "evaluate_clip",
    "evaluate",
    "summarise",
]

#: clip-level figures averaged over clips, in table order: every metric of the vocabulary but the word
#: accuracy, which is pooled over the words of all clips instead
CLIP_METRICS = tuple(k for k in METRICS if k != "word_acc")
GROUND_TRUTH = "ground_truth"
VIDEO_SUFFIXES = {".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


#: what the audio-conditioned variants hear during an evaluation (see ``EvaluationConfig.speech``)
SPEECH_MODES = ("matched", "reversed", "silence")


def speech_windows_for(mel_windows: np.ndarray, mode: str) -> torch.Tensor:
    """The mel windows ``(T, 1, n_mels, frames)`` a clip's frames are restored with under ``mode``."""
    mel = torch.from_numpy(np.asarray(mel_windows, dtype=np.float32))
    if mode == "matched":
        return mel
    if mode == "reversed":
        return mel.flip(0).contiguous()
    if mode == "silence":
        return silent_mel_windows(len(mel), AudioConfig(n_mels=mel.shape[-2], window_frames=mel.shape[-1]))
    raise ValueError(f"speech must be one of {', '.join(SPEECH_MODES)}, got {mode!r}")


class EvaluationError(VFHGANError):
    """The evaluation cannot run as asked (no clips, unknown variants, missing lip reader)."""

    reason = "bad_evaluation_input"


@dataclass(frozen=True)
class EvaluationConfig:
    """What an evaluation run scores and how.

    Attributes:
        variants: variant names, or ``("all",)`` for every variant found in ``weights``.
        weights: weights folder or Hub repo id (``None``: the bundled ``assets/weights``).
        lip_reader: folder of the trained lip reader (``None``: no word accuracy).
        sentences: ``"all"``, or ``"heldout"``: of the clips with a word alignment keep only
            those whose sentence ``sentence_split`` holds out (the GRID s1 sentences that
            neither the lip reader nor the shipped generators trained on). Clips without an
            alignment are always kept.
        sentence_split: the sentence rule behind ``sentences="heldout"``.
        degradation: HR → LR method (as in training).
        scale: super-resolution factor.
        high_band: ``(low, high)`` radial band in cycles/pixel of the HR frame for the
            spectral figures (default: above the LR Nyquist, 0.5 / scale, up to 0.5).
        max_clips: at most this many clips per data source (first by clip id); ``None`` = all.
        batch_size: frames per generator call.
        training_clips: ``"exclude"``: leave out every clip that an evaluated variant trained
            on (its ``training.json`` lists them by id and speech fingerprint, so a training
            clip that a data source holds under another name is left out too), so scores are
            on unseen clips only; ``"include"``: score them too (to see how well the training
            data is fitted).
        speech: what the audio-conditioned variants hear (an ablation at inference; the
            variants without audio are not affected): ``"matched"``, the clip's own speech
            window for each frame (normal use); ``"reversed"``, the clip's own windows in
            reverse frame order (the same voice, level and mel statistics, out of step with the
            lips); ``"silence"``, the mel windows of digital silence (what a clip without an
            audio track gives). Matched against reversed says whether a variant uses the timing
            of the speech; matched against silence whether hearing it helps at all.
        blind_degradation: make the LR inputs with this random real-video chain
            (:mod:`vfhgan_core.data.degradations`) instead of ``degradation``; each clip gets
            its own fixed draw (seeded by ``degradation_seed`` and the clip id), and the report
            lists the parameters applied to every clip. ``None``: the clean degradation.
        degradation_seed: seed of those draws.
        occlude_mouth: blur the mouth of every LR frame beyond reading after degrading it
            (:func:`vfhgan_core.data.degradations.occlude_mouth`, with each frame's mouth
            box), so that the mouth can only be restored from the speech: what an audio
            variant gains over its no-audio twin here is what it takes from the speech.
        self_ensemble: restore every frame also mirrored and average the two
            (:func:`vfhgan_core.pipelines.restore.restore_windows`): twice the compute.
    """

    variants: tuple[str, ...] = ("all",)
    weights: Optional[str] = None
    lip_reader: Optional[str] = None
    sentences: str = "all"
    sentence_split: SentenceSplit = field(default_factory=SentenceSplit)
    degradation: str = "bicubic_antialias"
    scale: int = 4
    high_band: tuple[float, float] = (0.125, 0.5)
    max_clips: Optional[int] = None
    batch_size: int = 32
    training_clips: str = "exclude"
    speech: str = "matched"
    blind_degradation: Optional[DegradationConfig] = None
    degradation_seed: int = 0
    occlude_mouth: bool = False
    self_ensemble: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(self.variants))
        object.__setattr__(self, "high_band", tuple(float(v) for v in self.high_band))
        if self.sentences not in ("all", "heldout"):
            raise ValueError(f"sentences must be 'all' or 'heldout', got {self.sentences!r}")
        low, high = self.high_band
        if not 0.0 <= low < high <= 0.5:
            raise ValueError(f"high_band must satisfy 0 <= low < high <= 0.5 cycles/pixel, got {self.high_band}")
        if self.max_clips is not None and self.max_clips < 1:
            raise ValueError(f"max_clips must be >= 1 or None, got {self.max_clips}")
        if self.training_clips not in ("exclude", "include"):
            raise ValueError(f"training_clips must be 'exclude' or 'include', got {self.training_clips!r}")
        if self.speech not in SPEECH_MODES:
            raise ValueError(f"speech must be one of {', '.join(SPEECH_MODES)}, got {self.speech!r}")


# --------------------------------------------------------------------------- inputs


def resolve_variants(names: Sequence[str], weights: str | None) -> list[str]:
    """The variant names to evaluate: ``["all"]`` expands to every variant in ``weights``."""
    from vfhgan_core.weights.hub import list_variants, parse_variant

    if list(names) == ["all"]:
        found = list_variants(weights)
        if not found:
            where = weights or "the bundled assets/weights"
            raise EvaluationError(
                f"no trained variant in {where}: train them (train/train_variants.py) or pass "
                "--weights with a folder or Hub repo that holds them")
        return found
    for name in names:
        try:
            parse_variant(name)
        except ValueError as exc:
            raise EvaluationError(str(exc)) from None
    return list(dict.fromkeys(names))


def _is_prepared(source: Path) -> bool:
    if source.is_file():
        return source.suffix in (".npz", ".json")
    return (source / "manifest.json").is_file() or any(source.rglob("*.npz"))


def _cache_folder(source: Path, cache_dir: Path) -> Path:
    digest = hashlib.sha256(str(source.resolve()).encode("utf-8")).hexdigest()[:10]
    return cache_dir / f"{source.stem or 'data'}-{digest}"


def training_clips(variant: str, weights: str | None) -> dict[str, Optional[str]]:
    """The clips ``variant`` was trained on, from the ``training.json`` next to its weights:
    ``{clip id: speech fingerprint}`` (:mod:`vfhgan_core.data.fingerprints`; ``None`` where the
    run recorded none). Empty when the weights carry no such list (e.g. trained elsewhere)."""
    from vfhgan_core.weights.hub import WeightsNotFoundError, load_run_record

    try:
        record = load_run_record(variant, weights)
    except (WeightsNotFoundError, OSError, ValueError):
        return {}
    if record is None:
        return {}
    fingerprints = record.train_clip_fingerprints or {}
    return {cid: fingerprints.get(cid) for cid in record.train_clip_ids or ()}


def dataset_clips(
    source: str | Path,
    cache_dir: str | Path,
    prepare: Callable[[Path, Path], None] | None = None,
) -> dict[str, Path]:
    """``{clip id: shard path}`` of one data source, preparing raw videos on first use.

    Args:
        source: a prepared folder / manifest / shard, or a folder or file of raw videos.
        cache_dir: where raw sources are prepared (one sub-folder per source path; a
            second run hands it to ``prepare`` again, which reuses every finished clip,
            prepares only new or changed videos, resumes an interrupted run and refuses
            other pipeline settings).
        prepare: ``prepare(source, out_dir)`` that prepares raw videos (the CLI passes
            :func:`vfhgan_core.data.prepare.prepare_dataset` with its detector).

    Raises:
        EvaluationError: the source does not exist, holds no video, or nothing could be prepared.
    """
    source = Path(source)
    if not source.exists():
        raise EvaluationError(f"data source {source} does not exist: pass a folder of videos or the "
                              "output folder of `vfhgan prepare`")
    if not _is_prepared(source):
        videos = [source] if source.is_file() else [p for p in source.rglob("*")
                                                         if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
        if not videos:
            raise EvaluationError(f"{source} holds neither prepared shards nor videos "
                                  f"({', '.join(sorted(VIDEO_SUFFIXES))})")
        if prepare is None:
            raise EvaluationError(f"{source} holds raw videos; prepare them first (`vfhgan prepare`)")
        out = _cache_folder(source, Path(cache_dir))
        log.info("preparing %s into %s (clips done earlier are reused)", source, out)
        prepare(source, out)
        source = out
    try:
        return find_clip_shards(source)
    except DataSplitError as exc:
        raise EvaluationError(f"no usable clip in {source}: {exc}") from None


# --------------------------------------------------------------------------- figures


def word_accuracy(shard: ClipShard, frames: np.ndarray, reader: torch.nn.Module) -> tuple[int, int]:
    """``(correct, words)``: how many spoken words of ``shard`` the lip reader recognises
    from ``frames`` (uint8 (T, 128, 128, 3), the clip restored by some method), with the
    shard's mouth boxes and the evaluation centre crop of :class:`WordClipDataset`."""
    restored = replace(shard, hr=frames)
    data = WordClipDataset([restored], split="all")
    if len(data) == 0:
        return 0, 0
    items = [data[i] for i in range(len(data))]
    mouths = torch.stack([it["mouths"] for it in items])
    lengths = torch.stack([it["length"] for it in items])
    labels = torch.stack([it["label"] for it in items])
    logits = reader(mouths, lengths)
    return int((logits.argmax(1) == labels).sum()), len(items)


def evaluate_clip(
    shard: ClipShard,
    generators: Mapping[str, torch.nn.Module],
    config: EvaluationConfig,
    reader: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """Score bicubic and every generator on one prepared clip.

    Returns ``{"name", "frames", "words", "methods": {method: {metric: value}}}``; with a
    lip reader and a word alignment, each method also has ``word_correct`` / ``word_acc``
    and the ground truth appears as method ``ground_truth`` (word figures only).
    """
    gt = shard.hr
    applied = None
    if config.blind_degradation is not None:
        seed = int.from_bytes(hashlib.sha256(f"{config.degradation_seed}:{shard.clip_id}".encode()).digest()[:8], "big")
        lr, params = degrade_clip(gt, config.blind_degradation, seed=seed)
        applied = params.to_dict()
    else:
        lr = degrade(gt, scale=config.scale, method=config.degradation)
    if config.occlude_mouth:
        lr = occlude_mouth(lr, shard.mouth_boxes, config.scale)
    mel = speech_windows_for(shard.mel_windows, config.speech)
    outputs = {"bicubic": bicubic_x4(lr, config.scale)}
    for name, gen in generators.items():
        outputs[name] = run_generator(gen, lr, mel, config.batch_size, self_ensemble=config.self_ensemble)
    has_words = reader is not None and bool([w for w in shard.words if w[0] not in ("sil", "sp")])
    methods: dict[str, dict[str, float]] = {}
    words = 0
    for name, frames in outputs.items():
        scores = score_frames(frames, gt, shard.mouth_boxes).means()
        scores.update(high_frequency_scores(frames, gt, config.high_band))
        if has_words:
            correct, words = word_accuracy(shard, frames, reader)
            scores.update(word_correct=correct, word_acc=correct / max(words, 1))
        methods[name] = scores
    if has_words:
        correct, words = word_accuracy(shard, gt, reader)
        methods[GROUND_TRUTH] = {"word_correct": correct, "word_acc": correct / max(words, 1)}
    row = {"name": shard.clip_id, "frames": shard.num_frames, "words": words, "methods": methods}
    if applied is not None:
        row["degradation"] = applied
    return row


def summarise(clips: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Means over clips (``word_acc`` pooled over words) of each method's figures."""
    out: dict[str, dict[str, float]] = {}
    names = list(dict.fromkeys(m for c in clips for m in c["methods"]))
    for name in names:
        rows = [c for c in clips if name in c["methods"]]
        summary: dict[str, float] = {}
        for metric in CLIP_METRICS:
            values = [c["methods"][name][metric] for c in rows if metric in c["methods"][name]]
            values = [v for v in values if np.isfinite(v)]
            if values:
                summary[metric] = float(np.mean(values))
        worded = [c for c in rows if "word_correct" in c["methods"][name]]
        if worded:
            total = sum(c["words"] for c in worded)
            correct = sum(c["methods"][name]["word_correct"] for c in worded)
            summary.update(word_acc=correct / max(total, 1), words=total)
        summary["clips"] = len(rows)
        out[name] = summary
    return out


def _load_lip_reader(folder: str | None) -> torch.nn.Module | None:
    """The lip reader saved in ``folder`` (``None``: no word accuracy), with a clear error."""
    if folder is None:
        return None
    from vfhgan_core.weights.hub import load_lip_reader

    path = Path(folder)
    if not path.is_dir():
        raise EvaluationError(f"lip reader folder {folder} does not exist (train it with "
                              "train/train_lipreader.py, or leave out --lip-reader)")
    missing = [f for f in ("config.json", "model.safetensors") if not (path / f).is_file()]
    if missing:
        raise EvaluationError(f"lip reader folder {folder} lacks {' and '.join(missing)}: pass the "
                              "folder that train/train_lipreader.py saved, or leave out --lip-reader")
    return load_lip_reader(folder)


def _score_shard(path: Path, generators: Mapping[str, torch.nn.Module], config: EvaluationConfig,
                 reader: torch.nn.Module | None) -> dict[str, Any]:
    try:
        shard = load_shard(path)
    except ShardError as exc:
        raise EvaluationError(str(exc)) from None
    return evaluate_clip(shard, generators, config, reader)


#: models of a scoring worker process, loaded once by :func:`_init_worker`
_WORKER: dict[str, Any] = {}


def _init_worker(variants: Sequence[str], config: EvaluationConfig, threads: int) -> None:
    from vfhgan_core.weights.hub import load_generator

    torch.set_num_threads(threads)
    _WORKER["generators"] = {v: load_generator(v, config.weights) for v in variants}
    _WORKER["reader"] = _load_lip_reader(config.lip_reader)
    _WORKER["config"] = config


def _worker_score(path: Path) -> dict[str, Any]:
    return _score_shard(path, _WORKER["generators"], _WORKER["config"], _WORKER["reader"])


def _score_all(paths: Sequence[Path], generators: Mapping[str, torch.nn.Module], config: EvaluationConfig,
               reader: torch.nn.Module | None, workers: int) -> Iterator[dict[str, Any]]:
    """Rows of :func:`evaluate_clip` for ``paths``, in order.

    With ``workers`` > 1 the clips go to that many processes, which load the same
    variants and lip reader themselves (from ``config``) and share the CPU threads.
    """
    workers = max(1, min(workers, len(paths)))
    if workers == 1:
        for path in paths:
            yield _score_shard(path, generators, config, reader)
        return
    # spawn, not fork: a forked child of a process that already ran torch's thread pool can hang
    threads = max(1, torch.get_num_threads() // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(tuple(generators), config, threads)) as pool:
        yield from pool.map(_worker_score, paths)


def evaluate(
    sources: Sequence[str | Path],
    config: EvaluationConfig = EvaluationConfig(),
    cache_dir: str | Path = Path.home() / ".cache" / "vfhgan" / "prepared",
    prepare: Callable[[Path, Path], None] | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Evaluate bicubic and the variants on every clip of ``sources`` (see the module docstring).

    ``workers`` > 1 scores clips in that many processes (same report, same clip order).

    Returns the report: ``{"config", "erqa_version", "variants", "methods", "datasets",
    "clips", "seconds"}``; ``methods`` and each ``datasets[name]["methods"]`` map method →
    mean figures, ``clips`` lists ``{"name", "dataset", "frames", "words", "methods"}``.
    """
    t0 = time.perf_counter()
    if workers < 1:
        raise EvaluationError(f"workers must be at least 1, got {workers}")
    from vfhgan_core.weights.hub import load_generator

    variants = resolve_variants(config.variants, config.weights)
    # loaded here even when worker processes score: bad weights fail before any clip is prepared
    generators = {v: load_generator(v, config.weights) for v in variants}
    trained_on: dict[str, Optional[str]] = {}
    for v in variants:
        trained_on.update(training_clips(v, config.weights))
    reader = _load_lip_reader(config.lip_reader)
    excluded: list[str] = []
    same_recordings: dict[str, str] = {}

    chosen_by_dataset: dict[str, tuple[str, list[tuple[str, Path]]]] = {}
    for source in sources:
        base = Path(source).name or str(source)
        name, n = base, 2
        while name in chosen_by_dataset:  # two sources with the same folder name stay apart
            name, n = f"{base}-{n}", n + 1
        shards = dataset_clips(source, cache_dir, prepare)
        twins: dict[str, str] = {}
        if config.training_clips == "exclude" and trained_on:
            # training clips under another name (e.g. a corpus clip redistributed elsewhere)
            twins = find_same_recordings({c: shard_fingerprint(p) for c, p in shards.items() if c not in trained_on},
                                         trained_on)
        chosen: list[tuple[str, Path]] = []
        for clip_id, path in sorted(shards.items()):
            if config.max_clips is not None and len(chosen) >= config.max_clips:
                break
            if config.training_clips == "exclude" and (clip_id in trained_on or clip_id in twins):
                excluded.append(clip_id)
                if clip_id in twins:
                    same_recordings[clip_id] = twins[clip_id]
                continue
            if config.sentences == "heldout":
                try:
                    shard_words = read_shard_meta(path).get("words", [])
                except ShardError as exc:
                    raise EvaluationError(str(exc)) from None
                if shard_words and not config.sentence_split.is_heldout(sentence_of(clip_id)):
                    continue
            chosen.append((clip_id, path))
        if not chosen:
            why = f"sentences={config.sentences!r}"
            if any(c in excluded for c in shards):
                why += ("; the variants trained on its other clips, which are left out "
                        "(pass --training-clips include to score them anyway)")
            raise EvaluationError(f"no clip of {source} is left to evaluate ({why})")
        chosen_by_dataset[name] = (str(source), chosen)

    work = [(name, k, clip_id, path) for name, (_, chosen) in chosen_by_dataset.items()
            for k, (clip_id, path) in enumerate(chosen)]
    rows_by_dataset: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen_by_dataset}
    for (name, k, clip_id, _), row in zip(work, _score_all([w[3] for w in work], generators, config, reader, workers)):
        row["dataset"] = name
        rows_by_dataset[name].append(row)
        if progress is not None:
            progress(f"{name}: {k + 1}/{len(chosen_by_dataset[name][1])} {clip_id}")

    clips: list[dict[str, Any]] = []
    datasets: dict[str, dict[str, Any]] = {}
    for name, rows in rows_by_dataset.items():
        datasets[name] = {"source": chosen_by_dataset[name][0], "clips": len(rows),
                          "frames": sum(r["frames"] for r in rows), "methods": summarise(rows)}
        clips.extend(rows)
    return {
        "config": to_dict(config),
        "erqa_version": ERQA_VERSION,
        "variants": variants,
        "methods": summarise(clips),
        "datasets": datasets,
        "clips": clips,
        "excluded_training_clips": excluded,
        "same_recordings": same_recordings,
        "seconds": time.perf_counter() - t0,
    }
