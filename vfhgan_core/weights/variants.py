"""Variant names: which trained generator a set of switches picks (light: no torch, no Hub).

A variant is named after its switches: audio conditioning, the frequency loss, the lip-reading
loss, plus ``-noattn`` (the attention ablation) and ``-real`` (trained on the blind degradations
of real low-quality video instead of clean bicubic downsampling), e.g. ``audio-ffl-lip``,
``noaudio-noffl-nolip``, ``audio-ffl-lip-real``. Where a variant's weights come from is
:mod:`vfhgan_core.weights.hub`.
"""
from __future__ import annotations

__all__ = ["DEFAULT_VARIANT", "LIPREADER", "parse_variant", "variant_name"]

#: the full model of the paper: audio + attention, trained with frequency and lip losses
DEFAULT_VARIANT = "audio-ffl-lip"
#: name of the lip reader's folder beside the variants' folders, locally and in a Hub repo
LIPREADER = "lipreader"


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
