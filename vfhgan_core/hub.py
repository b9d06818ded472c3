"""Where model weights come from: bundled assets, a local folder, or the Hugging Face Hub.

One resolver serves the CLI, the app and evaluation. A *variant* is a trained
generator named after its switches (see :func:`variant_name`); its weights are
a folder with ``config.json`` and ``model.safetensors`` (``save_pretrained``).

``source`` may be:

* ``None``: the weights bundled with the project (``assets/weights/``),
* a local directory holding variant folders (or one variant's files),
* a Hub repo id ``org/name`` holding one subfolder per variant.

Offline it never waits on the network: the Hugging Face cache is tried
first, and the Hub is contacted only when ``HF_HUB_OFFLINE`` is unset and
its host answers a short connection check (a plain ``hf_hub_download``
without network retries for ~23 s before failing).
"""
from __future__ import annotations

import os
from pathlib import Path

from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.utils.hub_files import CONNECT_TIMEOUT, hub_reachable, resolve_file  # noqa: F401 (re-exported)

#: folder of the weights shipped with the project
BUNDLED_WEIGHTS = Path(__file__).resolve().parent.parent / "assets" / "weights"
#: the full model of the paper: audio + attention, trained with frequency and lip losses
DEFAULT_VARIANT = "audio-ffl-lip"


def variant_name(audio: bool = True, frequency_loss: bool = True, lip_loss: bool = True, attention: bool = True,
                 real_world: bool = False) -> str:
    """Name of the generator trained with these switches, e.g. ``audio-ffl-lip``, ``noaudio-noffl-nolip``.

    ``attention=False`` (the attention ablation, audio models only) adds ``-noattn``;
    ``real_world=True`` (trained on the blind degradations of real low-quality video,
    :mod:`vfhgan_core.data.degradations`, instead of clean bicubic downsampling) adds ``-real``.
    """
    name = f"{'audio' if audio else 'noaudio'}-{'ffl' if frequency_loss else 'noffl'}-{'lip' if lip_loss else 'nolip'}"
    if audio and not attention:
        name += "-noattn"
    if real_world:
        name += "-real"
    return name


def parse_variant(name: str) -> dict[str, bool]:
    """The switches of a variant name (inverse of :func:`variant_name`)."""
    parts = name.split("-")
    suffixes = parts[3:]
    real_world = suffixes[-1:] == ["real"]
    if real_world:
        suffixes = suffixes[:-1]
    if len(parts) < 3 or parts[0] not in ("audio", "noaudio") or parts[1] not in ("ffl", "noffl") \
            or parts[2] not in ("lip", "nolip") or suffixes not in ([], ["noattn"]):
        raise ValueError(f"{name!r} is not a variant name like 'audio-ffl-lip', 'noaudio-noffl-nolip' or "
                         "'audio-ffl-lip-real'")
    return {
        "audio": parts[0] == "audio",
        "frequency_loss": parts[1] == "ffl",
        "lip_loss": parts[2] == "lip",
        "attention": not suffixes,
        "real_world": real_world,
    }


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
