"""The typed description of one VFH-GAN training run (an *experiment*).

An :class:`ExperimentConfig` says everything a run needs: which generator
variant is trained (architecture switches), the discriminator, every loss
weight, the data and its speaker-disjoint split, the optimiser schedule and
where the weights start from. It round-trips through JSON
(:func:`load_experiment` / :func:`save_experiment`, built on
:mod:`vfhgan_core.config`), so the same object is

* the file a run is started from (``train/configs/*.json``),
* written as ``experiment.json`` beside every checkpoint and into the shipped
  weights folder (next to the generator's ``config.json``),
* the source of the model card (:mod:`vfhgan_core.weights.model_card`).

Variant names follow :func:`vfhgan_core.weights.hub.variant_name`
(``audio-ffl-lip``, ``noaudio-noffl-nolip``, ``audio-ffl-lip-noattn``, ...);
when a run carries such a name, :meth:`ExperimentConfig.check` verifies that
the switches agree with it (audio and attention in the generator, frequency
and lip-reading weights in the losses). Runs that only prepare weights for
others (the pixel-loss pretrains) use any other name, e.g. ``pretrain-audio``,
and cannot be exported as a variant.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.data.degradations import DegradationConfig
from vfhgan_core.data.words import SentenceSplit
from vfhgan_core.faces.crops import DEGRADATIONS
from vfhgan_core.losses.total import LossConfig
from vfhgan_core.models.discriminator import DiscriminatorConfig
from vfhgan_core.models.generator import GeneratorConfig
from vfhgan_core.weights.variants import parse_variant, variant_name

__all__ = [
    "MIXED_PRECISION",
    "LR_SCHEDULES",
    "DataConfig",
    "OptimConfig",
    "ExperimentConfig",
    "load_experiment",
    "save_experiment",
]

#: accepted values of :attr:`OptimConfig.mixed_precision` (Accelerate's names)
MIXED_PRECISION = ("no", "fp16", "bf16")
#: accepted values of :attr:`OptimConfig.lr_schedule`
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class DataConfig:
    """Which prepared clips train and validate a run, and how samples are cut from them.

    Sources (``train``, ``val``) are outputs of ``vfhgan prepare``: a prepared
    folder (its ``manifest.json`` lists the good shards), a ``manifest.json``
    file, a folder of ``.npz`` shards or one shard file. Relative paths are
    taken from the working directory (run the trainer from the repository root).

    The split is by speaker, never by frame or sentence: a clip's speaker is
    given by the first matching rule of ``speaker_rules`` (``(clip-id prefix,
    speaker)`` pairs) or, without a match, is the folder part of its clip id
    (``grid_s1/video/bbaf2n`` → ``grid_s1/video``: one folder, one speaker,
    which merges rather than splits people and so never leaks one into both
    sides). Validation clips are every clip of ``val`` plus the clips of
    ``train`` whose speaker is in ``val_speakers``; training clips are the
    rest of ``train``. A speaker on both sides is an error
    (:func:`vfhgan_core.data.windows.split_clips`).

    Attributes:
        train: sources of training clips (required: where prepared clips live is the user's
            choice, so there is no default; ``train/configs/*.json`` name this repository's).
        val: sources used only for validation (may be empty when ``val_speakers`` is set).
        val_speakers: speakers of ``train`` moved to validation.
        speaker_rules: ``(clip-id prefix, speaker)`` pairs naming speakers; first match wins.
        num_frames: LR frames per generator window (``2j + 1``; 5 in the paper).
        seq_len: consecutive target frames per training sample (the lip-reading loss
            sees them as one clip; 1 for frame-wise losses). Use the same value for
            every variant that is compared, so each sees the same frames.
        scale: super-resolution factor (HR side / LR side).
        degradation: HR → LR method (:data:`vfhgan_core.faces.crops.DEGRADATIONS`).
        hflip_prob: probability of mirroring a training sample (frames and mouth boxes).
        color_jitter: strength (0–1) of a random colour change (white balance, brightness,
            contrast, saturation) applied alike to a training sample's LR and HR frames.
        geometric_jitter: strength (0–1) of a random scale (±10 %), rotation (±10°) and shift
            (±6 %) of a training sample's HR frames, from which its LR frames are then made.
        mouth_occlusion: share of training samples whose LR mouth is blurred beyond reading
            (:func:`vfhgan_core.data.degradations.occlude_mouth`): the mouth of those samples
            is only determined by the speech, which gives the audio branch something to learn.
            Use the same value for an audio variant and its no-audio twin.
        speaker_sampling_power: a training speaker's share of the samples is ∝ its
            frames to this power: 1 = every frame alike (the largest speaker dominates),
            0 = every speaker alike, 0.5 = a middle way for one large and many small speakers
            (:func:`vfhgan_core.data.windows.speaker_balanced_weights`).
        val_seq_len: consecutive frames per validation sample (≥ 2: temporal flicker).
        val_samples_per_clip: validation samples per clip, evenly spaced in the clip.
        max_train_clips: use only the first N training clips (by id); ``None`` = all.
        holdout_sentences: leave out of training every clip with a word alignment whose
            sentence this rule holds out (:class:`~vfhgan_core.data.words.SentenceSplit`: the
            lip reader's evaluation sentences), so that word accuracy on restored frames is
            measured on sentences neither network trained on; ``None`` = keep all.
        num_workers: DataLoader worker processes (0: load in the training process).
        blind_degradation: the random degradation chain of real low-quality video (blur,
            downsampling method, noise, JPEG or H.264; :mod:`vfhgan_core.data.degradations`),
            drawn anew for every training sample and fixed per validation sample, instead of
            the clean ``degradation``; ``None`` (default) = the clean degradation.
    """

    train: tuple[str, ...]
    val: tuple[str, ...] = ()
    val_speakers: tuple[str, ...] = ()
    speaker_rules: tuple[tuple[str, str], ...] = ()
    num_frames: int = 5
    seq_len: int = 1
    scale: int = 4
    degradation: str = "bicubic_antialias"
    hflip_prob: float = 0.5
    color_jitter: float = 0.0
    geometric_jitter: float = 0.0
    mouth_occlusion: float = 0.0
    speaker_sampling_power: float = 1.0
    val_seq_len: int = 5
    val_samples_per_clip: int = 4
    max_train_clips: Optional[int] = None
    holdout_sentences: Optional[SentenceSplit] = None
    num_workers: int = 0
    blind_degradation: Optional[DegradationConfig] = None

    def __post_init__(self) -> None:
        for name in ("train", "val", "val_speakers"):
            value = getattr(self, name)
            if isinstance(value, (str, Path)):
                raise ValueError(f"data.{name} must be a list of strings, got the single string {value!r}")
            object.__setattr__(self, name, tuple(str(v) for v in value))
        object.__setattr__(self, "speaker_rules", tuple(tuple(r) for r in self.speaker_rules))
        problems = []
        if not self.train:
            problems.append("data.train names no source (give the output folder of `vfhgan prepare`)")
        if not self.val and not self.val_speakers:
            problems.append("no validation data: set data.val (prepared folders of other speakers) "
                            "or data.val_speakers (speakers of data.train to hold out)")
        if any(len(r) != 2 or not all(isinstance(x, str) and x for x in r) for r in self.speaker_rules):
            problems.append(f"data.speaker_rules must be [prefix, speaker] pairs, got {self.speaker_rules}")
        if self.num_frames < 1 or self.num_frames % 2 == 0:
            problems.append(f"data.num_frames must be odd and >= 1, got {self.num_frames}")
        if self.seq_len < 1:
            problems.append(f"data.seq_len must be >= 1, got {self.seq_len}")
        if self.val_seq_len < 2:
            problems.append(f"data.val_seq_len must be >= 2 (temporal flicker), got {self.val_seq_len}")
        if self.val_samples_per_clip < 1:
            problems.append(f"data.val_samples_per_clip must be >= 1, got {self.val_samples_per_clip}")
        if self.degradation not in DEGRADATIONS:
            problems.append(f"data.degradation must be one of {DEGRADATIONS}, got {self.degradation!r}")
        if self.scale < 1:
            problems.append(f"data.scale must be >= 1, got {self.scale}")
        if not 0.0 <= self.hflip_prob <= 1.0:
            problems.append(f"data.hflip_prob must be in [0, 1], got {self.hflip_prob}")
        if not 0.0 <= self.color_jitter <= 1.0:
            problems.append(f"data.color_jitter must be in [0, 1], got {self.color_jitter}")
        if not 0.0 <= self.geometric_jitter <= 1.0:
            problems.append(f"data.geometric_jitter must be in [0, 1], got {self.geometric_jitter}")
        if not 0.0 <= self.mouth_occlusion <= 1.0:
            problems.append(f"data.mouth_occlusion must be in [0, 1], got {self.mouth_occlusion}")
        if not 0.0 <= self.speaker_sampling_power <= 1.0:
            problems.append(f"data.speaker_sampling_power must be in [0, 1], got {self.speaker_sampling_power}")
        if self.max_train_clips is not None and self.max_train_clips < 1:
            problems.append(f"data.max_train_clips must be >= 1 or null, got {self.max_train_clips}")
        if self.num_workers < 0:
            problems.append(f"data.num_workers must be >= 0, got {self.num_workers}")
        if self.blind_degradation is not None and self.blind_degradation.scale != self.scale:
            problems.append(f"data.blind_degradation.scale ({self.blind_degradation.scale}) must equal data.scale "
                            f"({self.scale})")
        if problems:
            raise ValueError("invalid DataConfig: " + "; ".join(problems))


@dataclass(frozen=True)
class OptimConfig:
    """Optimisers, schedule, precision and the run's intervals.

    Steps count optimiser updates (one update = ``grad_accum`` micro-batches on
    every process); a micro-batch is ``batch_size`` samples of ``data.seq_len``
    frames per process, so one step sees
    ``batch_size * seq_len * grad_accum * num_processes`` frames.

    Attributes:
        lr_g, lr_d: Adam learning rates of the generator and the discriminator.
        audio_branch_lr_scale: learning rate of the generator's audio branch (CMFE-B) as a
            multiple of ``lr_g``. Its output projection starts at zero, so at ``lr_g`` a short
            fine-tune barely moves it (train/README.md §10); 1 = one learning rate for all.
        train_audio_branch_only: train only the audio branch; every other generator weight
            stays as ``init_from`` gave it (an audio variant grafted onto its no-audio twin then
            differs from the twin by its speech branch alone).
        betas: Adam betas (both optimisers).
        weight_decay: AdamW weight decay (0: plain Adam).
        batch_size: samples per micro-batch and process.
        grad_accum: micro-batches accumulated per step.
        max_steps: steps of the run.
        warmup_steps: linear learning-rate warm-up from 0 (both optimisers).
        lr_schedule: ``"constant"`` or ``"cosine"`` (decay to ``min_lr_ratio · lr`` at ``max_steps``).
        min_lr_ratio: final learning rate of the cosine schedule, relative to the peak.
        pixel_warmup_steps: first steps train the generator with its pixel terms only
            (no discriminator, no other term); 0 = every term from the start.
        grad_clip: maximum global gradient norm (0: no clipping).
        ema_decay: decay of the generator's exponential moving average (0: no EMA;
            the raw generator is then evaluated and exported).
        mixed_precision: ``"no"``, ``"fp16"`` or ``"bf16"`` (GPU; on CPU the run falls back to ``"no"``).
        seed: seed of model initialisation and of the training samples.
        log_interval: steps between loss logs.
        val_interval: steps between validations (metrics and sample grids); 0 = only at the end.
        save_interval: steps between checkpoints; 0 = only at the end.
        checkpoints_total_limit: checkpoints kept (oldest removed first); 0 = keep all.
    """

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    audio_branch_lr_scale: float = 1.0
    train_audio_branch_only: bool = False
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    batch_size: int = 16
    grad_accum: int = 1
    max_steps: int = 2000
    warmup_steps: int = 100
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    pixel_warmup_steps: int = 0
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    mixed_precision: str = "no"
    seed: int = 0
    log_interval: int = 10
    val_interval: int = 250
    save_interval: int = 250
    checkpoints_total_limit: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        problems = []
        if self.lr_g <= 0 or self.lr_d <= 0:
            problems.append(f"learning rates must be > 0, got lr_g {self.lr_g}, lr_d {self.lr_d}")
        if self.audio_branch_lr_scale <= 0:
            problems.append(f"optim.audio_branch_lr_scale must be > 0, got {self.audio_branch_lr_scale}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            problems.append(f"betas must be two numbers in [0, 1), got {self.betas}")
        for name in ("batch_size", "grad_accum", "max_steps"):
            if getattr(self, name) < 1:
                problems.append(f"optim.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "pixel_warmup_steps", "log_interval", "val_interval", "save_interval",
                     "checkpoints_total_limit"):
            if getattr(self, name) < 0:
                problems.append(f"optim.{name} must be >= 0, got {getattr(self, name)}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            problems.append("optim.weight_decay and optim.grad_clip must be >= 0")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"optim.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            problems.append(f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0.0 <= self.ema_decay < 1.0:
            problems.append(f"optim.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.mixed_precision not in MIXED_PRECISION:
            problems.append(f"optim.mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        if problems:
            raise ValueError("invalid OptimConfig: " + "; ".join(problems))


@dataclass(frozen=True)
class ExperimentConfig:
    """One training run (see the module docstring).

    Attributes:
        variant: the generator variant trained (a :func:`~vfhgan_core.weights.hub.variant_name`
            such as ``audio-ffl-lip``), or another run name (e.g. ``pretrain-audio``)
            for runs that are not exported as a variant.
        description: one line for logs and the model card.
        generator: the generator architecture.
        discriminator: the patch discriminator (built only when a loss needs it).
        losses: loss weights (0 switches a term off).
        data: data sources, split and sampling (required, by keyword).
        optim: optimisers, schedule and intervals.
        init_from: generator weights to start from: a ``save_pretrained`` folder (e.g. a
            pretrain run's ``final/``), a run folder or a checkpoint folder of this
            trainer; ``None`` = random initialisation. The architecture must match.
        lip_reader: folder or Hub id of the frozen lip reader (``LipReader.from_pretrained``),
            used when ``losses.lip_reading > 0``.
    """

    variant: str
    description: str = ""
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(kw_only=True)
    optim: OptimConfig = field(default_factory=OptimConfig)
    init_from: Optional[str] = None
    lip_reader: Optional[str] = "assets/weights/lipreader"

    def __post_init__(self) -> None:
        self.check()

    # ------------------------------------------------------------------ checks
    @property
    def is_variant(self) -> bool:
        """True when :attr:`variant` is a hub variant name (the run can be exported as one)."""
        try:
            parse_variant(self.variant)
        except ValueError:
            return False
        return True

    @property
    def switches(self) -> dict[str, bool]:
        """The variant switches this config trains (audio, frequency_loss, lip_loss, attention, real_world)."""
        return {
            "audio": self.generator.use_audio,
            "frequency_loss": self.losses.frequency > 0 or self.losses.radial_spectrum > 0,
            "lip_loss": self.losses.lip_reading > 0,
            "attention": self.generator.use_attention,
            "real_world": self.data.blind_degradation is not None,
        }

    @property
    def expected_variant(self) -> str:
        """The variant name the switches give (e.g. ``audio-ffl-lip``)."""
        return variant_name(**self.switches)

    def check(self) -> None:
        """Raise ``ValueError`` naming every inconsistency between the parts of the config."""
        problems = []
        if not self.variant or any(c in self.variant for c in "/\\ "):
            problems.append(f"variant must be a name without spaces or slashes, got {self.variant!r}")
        elif self.is_variant and self.variant != self.expected_variant:
            problems.append(
                f"variant {self.variant!r} does not match its switches (generator.use_audio="
                f"{self.generator.use_audio}, generator.use_attention={self.generator.use_attention}, "
                f"losses.frequency={self.losses.frequency}, losses.lip_reading={self.losses.lip_reading}, "
                f"data.blind_degradation {'set' if self.data.blind_degradation is not None else 'unset'}), "
                f"which name {self.expected_variant!r}"
            )
        if self.data.num_frames != self.generator.num_frames:
            problems.append(f"data.num_frames ({self.data.num_frames}) differs from generator.num_frames "
                            f"({self.generator.num_frames})")
        if self.data.scale != self.generator.scale:
            problems.append(f"data.scale ({self.data.scale}) differs from generator.scale ({self.generator.scale})")
        if self.losses.lip_reading > 0 and not self.lip_reader:
            problems.append("losses.lip_reading > 0 needs lip_reader (folder of a trained LipReader)")
        if self.losses.mirror_distillation > 0 and self.optim.ema_decay <= 0:
            problems.append("losses.mirror_distillation > 0 needs optim.ema_decay > 0 (the EMA is its teacher)")
        if self.optim.pixel_warmup_steps > self.optim.max_steps:
            problems.append(f"optim.pixel_warmup_steps ({self.optim.pixel_warmup_steps}) exceeds "
                            f"optim.max_steps ({self.optim.max_steps})")
        if problems:
            raise ValueError(f"invalid experiment {self.variant!r}: " + "; ".join(problems))

    # ------------------------------------------------------------------ helpers
    @property
    def frames_per_step(self) -> int:
        """Target frames per optimiser step and process (``batch_size · seq_len · grad_accum``)."""
        return self.optim.batch_size * self.data.seq_len * self.optim.grad_accum

    def with_overrides(self, **sections: dict[str, Any]) -> ExperimentConfig:
        """A copy with fields of sections replaced, e.g. ``with_overrides(optim={"max_steps": 10})``.

        Top-level fields are given as plain values (``with_overrides(init_from=None)``).
        """
        changes: dict[str, Any] = {}
        for name, value in sections.items():
            current = getattr(self, name)
            if dataclasses.is_dataclass(current) and isinstance(value, dict):
                changes[name] = from_dict(type(current), {**to_dict(current), **value})
            else:
                changes[name] = value
        return replace(self, **changes)

    def with_settings(self, settings: dict[str, Any]) -> ExperimentConfig:
        """A copy with the fields named by dotted paths replaced, e.g.
        ``with_settings({"losses.adversarial": 0.0, "losses.frequency_loss.alpha": 2.0})``.

        Every path must name an existing field (a typo raises ``ValueError`` listing the fields
        that part could have been); values are typed as the field's annotation, as in a config file,
        and the copy is validated like a loaded config.
        """
        data = to_dict(self)
        for dotted, value in settings.items():
            node = data
            *parents, leaf = dotted.split(".")
            for depth, part in enumerate(parents):
                child = node.get(part) if isinstance(node, dict) else None
                if not isinstance(child, dict):
                    where = ".".join(parents[:depth]) or "the experiment"
                    if part in node:
                        raise ValueError(f"setting {dotted!r}: {where}.{part} is a value, not a section")
                    valid = ", ".join(k for k, v in node.items() if isinstance(v, dict))
                    raise ValueError(f"setting {dotted!r}: {where} has no section {part!r}; sections: {valid}")
                node = child
            if leaf not in node:
                where = ".".join(parents) or "the experiment"
                raise ValueError(f"setting {dotted!r}: {where} has no field {leaf!r}; fields: {', '.join(node)}")
            node[leaf] = value
        return from_dict(ExperimentConfig, data)

    def fingerprint(self, ignore: tuple[str, ...] = ("optim.max_steps",)) -> str:
        """Short hash of the config, leaving out ``ignore`` (dotted field names).

        Used to refuse resuming a run with another config (extending ``max_steps`` is allowed).
        """
        data = to_dict(self)
        for dotted in ignore:
            node = data
            *parents, leaf = dotted.split(".")
            for p in parents:
                node = node.get(p, {})
            node.pop(leaf, None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (see :func:`vfhgan_core.config.to_dict`)."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Build from a dict; unknown keys raise ``ValueError`` naming them."""
        return from_dict(cls, data)


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read an experiment JSON file; errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"experiment config {path} does not exist (see train/configs/)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    data.pop("$comment", None)
    try:
        return from_dict(ExperimentConfig, data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def save_experiment(experiment: ExperimentConfig, path: str | Path) -> Path:
    """Write ``experiment`` as indented JSON (the inverse of :func:`load_experiment`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(experiment), indent=2) + "\n", encoding="utf-8")
    return path
