"""Recognise the same recording under two names: a 64-bit fingerprint of a clip's speech.

Public corpora are often redistributed with their files renamed, re-encoded or sorted into
other folders, so a clip id says nothing about whether two clips are one recording. The
shared data has such a case: ``grid_speakers/bbaf2n.mpg`` (listed as another GRID speaker)
is GRID speaker s1's ``bbaf2n`` (the two decode to 41.6 dB PSNR of each other). A training
run or an evaluation that trusted the ids would validate or score on a training clip.

The fingerprint is the shape of the clip's loudness over time: the log-mel energy at each
video frame (mean over the mel bands of the frame's :func:`~vfhgan_core.audio.mel_windows`
window, around its centre), resampled to 65 points over the clip, and one bit per step
("louder than the point before"). Re-encoding and resampling the audio leave that shape
alone; another sentence, another speaker or another take changes about half the bits.
Measured on the 931 prepared clips of ``../shared/data`` with audio (GRID s1 and the other
GRID speakers, VoxCeleb2, HDTF): the two ``bbaf2n`` files differ in 0 of 64 bits, every
other pair in at least 10. Two clips count as one recording when at most
:data:`MAX_DIFFERING_BITS` bits differ.

Limits: the whole clip is fingerprinted, so a trimmed copy of a clip is not recognised;
a clip without sound (a flat envelope) has no fingerprint (``None``) and matches nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = [
    "FINGERPRINT_BITS",
    "MAX_DIFFERING_BITS",
    "clip_fingerprint",
    "differing_bits",
    "find_same_recordings",
    "shard_fingerprint",
]

#: bits of a fingerprint (written as 16 hex digits)
FINGERPRINT_BITS = 64
#: two fingerprints within this many differing bits are one recording (see the module docstring)
MAX_DIFFERING_BITS = 4
#: mel-window columns (of 16) around the frame's centre that give its loudness
_CENTRE_COLUMNS = slice(6, 10)
#: an envelope whose range is below this (log-mel units) is silence: no fingerprint
_FLAT = 1e-3


def clip_fingerprint(mel_windows: np.ndarray) -> Optional[str]:
    """Fingerprint of one clip from its per-frame log-mel windows.

    Args:
        mel_windows: ``(T, 1, n_mels, W)`` or ``(T, n_mels, W)`` log-mel windows, one per video
            frame (any float dtype), as :func:`vfhgan_core.audio.mel_windows` makes them and
            shards store them; ``T >= 2``.

    Returns:
        16 lowercase hex digits, or ``None`` for a clip that is too short or silent.
    """
    mel = np.asarray(mel_windows, dtype=np.float32)
    if mel.ndim == 4:
        mel = mel[:, 0]
    if mel.ndim != 3:
        raise ValueError(f"mel_windows must be (T, 1, n_mels, W) or (T, n_mels, W), got shape {mel.shape}")
    if mel.shape[0] < 2:
        return None
    columns = mel[:, :, _CENTRE_COLUMNS] if mel.shape[2] > _CENTRE_COLUMNS.stop else mel
    envelope = columns.mean(axis=(1, 2))
    if not np.all(np.isfinite(envelope)) or np.ptp(envelope) < _FLAT:
        return None
    points = np.interp(np.linspace(0, len(envelope) - 1, FINGERPRINT_BITS + 1), np.arange(len(envelope)), envelope)
    return np.packbits((np.diff(points) > 0).astype(np.uint8)).tobytes().hex()


def shard_fingerprint(path: str | Path) -> Optional[str]:
    """Fingerprint of a prepared shard (reads only its ``mel_windows``)."""
    with np.load(path, allow_pickle=False) as shard:
        return clip_fingerprint(shard["mel_windows"])


def differing_bits(a: str, b: str) -> int:
    """How many of the 64 bits differ between two fingerprints."""
    return int(np.unpackbits(np.frombuffer(bytes.fromhex(a), np.uint8)
                             ^ np.frombuffer(bytes.fromhex(b), np.uint8)).sum())


def find_same_recordings(
    candidates: Mapping[str, Optional[str]],
    reference: Mapping[str, Optional[str]],
    max_bits: int = MAX_DIFFERING_BITS,
) -> dict[str, str]:
    """``{candidate id: reference id}`` for each candidate that is a reference clip's recording.

    Both arguments map clip ids to fingerprints (``None`` matches nothing). A candidate
    whose id is itself a reference id is not reported (the caller already knows it).
    Of several matches, the reference with the fewest differing bits is given.
    """
    ref_ids = [r for r, f in reference.items() if f is not None]
    if not ref_ids:
        return {}
    ref_bits = np.unpackbits(np.stack([np.frombuffer(bytes.fromhex(reference[r]), np.uint8) for r in ref_ids]), axis=1)
    same: dict[str, str] = {}
    for cid, fp in candidates.items():
        if fp is None or cid in reference:
            continue
        bits = np.unpackbits(np.frombuffer(bytes.fromhex(fp), np.uint8))
        distance = (ref_bits != bits).sum(axis=1)
        best = int(distance.argmin())
        if distance[best] <= max_bits:
            same[cid] = ref_ids[best]
    return same
