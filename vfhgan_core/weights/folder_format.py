"""The weights-folder format: what a weights folder holds, its writer and its validation.

A *variant folder* ``<weights-dir>/<variant>/`` is written by :func:`write_weights_folder`
(``train/export_weights.py``, ``train/train_vfhgan.py --export``), with the card of
:mod:`vfhgan_core.weights.model_card`; :func:`vfhgan_core.weights.hub.load_generator` reads it::

    <variant>/config.json          generator architecture (save_pretrained)       required
    <variant>/model.safetensors    float32 weights (save_pretrained)              required
    <variant>/README.md            the model card                                 required
    <variant>/experiment.json      the ExperimentConfig of the run
    <variant>/metrics.json         validation metrics
    <variant>/training.json        facts of the run (a RunRecord): steps, data counts, device, command

The lip reader's folder ``<weights-dir>/lipreader/`` (``train/train_lipreader.py``) holds the
same three required files. :func:`validate_variant_folder` and :func:`validate_lipreader_folder`
check a folder before it is published (:mod:`vfhgan_core.weights.publish`) and read what the
repo card needs; every problem is an :class:`InvalidWeightsError` that says what to do.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from huggingface_hub import ModelCard

from vfhgan_core.errors import VFHGANError
from vfhgan_core.experiment import ExperimentConfig, load_experiment, save_experiment
from vfhgan_core.metrics import canonical_metrics
from vfhgan_core.weights.licences import dataset_licences
from vfhgan_core.weights.model_card import write_model_card
from vfhgan_core.weights.run_record import RunRecord
from vfhgan_core.weights.variants import LIPREADER, parse_variant, variant_name

__all__ = ["LIPREADER", "REQUIRED_FILES", "VARIANT_FILES", "InvalidWeightsError", "LipReaderFolder", "VariantFolder",
           "select_variants", "validate_lipreader_folder", "validate_variant_folder", "validate_weights_dir",
           "write_weights_folder"]

log = logging.getLogger(__name__)

#: files a variant folder must hold
REQUIRED_FILES = ("config.json", "model.safetensors", "README.md")
#: files copied from a variant folder to the repo (those present; anything else is left out)
VARIANT_FILES = ("config.json", "model.safetensors", "experiment.json", "metrics.json", "training.json", "README.md")


class InvalidWeightsError(VFHGANError):
    """A weights folder or an argument cannot be published as it is (exit status 2)."""

    reason = "invalid_weights"


@dataclass
class VariantFolder:
    """A validated variant folder.

    Attributes:
        name: the variant name, e.g. ``audio-ffl-lip`` (= the folder name).
        path: the local folder.
        metrics: ``metrics.json`` (validation metrics; empty when absent).
        training: ``training.json``, the :class:`~vfhgan_core.weights.run_record.RunRecord` of the run
            (``steps``, ``num_parameters``, ...; an empty record when absent).
        experiment: ``experiment.json`` (``None`` when absent).
        licences: data-licence lines of the variant's training data (``"- name: licence (note)"``,
            from ``experiment.json``; empty without it).
        card_data: the front matter of the variant's card (``license``, ``datasets``, ...).
    """

    name: str
    path: Path
    metrics: dict[str, float] = field(default_factory=dict)
    training: RunRecord = field(default_factory=RunRecord)
    experiment: ExperimentConfig | None = None
    licences: list[str] = field(default_factory=list)
    card_data: dict[str, Any] = field(default_factory=dict)


@dataclass
class LipReaderFolder:
    """A validated lip-reader folder (``LipReader.from_pretrained`` loads it)."""

    path: Path
    num_parameters: int
    card_data: dict[str, Any] = field(default_factory=dict)


def select_variants(weights_dir: str | Path, names: Sequence[str] = ("all",)) -> list[Path]:
    """The variant folders to publish, sorted by name.

    Args:
        weights_dir: the folder holding ``<variant>/`` subfolders (``assets/weights``).
        names: ``["all"]`` for every subfolder named like a variant (other subfolders, such as
            ``lipreader``, are skipped), or variant names such as ``audio-ffl-lip``.

    Raises:
        InvalidWeightsError: ``weights_dir`` is missing, a name is not a variant name or has
            no folder, ``all`` is mixed with names, or nothing is selected.
    """
    root = Path(weights_dir)
    if not root.is_dir():
        raise InvalidWeightsError(f"weights folder {root} does not exist; export variants into it with "
                                  "train/export_weights.py, or pass --weights-dir")
    present = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            parse_variant(child.name)
        except ValueError:
            if child.name != LIPREADER:
                log.info("skipping %s: not a variant name", child)
            continue
        present.append(child)
    names = list(dict.fromkeys(names))
    if "all" in names:
        if len(names) > 1:
            raise InvalidWeightsError("--variants takes either 'all' or variant names, not both")
        if not present:
            raise InvalidWeightsError(
                f"no variant folders in {root} (folders named like 'audio-ffl-lip'); export one first: "
                f"python train/export_weights.py runs/audio-ffl-lip --out {root}")
        return present
    known = ", ".join(p.name for p in present) or "none"
    selected = []
    for name in names:
        try:
            parse_variant(name)
        except ValueError as exc:
            raise InvalidWeightsError(f"{exc}; variants in {root}: {known}") from exc
        if not (root / name).is_dir():
            raise InvalidWeightsError(f"no folder {root / name} for variant {name!r} (variants in {root}: {known}); "
                                      f"export it with: python train/export_weights.py runs/{name} --out {root}")
        selected.append(root / name)
    if not selected:
        raise InvalidWeightsError("no variant selected: pass --variants all or variant names")
    return sorted(selected)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidWeightsError(f"{path}: cannot read {what} ({exc}); export the folder again with "
                                  "train/export_weights.py") from exc


def _missing_files(folder: Path, required: Iterable[str]) -> list[str]:
    return [name for name in required if not (folder / name).is_file()]


def validate_variant_folder(folder: str | Path) -> VariantFolder:
    """Check that ``folder`` can be published as a variant and read what the repo card needs.

    Checks: the folder name is a variant name; ``config.json``, ``model.safetensors`` and
    ``README.md`` exist; the generator loads with ``VFHGANGenerator.from_pretrained``; its
    architecture (audio branch, attention) is the one the name says; ``experiment.json``,
    when present, names the same variant and the same generator; ``metrics.json`` and
    ``training.json``, when present, are JSON objects (``training.json`` one of known
    :class:`~vfhgan_core.weights.run_record.RunRecord` keys).

    Raises:
        InvalidWeightsError: what is wrong with which file, and what to do.
    """
    from vfhgan_core.models.generator import VFHGANGenerator

    folder = Path(folder)
    name = folder.name
    try:
        switches = parse_variant(name)
    except ValueError as exc:
        raise InvalidWeightsError(f"{folder}: {exc}; rename the folder after the variant it holds "
                                  "(its experiment.json 'variant') or leave it out") from exc
    if not folder.is_dir():
        raise InvalidWeightsError(f"{folder} is not a folder")
    missing = _missing_files(folder, REQUIRED_FILES)
    if missing:
        raise InvalidWeightsError(
            f"{folder}: missing {', '.join(missing)}; a variant folder needs {', '.join(REQUIRED_FILES)}. "
            f"Export it again: python train/export_weights.py runs/{name} --out {folder.parent}")
    try:
        generator = VFHGANGenerator.from_pretrained(folder)
    except VFHGANError as exc:
        raise InvalidWeightsError(f"{folder}: the generator does not load: {exc}") from exc
    config = generator.config
    if config.use_audio != switches["audio"] or (config.use_audio and config.use_attention != switches["attention"]):
        actual = variant_name(audio=config.use_audio, attention=config.use_attention,
                                  frequency_loss=switches["frequency_loss"], lip_loss=switches["lip_loss"])
        raise InvalidWeightsError(
            f"{folder}: the folder is named {name!r} but its generator has use_audio={config.use_audio}, "
            f"use_attention={config.use_attention} (an architecture named like {actual!r}); rename the folder "
            "or export the right run into it")
    experiment = None
    if (folder / "experiment.json").is_file():
        try:
            experiment = load_experiment(folder / "experiment.json")
        except (ValueError, FileNotFoundError) as exc:
            raise InvalidWeightsError(f"{folder}: experiment.json is not valid: {exc}") from exc
        if experiment.variant != name:
            raise InvalidWeightsError(
                f"{folder}: experiment.json says variant {experiment.variant!r} but the folder is named {name!r}; "
                f"rename the folder to {experiment.variant!r}, or export the run again with "
                f"python train/export_weights.py RUN --out {folder.parent} --variant NAME")
        # a routed generator (the real-world variant) is its run's generator plus a router and a clean expert
        if experiment.generator != replace(config, router=None):
            raise InvalidWeightsError(
                f"{folder}: experiment.json describes another generator than config.json; "
                "export the run again with train/export_weights.py")
    metrics: dict[str, float] = {}
    if (folder / "metrics.json").is_file():
        metrics = _read_json(folder / "metrics.json", "metrics.json")
        if not isinstance(metrics, dict):
            raise InvalidWeightsError(f"{folder}/metrics.json must hold a JSON object of metric names and values")
        metrics = canonical_metrics(metrics)
    try:
        training = RunRecord.read(folder) or RunRecord()
    except ValueError as exc:
        raise InvalidWeightsError(f"{exc}; export the folder again with train/export_weights.py") from exc
    card_path = folder / "README.md"
    try:
        card = ModelCard.load(card_path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidWeightsError(f"{card_path}: not a readable model card ({exc}); export the folder again") from exc
    # the card's licence section is written from the experiment: read the source, not the markdown
    licences = [f"- {n}: {lic} ({note})" for n, lic, note in dataset_licences(experiment)] if experiment else []
    if training.num_parameters is None:
        training = training.replace(num_parameters=generator.num_parameters())
    return VariantFolder(name=name, path=folder, metrics=metrics, training=training, experiment=experiment,
                         licences=licences, card_data=card.data.to_dict())


def validate_lipreader_folder(folder: str | Path) -> LipReaderFolder:
    """Check that ``folder`` holds a lip reader that ``LipReader.from_pretrained`` loads, with its card.

    Raises:
        InvalidWeightsError: what is missing or broken, and what to do.
    """
    from vfhgan_core.models.lipreading import LipReader

    folder = Path(folder)
    fix = ("train it with: python train/train_lipreader.py --config train/configs/lipreader_grid.json "
           f"--out {folder}")
    if not folder.is_dir():
        raise InvalidWeightsError(f"lip reader folder {folder} does not exist; {fix}, or leave out --include-lipreader")
    missing = _missing_files(folder, REQUIRED_FILES)
    if missing:
        raise InvalidWeightsError(f"{folder}: missing {', '.join(missing)}; {fix}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the Hub mixin prints "Loading weights from local directory"
            model = LipReader.from_pretrained(folder)
    except Exception as exc:  # noqa: BLE001 - the mixin raises many types for broken files; report any of them
        raise InvalidWeightsError(f"{folder}: the lip reader does not load ({type(exc).__name__}: {exc}); {fix}") \
            from exc
    card = ModelCard.load(folder / "README.md")
    return LipReaderFolder(path=folder, num_parameters=sum(p.numel() for p in model.parameters()),
                           card_data=card.data.to_dict())


def validate_weights_dir(
    weights_dir: str | Path, names: Sequence[str] = ("all",), include_lipreader: bool = False,
) -> tuple[list[VariantFolder], LipReaderFolder | None]:
    """The selected variant folders of ``weights_dir`` (:func:`select_variants`), validated, and its lip reader.

    Every bad folder is reported at once: the :class:`InvalidWeightsError` raised holds one
    line per problem. ``include_lipreader`` also validates ``weights_dir/lipreader``.
    """
    weights_dir = Path(weights_dir)
    folders = select_variants(weights_dir, names)
    variants, problems = [], []
    for folder in folders:  # report every bad folder at once
        try:
            variants.append(validate_variant_folder(folder))
        except InvalidWeightsError as exc:
            problems.append(str(exc))
    lipreader = None
    if include_lipreader:
        try:
            lipreader = validate_lipreader_folder(weights_dir / LIPREADER)
        except InvalidWeightsError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidWeightsError("\n".join(problems))
    return variants, lipreader


# --------------------------------------------------------------------------- writing a variant folder


def write_weights_folder(
    folder: str | Path,
    generator,
    experiment: ExperimentConfig,
    metrics: Mapping[str, float] | None = None,
    record: RunRecord | None = None,
) -> Path:
    """Write a generator as a variant folder (see the module docstring) and return the folder.

    The weights are stored as float32 whatever precision the run used (the default
    generator is a few MB), so :meth:`VFHGANGenerator.from_pretrained` restores them exactly.
    """
    import copy

    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(generator).to(device="cpu", dtype=torch.float32)
    model.save_pretrained(folder)
    save_experiment(experiment, folder / "experiment.json")
    if metrics:
        (folder / "metrics.json").write_text(json.dumps(dict(metrics), indent=2) + "\n", encoding="utf-8")
    record = record or RunRecord()
    if record.num_parameters is None:
        record = record.replace(num_parameters=sum(p.numel() for p in model.parameters()))
    record.write(folder)
    write_model_card(folder, experiment, metrics, record)
    return folder
