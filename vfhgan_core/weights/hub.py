"""Where model weights come from: bundled assets, a local folder, or the Hugging Face Hub.

One resolver serves the CLI, the app and evaluation. A *variant* is a trained
generator named after its switches (:mod:`vfhgan_core.weights.variants`); its weights are
a folder with ``config.json`` and ``model.safetensors`` (``save_pretrained``).

``source`` may be:

* ``None``: the weights bundled with the project (``assets/weights/``),
* a local directory holding variant folders (or one variant's files),
* a Hub repo id ``org/name`` holding one subfolder per variant.

:func:`load_lip_reader` loads the frozen lip reader (of the lip-reading loss) from a folder or Hub id.

Offline it never waits on the network: the Hugging Face cache is tried
first, and the Hub is contacted only when ``HF_HUB_OFFLINE`` is unset and
its host answers a short connection check (a plain ``hf_hub_download``
without network retries for ~23 s before failing).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.utils.hub_files import CONNECT_TIMEOUT, hub_reachable, resolve_file  # noqa: F401 (re-exported)
from vfhgan_core.weights.run_record import TRAINING_JSON, RunRecord
from vfhgan_core.weights.variants import DEFAULT_VARIANT, parse_variant, variant_name  # noqa: F401 (re-exported)

#: folder of the weights shipped with the project
BUNDLED_WEIGHTS = Path(__file__).resolve().parents[2] / "assets" / "weights"

def variant_source(variant: str, source: str | os.PathLike | None = None) -> tuple[str, str | None]:
    """``(path_or_repo, subfolder)`` that holds ``variant``'s files, for ``from_pretrained``."""
    parse_variant(variant)
    root = Path(source) if source is not None else BUNDLED_WEIGHTS
    if source is None or os.path.isdir(root):
        if (root / variant / "config.json").is_file():
            return str(root), variant
        if (root / "config.json").is_file():
            return str(root), None
        known = ", ".join(list_variants(source)) or "none"
        raise WeightsNotFoundError(
            f"no weights for variant {variant!r} in {root} (variants there: {known}). "
            "Train it (train/train_vfhgan.py) or pick another variant."
        )
    return str(source), variant


def list_variants(source: str | os.PathLike | None = None) -> list[str]:
    """Variant folders available in a local source (the bundled weights by default)."""
    root = Path(source) if source is not None else BUNDLED_WEIGHTS
    if not root.is_dir():
        return []
    names = []
    for child in sorted(root.iterdir()):
        try:
            parse_variant(child.name)
        except ValueError:
            continue
        if (child / "config.json").is_file() and (child / "model.safetensors").is_file():
            names.append(child.name)
    return names


def load_generator(variant: str = DEFAULT_VARIANT, source: str | os.PathLike | None = None, device: str = "cpu"):
    """The generator of ``variant`` from ``source`` (see the module docstring), in eval mode."""
    from vfhgan_core.models.generator import VFHGANGenerator

    path, subfolder = variant_source(variant, source)
    return VFHGANGenerator.from_pretrained(path, subfolder=subfolder, map_location=device)


def load_lip_reader(source: str | os.PathLike):
    """The frozen lip reader in ``source`` (a folder or a Hub id), in eval mode.

    Raises:
        WeightsNotFoundError: ``source`` is neither a folder nor a Hub id (a path that does not exist),
            with how to train one; the lip-reading loss and the lip-reading score need it.
    """
    from vfhgan_core.models.lipreading import LipReader

    source = str(source)
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


def load_run_record(variant: str, source: str | os.PathLike | None = None,
                    local_files_only: bool = False) -> RunRecord | None:
    """What the run behind ``variant``'s weights recorded (its ``training.json``), from the same place
    :func:`load_generator` takes the weights; ``None`` when the weights carry no record.

    Raises:
        WeightsNotFoundError: no weights for ``variant`` in ``source``.
        ValueError: the record exists but is not a valid ``training.json`` (the message names the file).
    """
    path, subfolder = variant_source(variant, source)
    try:
        file = resolve_file(path, TRAINING_JSON, subfolder, local_files_only=local_files_only)
    except WeightsNotFoundError:
        return None
    return RunRecord.read(file.parent)
