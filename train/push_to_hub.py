"""Publish exported generator variants (and optionally the lip reader) as one Hugging Face Hub model repo.

Each variant folder ``<weights-dir>/<variant>/`` (written by ``train/export_weights.py`` or
``train/train_vfhgan.py --export``) becomes the subfolder ``<variant>/`` of the repo, which is
the layout :mod:`vfhgan_core.weights.hub` reads (``--weights REPO_ID --variant NAME``,
``VFHGANGenerator.from_pretrained(REPO_ID, subfolder=NAME)``). A repo-level ``README.md``
(model card) lists the variants with their validation metrics, how to load them and the
licences of their training data.

Steps, in this order:

1. every selected folder is validated (files present, weights load, folder name = variant of
   the weights and of ``experiment.json``); any problem stops here with status 2;
2. without ``--dry-run``: offline mode, login and the Hub's reachability are checked, again
   before anything is sent (status 1 when the Hub cannot be used);
3. the repo layout is staged in a folder (``<variant>/...``, ``lipreader/...``, ``README.md``);
4. ``--dry-run`` prints the staged files and stops (no network at all); otherwise the repo is
   created if needed and the staged folder is uploaded in one commit.

Usage (from the repository root)::

    python train/push_to_hub.py org/vfhgan --dry-run
    python train/push_to_hub.py org/vfhgan --variants audio-ffl-lip noaudio-noffl-nolip --include-lipreader
    python train/push_to_hub.py org/vfhgan --private --revision experiments --token hf_...

Exit status: 0 done, 1 the Hub could not be used (offline, not logged in, unreachable,
refused), 2 bad arguments or a bad weights folder.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from huggingface_hub import ModelCard, ModelCardData, constants, get_token
from huggingface_hub.errors import HFValidationError, HTTPError, OfflineModeIsEnabled
from huggingface_hub.utils import validate_repo_id

from vfhgan_core.errors import VFHGANError
from vfhgan_core.experiment import ExperimentConfig, load_experiment
from vfhgan_core.metrics import METRICS, canonical_metrics
from vfhgan_core.weights import hub
from vfhgan_core.weights.model_card import CARD_METRICS as MODEL_CARD_METRICS
from vfhgan_core.weights.model_card import dataset_licences, save_model_card

log = logging.getLogger("push_to_hub")

#: files a variant folder must hold
REQUIRED_FILES = ("config.json", "model.safetensors", "README.md")
#: files copied from a variant folder to the repo (those present; anything else is left out)
VARIANT_FILES = ("config.json", "model.safetensors", "experiment.json", "metrics.json", "training.json", "README.md")
#: name of the lip reader's folder, locally and in the repo
LIPREADER = "lipreader"
#: metrics shown in the repo card's table: (key in metrics.json, column header)
CARD_METRICS = tuple((key, METRICS[key].heading) for key in MODEL_CARD_METRICS)
#: the placeholder source of a variant card's usage snippet (model_card.write_model_card)
_CARD_PLACEHOLDER = "source='path/to/weights'"


class InvalidWeightsError(VFHGANError):
    """A weights folder or an argument cannot be published as it is (exit status 2)."""

    reason = "invalid_weights"


class HubUnavailableError(VFHGANError):
    """The Hub cannot be used now: offline mode, no token, unreachable or the request was refused (exit status 1)."""

    reason = "hub_unavailable"


@dataclass
class VariantFolder:
    """A validated variant folder.

    Attributes:
        name: the variant name, e.g. ``audio-ffl-lip`` (= the folder name).
        path: the local folder.
        metrics: ``metrics.json`` (validation metrics; empty when absent).
        training: ``training.json`` (facts of the run: ``steps``, ``num_parameters``, ...; empty when absent).
        experiment: ``experiment.json`` (``None`` when absent).
        licences: data-licence lines of the variant's training data (``"- name: licence (note)"``,
            from ``experiment.json``; empty without it).
        card_data: the front matter of the variant's card (``license``, ``datasets``, ...).
    """

    name: str
    path: Path
    metrics: dict[str, float] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    experiment: ExperimentConfig | None = None
    licences: list[str] = field(default_factory=list)
    card_data: dict[str, Any] = field(default_factory=dict)


@dataclass
class LipReaderFolder:
    """A validated lip-reader folder (``LipReader.from_pretrained`` loads it)."""

    path: Path
    num_parameters: int
    card_data: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- selection and validation


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` when it is a valid Hub id with a namespace (``user-or-org/name``), else :class:`InvalidWeightsError`."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise InvalidWeightsError(f"{repo_id!r} is not a valid Hub repo id ({exc}); pass one like 'org/vfhgan'") \
            from exc
    if "/" not in repo_id:
        raise InvalidWeightsError(f"repo id {repo_id!r} has no namespace: pass the full id 'user-or-org/{repo_id}' "
                                  "(the model card and the loaders need it)")
    return repo_id


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
            hub.parse_variant(child.name)
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
            hub.parse_variant(name)
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
    ``training.json``, when present, are JSON objects.

    Raises:
        InvalidWeightsError: what is wrong with which file, and what to do.
    """
    from vfhgan_core.models.generator import VFHGANGenerator

    folder = Path(folder)
    name = folder.name
    try:
        switches = hub.parse_variant(name)
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
        actual = hub.variant_name(audio=config.use_audio, attention=config.use_attention,
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
    training: dict[str, Any] = {}
    if (folder / "training.json").is_file():
        training = _read_json(folder / "training.json", "training.json")
        if not isinstance(training, dict):
            raise InvalidWeightsError(f"{folder}/training.json must hold a JSON object")
    card_path = folder / "README.md"
    try:
        card = ModelCard.load(card_path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidWeightsError(f"{card_path}: not a readable model card ({exc}); export the folder again") from exc
    # the card's licence section is written from the experiment: read the source, not the markdown
    licences = [f"- {n}: {lic} ({note})" for n, lic, note in dataset_licences(experiment)] if experiment else []
    training.setdefault("num_parameters", generator.num_parameters())
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


# --------------------------------------------------------------------------- repo card and staging


def _fmt(value: Any) -> str:
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
    example = hub.DEFAULT_VARIANT if hub.DEFAULT_VARIANT in names else names[0]

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
              *(label for _, label in CARD_METRICS))
    rows = []
    for v in variants:
        s = hub.parse_variant(v.name)
        label = f"[`{v.name}`]({v.name}/README.md)" + (" (default)" if v.name == hub.DEFAULT_VARIANT else "")
        rows.append((label, _yes(s["audio"]), _yes(s["attention"]) if s["audio"] else "n/a",
                     _yes(s["frequency_loss"]), _yes(s["lip_loss"]), _fmt(v.training.get("steps")),
                     *(_fmt(v.metrics.get(key)) for key, _ in CARD_METRICS)))
    baselines = {tuple(_fmt(v.metrics.get(f"bicubic/{key}")) for key, _ in CARD_METRICS)
                 for v in variants if any(f"bicubic/{key}" in v.metrics for key, _ in CARD_METRICS)}
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
              "from vfhgan_core.hub import load_generator",
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


def _copy_files(src: Path, dest: Path, names: Iterable[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)


def stage_repo(
    staging: str | Path,
    repo_id: str,
    variants: Sequence[VariantFolder],
    lipreader: LipReaderFolder | None = None,
    revision: str | None = None,
) -> Path:
    """Lay out the repo in ``staging``: ``<variant>/`` folders, ``lipreader/`` and the repo card.

    ``staging`` must not exist or be empty. Only the files of :data:`VARIANT_FILES` are copied
    from a variant folder; in each variant's card the placeholder source of the usage snippet
    is replaced by ``repo_id``. The lip reader's ``*.json``, ``*.safetensors`` and ``README.md``
    are copied as they are.

    Returns:
        ``staging``.

    Raises:
        InvalidWeightsError: ``staging`` exists and is not an empty folder.
    """
    staging = Path(staging)
    if staging.exists() and (not staging.is_dir() or any(staging.iterdir())):
        raise InvalidWeightsError(f"staging folder {staging} exists and is not empty; pass a new or empty folder")
    staging.mkdir(parents=True, exist_ok=True)
    for v in variants:
        _copy_files(v.path, staging / v.name, VARIANT_FILES)
        card = staging / v.name / "README.md"
        text = card.read_text(encoding="utf-8")
        if _CARD_PLACEHOLDER in text:
            card.write_text(text.replace(_CARD_PLACEHOLDER, f"source={repo_id!r}"), encoding="utf-8")
    if lipreader is not None:
        names = sorted(p.name for p in lipreader.path.iterdir()
                       if p.is_file() and (p.suffix in (".json", ".safetensors") or p.name == "README.md"))
        _copy_files(lipreader.path, staging / LIPREADER, names)
    write_repo_card(staging, repo_id, variants, lipreader, revision)
    return staging


def staged_files(staging: str | Path) -> list[tuple[str, int]]:
    """``(path in repo, size in bytes)`` of every staged file, sorted by path."""
    staging = Path(staging)
    return sorted((p.relative_to(staging).as_posix(), p.stat().st_size) for p in staging.rglob("*") if p.is_file())


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- network


def check_hub_access(token: str | None = None) -> None:
    """Fail fast, before any upload, when the Hub cannot be used.

    Checks, in order: offline mode (``HF_HUB_OFFLINE``: no network call at all), a token
    (``token``, ``HF_TOKEN`` or ``hf auth login``), and a short TCP connection to the Hub
    endpoint (:func:`vfhgan_core.weights.hub.hub_reachable`, a few seconds at most).

    Raises:
        HubUnavailableError: which check failed and what to do.
    """
    if constants.HF_HUB_OFFLINE:
        raise HubUnavailableError("offline mode is on (HF_HUB_OFFLINE is set): nothing was uploaded. "
                                  "Unset HF_HUB_OFFLINE to push, or use --dry-run to only build the repo folder")
    if not (token or get_token()):
        raise HubUnavailableError("not logged in to the Hugging Face Hub: run `hf auth login`, set HF_TOKEN, "
                                  "or pass --token (a token with write access)")
    if not hub.hub_reachable():
        raise HubUnavailableError(f"the Hub ({constants.ENDPOINT}) cannot be reached from this machine (no "
                                  f"connection within {hub.CONNECT_TIMEOUT:g} s): nothing was uploaded. Check the "
                                  "network or proxy, or use --dry-run to only build the repo folder")


def push(
    staging: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    api: Any = None,
) -> Any:
    """Create the repo when needed and upload ``staging`` to its root in one commit.

    Each top-level folder of ``staging`` (the variants, ``lipreader``) replaces its namesake in
    the repo: its remote files that are not staged any more are deleted in the same commit.
    Other folders of the repo are left alone; the root ``README.md`` is overwritten.

    Args:
        staging: the folder written by :func:`stage_repo`.
        repo_id: ``user-or-org/name``.
        private: create the repo private (an existing repo keeps its visibility).
        revision: branch to commit to (created from the default branch when missing);
            ``None`` = the default branch.
        commit_message: default ``"Upload VFH-GAN weights: <folders>"``.
        token: Hub token (default: ``HF_TOKEN`` or the saved login).
        api: an :class:`huggingface_hub.HfApi` (default: a new one with ``token``).

    Returns:
        The :class:`huggingface_hub.CommitInfo` of the upload.

    Raises:
        HubUnavailableError: the Hub refused or failed (status, message and what to do).
    """
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token, library_name="vfhgan")
    folders = sorted(p.name for p in Path(staging).iterdir() if p.is_dir())
    message = commit_message or "Upload VFH-GAN weights: " + ", ".join(folders)
    try:
        url = api.create_repo(repo_id, repo_type="model", private=True if private else None, exist_ok=True)
        log.info("repo %s", url)
        if revision and revision != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=str(staging),
            path_in_repo=None,
            commit_message=message,
            repo_type="model",
            revision=revision,
            delete_patterns=[f"{name}/" for name in folders],
        )
    except (OSError, HTTPError, OfflineModeIsEnabled, ValueError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        hint = {401: "the token is missing or invalid: run `hf auth login` or pass --token",
                403: f"the token may not write to {repo_id!r}: use a token with write access to that namespace",
                404: f"{repo_id!r} or branch {revision!r} was not found"}.get(status, "check the network and retry")
        raise HubUnavailableError(f"upload to {repo_id!r} failed ({type(exc).__name__}"
                                  + (f" {status}" if status else "") + f": {exc}); {hint}") from exc


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """The command-line arguments (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Exit status: 0 done, 1 the Hub could not be used, 2 bad input.")
    p.add_argument("repo_id", help="Hub model repo, 'user-or-org/name' (created when missing)")
    p.add_argument("--weights-dir", type=Path, default=Path("assets/weights"),
                   help="folder of the exported variant folders (default assets/weights)")
    p.add_argument("--variants", nargs="+", default=["all"], metavar="NAME",
                   help="'all' (default: every variant folder) or variant names, e.g. audio-ffl-lip")
    p.add_argument("--include-lipreader", action="store_true",
                   help="also publish WEIGHTS_DIR/lipreader as lipreader/ (needed to train the -lip variants)")
    p.add_argument("--private", action="store_true", help="create the repo private (an existing repo is unchanged)")
    p.add_argument("--revision", metavar="BRANCH", help="branch to commit to (created when missing; default main)")
    p.add_argument("--token", help="Hub token with write access (default: HF_TOKEN or `hf auth login`)")
    p.add_argument("--commit-message", help="commit message (default: lists the variants)")
    p.add_argument("--staging-dir", type=Path,
                   help="where to lay out the repo (new or empty folder; default a temporary folder, kept with "
                        "--dry-run, removed after a push)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and build the repo folder, print its files, upload nothing (no network)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 1 the Hub could not be used, 2 bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        repo_id = check_repo_id(args.repo_id)
        folders = select_variants(args.weights_dir, args.variants)
        variants, problems = [], []
        for folder in folders:  # report every bad folder at once
            try:
                variants.append(validate_variant_folder(folder))
            except InvalidWeightsError as exc:
                problems.append(str(exc))
        lipreader = None
        if args.include_lipreader:
            try:
                lipreader = validate_lipreader_folder(args.weights_dir / LIPREADER)
            except InvalidWeightsError as exc:
                problems.append(str(exc))
        if problems:
            raise InvalidWeightsError("\n".join(problems))
        log.info("valid: %s", ", ".join(v.name for v in variants) + (f", {LIPREADER}" if lipreader else ""))
        if not args.dry_run:
            check_hub_access(args.token)
        staging = args.staging_dir or Path(tempfile.mkdtemp(prefix="vfhgan-hub-"))
        stage_repo(staging, repo_id, variants, lipreader, args.revision)
    except InvalidWeightsError as exc:
        log.error("%s", exc)
        return 2
    except HubUnavailableError as exc:
        log.error("%s", exc)
        return 1

    files = staged_files(staging)
    if args.dry_run:
        print(f"staged {repo_id} in {staging}")
        for path, size in files:
            print(f"  {path:<40} {_size(size):>10}")
        print(f"{len(files)} files, {_size(sum(s for _, s in files))}; dry run: nothing uploaded "
              f"(would commit to {repo_id}@{args.revision or constants.DEFAULT_REVISION}"
              + (", private" if args.private else "") + ")")
        return 0
    try:
        info = push(staging, repo_id, private=args.private,
                    revision=args.revision, commit_message=args.commit_message, token=args.token)
    except HubUnavailableError as exc:
        log.error("%s", exc)
        return 1
    finally:
        if args.staging_dir is None:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"uploaded {len(files)} files to {repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
