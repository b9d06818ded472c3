"""Word clips for training the GRID lip reader.

Every spoken word of a prepared GRID clip (its ``.align`` span, stored in the
shard's ``meta["words"]``) becomes one training example: a fixed window of
``frames`` consecutive video frames centred on the word, showing the mouth as
the lip-reading loss sees it.

Mouth pixels
    The mouth region of each 128x128 face crop is cut out with
    :func:`vfhgan_core.faces.mouths.crop_mouths` (the project's single
    mouth-crop routine, used by the lip-reading loss) at 96x96, grayscale. These
    regions of interest (ROIs) are computed once per shard and kept as uint8
    (``round(255 * gray)``, at most 0.5/255 from the float crop). An example is
    the centre 88x88 of the ROIs (a random 88x88 crop when augmenting), divided
    by 255 and normalised with :func:`normalise_mouths`: exactly what
    :meth:`LipReadingLoss.mouth_inputs` feeds the lip reader, up to that rounding.

Window
    A word spans ``[start_s, end_s)``; frame ``i`` (shown from ``timestamps[i]``
    for one frame period) belongs to it when the middle of its display interval
    falls inside the span. A word shorter than a frame gets the frame nearest to
    its middle. The window of ``frames`` frames is centred on the word's frames
    and shifted to lie inside the clip; a clip shorter than the window is padded
    with its last frame and ``length`` says how many frames are real.

Split (by sentence, so no sentence is in both parts)
    :class:`SentenceSplit`: a sentence (the file stem of the clip id, e.g.
    ``bbaf2n``) is held out when ``sha256(f"{salt}:{sentence}")`` read as an
    integer, modulo 10,000, is below ``heldout_fraction * 10,000``. The rule
    depends on the name only, so it does not change when clips are added or
    missing; with the default salt it holds out 82 of the 900 GRID s1 sentences
    (492 of their 5,400 words; the letters g and h happen not to occur in them).
    An explicit ``heldout`` list replaces the rule.

Augmentation (training only), as in mpc001's LRW recipe
    a random 88x88 crop of the 96x96 ROI instead of the centre crop, a horizontal
    flip with probability 0.5, and one time mask (a run of frames replaced by the
    clip's mean after normalisation). Optionally the window is shifted by a few
    frames (the word stays inside it).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vfhgan_core.data.alignments import SILENCE_TOKENS
from vfhgan_core.data.shards import SHARD_SUFFIX, ClipShard, load_shard, read_shard_meta
from vfhgan_core.errors import VFHGANError
from vfhgan_core.faces.mouths import MOUTH_CROP, MOUTH_ROI, crop_mouths, normalise_mouths

__all__ = [
    "GRID_VOCABULARY",
    "GRID_WORD_GROUPS",
    "SPLITS",
    "MouthAugmentConfig",
    "SentenceSplit",
    "WordClip",
    "WordClipDataset",
    "WordDataError",
    "find_shards",
    "mouth_rois",
    "sentence_of",
    "vocabulary_from_words",
    "word_frames",
]

#: the GRID corpus words by their place in the sentence
#: ("<command> <colour> <preposition> <letter> <digit> <adverb>"; no letter "w")
GRID_WORD_GROUPS: dict[str, tuple[str, ...]] = {
    "command": ("bin", "lay", "place", "set"),
    "colour": ("blue", "green", "red", "white"),
    "preposition": ("at", "by", "in", "with"),
    "letter": tuple("abcdefghijklmnopqrstuvxyz"),
    "digit": ("eight", "five", "four", "nine", "one", "seven", "six", "three", "two", "zero"),
    "adverb": ("again", "now", "please", "soon"),
}

#: the 51 GRID words, sorted; a word's label is its index here. Checked against all
#: 900 speaker-s1 ``.align`` files (tests/data/test_words.py).
GRID_VOCABULARY: tuple[str, ...] = tuple(sorted(w for group in GRID_WORD_GROUPS.values() for w in group))

#: dataset parts: ``"train"``, ``"heldout"`` (the evaluation sentences) or ``"all"``
SPLITS = ("train", "heldout", "all")


class WordDataError(VFHGANError):
    """Prepared data that cannot give word clips (no shards, no alignments, unknown words)."""

    reason = "bad_word_data"


# --------------------------------------------------------------------------- configs


@dataclass
class SentenceSplit:
    """Deterministic train / held-out split by sentence (see the module docstring).

    Attributes:
        heldout_fraction: share of sentences held out by the hash rule, in [0, 1).
        salt: text mixed into the hash; another salt gives another (equally valid) split.
        heldout: explicit held-out sentence names (file stems); when not empty it
            replaces the hash rule.
    """

    heldout_fraction: float = 0.1
    salt: str = "vfhgan-grid-lipreader"
    heldout: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.heldout, list):
            self.heldout = tuple(self.heldout)
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError(f"heldout_fraction must be in [0, 1), got {self.heldout_fraction}")

    def is_heldout(self, sentence: str) -> bool:
        """True when ``sentence`` (a file stem such as ``"bbaf2n"``) belongs to the held-out part."""
        if self.heldout:
            return sentence in self.heldout
        digest = hashlib.sha256(f"{self.salt}:{sentence}".encode("utf-8")).hexdigest()
        return int(digest, 16) % 10_000 < round(self.heldout_fraction * 10_000)

    def part(self, sentence: str) -> str:
        """``"heldout"`` or ``"train"``."""
        return "heldout" if self.is_heldout(sentence) else "train"


@dataclass
class MouthAugmentConfig:
    """Training-time augmentation of word clips (mpc001's LRW recipe plus an optional shift).

    Attributes:
        random_crop: a random 88x88 crop of the 96x96 ROI (same for all frames) instead
            of the centre crop.
        flip_prob: probability of a horizontal flip of the whole clip.
        time_mask_max: one time mask of ``randint(0, time_mask_max)`` frames (0 = none)
            at a random place, filled with the clip's mean value (mpc001 uses up to 15
            of 29 frames; a short word window needs fewer).
        max_shift: the window is moved by up to this many frames either way, never so
            far that a word frame leaves it.
    """

    random_crop: bool = True
    flip_prob: float = 0.5
    time_mask_max: int = 4
    max_shift: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"flip_prob must be in [0, 1], got {self.flip_prob}")
        if self.time_mask_max < 0 or self.max_shift < 0:
            raise ValueError("time_mask_max and max_shift must be >= 0")


# --------------------------------------------------------------------------- helpers


def sentence_of(clip_id: str) -> str:
    """The sentence name of a clip id: its last path part (``"grid_s1/video/bbaf2n"`` -> ``"bbaf2n"``)."""
    return clip_id.rstrip("/").rsplit("/", 1)[-1]


def vocabulary_from_words(words: Iterable[str]) -> tuple[str, ...]:
    """Sorted distinct words, silence tokens (``sil``, ``sp``) left out."""
    return tuple(sorted({w for w in words if w not in SILENCE_TOKENS}))


def find_shards(root: str | Path) -> list[Path]:
    """Shard files of a prepared folder, sorted by path.

    ``root`` may be the output folder of ``prepare`` (its ``manifest.json`` lists the
    good shards; without a manifest every ``shards/**/*.npz`` is taken), a folder of
    shards, or a single shard file.

    Raises:
        WordDataError: nothing there, or no shard in it.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise WordDataError(f"{root} does not exist: pass the output folder of `vfhgan prepare`")
    manifest = root / "manifest.json"
    if manifest.is_file():
        clips = json.loads(manifest.read_text(encoding="utf-8")).get("clips", [])
        paths = sorted(root / c["shard"] for c in clips if c.get("status") == "ok" and c.get("shard"))
    else:
        paths = sorted(root.rglob(f"*{SHARD_SUFFIX}"))
    if not paths:
        raise WordDataError(f"no prepared shards in {root}; run `vfhgan prepare` on the GRID clips first")
    return paths


def word_frames(timestamps: np.ndarray, start_s: float, end_s: float, fps: float | None = None) -> tuple[int, int]:
    """Frames ``[first, end)`` showing a word spoken from ``start_s`` to ``end_s`` seconds.

    Frame ``i`` is shown from ``timestamps[i]`` for one frame period (``1 / fps``, or the
    median spacing of ``timestamps``); it belongs to the word when the middle of that
    interval lies in ``[start_s, end_s)``. A word shorter than a frame gets the single
    frame nearest to its middle. Always ``0 <= first < end <= len(timestamps)``.
    """
    timestamps = np.asarray(timestamps, dtype=np.float64)
    if len(timestamps) == 0:
        raise ValueError("a clip without frames has no word frames")
    if fps:
        period = 1.0 / fps
    else:
        period = float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else 0.04
    middles = timestamps + period / 2
    first = int(np.searchsorted(middles, start_s, side="left"))
    end = int(np.searchsorted(middles, end_s, side="left"))
    if end <= first:
        first = int(np.argmin(np.abs(middles - (start_s + end_s) / 2)))
        end = first + 1
    return first, end


def mouth_rois(shard: ClipShard, size: int = MOUTH_ROI, chunk: int = 16) -> np.ndarray:
    """Grayscale mouth regions of every frame of a shard, as the lip-reading loss cuts them.

    Args:
        shard: a prepared clip (``hr`` uint8 ``(T, S, S, 3)``, ``mouth_boxes`` ``(T, 4)``).
        size: side of the regions in pixels (96: the lip reader's ROI before its 88 crop).
        chunk: frames per call of :func:`crop_mouths`: small float temporaries, so that
            many shards in a row do not fragment the heap (128 frames grew memory 15-fold).

    Returns:
        uint8 ``(T, size, size)``: ``round(255 * crop_mouths(hr / 255, boxes, size))``.
    """
    out = np.empty((shard.num_frames, size, size), dtype=np.uint8)
    with torch.no_grad():
        for lo in range(0, shard.num_frames, chunk):
            hi = min(lo + chunk, shard.num_frames)
            frames = torch.from_numpy(np.ascontiguousarray(shard.hr[lo:hi])).permute(0, 3, 1, 2)
            frames = frames.unsqueeze(0).float() / 255.0  # (1, t, 3, S, S) in [0, 1]
            boxes = torch.from_numpy(np.asarray(shard.mouth_boxes[lo:hi], dtype=np.float32)).unsqueeze(0)
            gray = crop_mouths(frames, boxes, size)[0]
            out[lo:hi] = torch.round(gray.clamp(0.0, 1.0) * 255.0).to(torch.uint8).numpy()
    return out


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class WordClip:
    """One word example: where it lies in which clip.

    ``first``/``end`` are the word's frames in the clip, ``window`` the first frame of
    the centred window (before any training shift), all frame indices.
    """

    clip_index: int
    clip_id: str
    word: str
    label: int
    first: int
    end: int
    window: int


class WordClipDataset(Dataset):
    """Word clips of mouth regions from prepared GRID shards (see the module docstring).

    Args:
        shards: shard paths, loaded :class:`ClipShard` objects, or one prepared folder
            (see :func:`find_shards`).
        split: ``"train"``, ``"heldout"`` or ``"all"`` (by :class:`SentenceSplit`).
        vocabulary: the words, in label order (default :data:`GRID_VOCABULARY`).
        frames: frames per example (16 = 0.64 s at 25 fps, about 2.5 times the median
            GRID word).
        augment: apply ``augmentation`` (training only; evaluation uses the centre crop).
        split_rule: the sentence split.
        augmentation: what ``augment`` does.

    Each item is a dict:

    * ``"mouths"``: float32 ``(1, frames, 88, 88)`` normalised grayscale
      (:func:`normalise_mouths`), the lip reader's input for one clip;
    * ``"label"``: int64 index of the word in ``vocabulary``;
    * ``"length"``: int64 number of real frames (``frames`` unless the clip is shorter);
    * ``"word_start"``, ``"word_end"``: int64 frames of the word inside the window;
    * ``"word"`` and ``"clip_id"``: str.

    Raises:
        WordDataError: no shard, no word alignment, or a word outside ``vocabulary``.
    """

    def __init__(
        self,
        shards: Sequence[str | Path | ClipShard] | str | Path,
        split: str = "train",
        vocabulary: Sequence[str] = GRID_VOCABULARY,
        frames: int = 16,
        augment: bool = False,
        split_rule: SentenceSplit | None = None,
        augmentation: MouthAugmentConfig | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        self.split = split
        self.vocabulary = tuple(vocabulary)
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("vocabulary has repeated words")
        self.frames = int(frames)
        self.augment = bool(augment)
        self.split_rule = split_rule or SentenceSplit()
        self.augmentation = augmentation or MouthAugmentConfig()
        labels = {w: i for i, w in enumerate(self.vocabulary)}

        if isinstance(shards, (str, Path)):
            shards = find_shards(shards)
        if len(shards) == 0:
            raise WordDataError("no shards given: pass prepared GRID shards (the output of `vfhgan prepare`)")

        self.clip_ids: list[str] = []
        self._rois: list[np.ndarray] = []
        self.clips: list[WordClip] = []
        seen_words = False
        for item in shards:
            # the metadata alone decides whether a shard file is needed (no pixel decoding)
            meta = item.meta if isinstance(item, ClipShard) else read_shard_meta(item)
            clip_id = item.clip_id if isinstance(item, ClipShard) else str(meta["clip_id"])
            words = [(str(w), float(s), float(e)) for w, s, e in meta.get("words", [])]
            if any(w not in SILENCE_TOKENS for w, _, _ in words):
                seen_words = True
            if split != "all" and self.split_rule.part(sentence_of(clip_id)) != split:
                continue
            spoken = [(w, s, e) for w, s, e in words if w not in SILENCE_TOKENS]
            if not spoken:
                continue
            unknown = sorted({w for w, _, _ in spoken if w not in labels})
            if unknown:
                raise WordDataError(
                    f"clip {clip_id} says {', '.join(unknown)}, which the vocabulary does not hold "
                    f"({len(self.vocabulary)} words); pass a vocabulary with every word of the data")
            shard = item if isinstance(item, ClipShard) else load_shard(item)
            index = len(self.clip_ids)
            self.clip_ids.append(shard.clip_id)
            self._rois.append(mouth_rois(shard))
            fps = shard.meta.get("fps")
            total = shard.num_frames
            for word, start_s, end_s in spoken:
                first, end = word_frames(shard.timestamps, start_s, end_s, fps)
                window = self._centred_window(first, end, total)
                self.clips.append(WordClip(index, shard.clip_id, word, labels[word], first, end, window))
        if not seen_words:
            raise WordDataError(
                "none of the shards has a word alignment (meta['words']); prepare GRID clips with "
                "their align/ folder beside video/")

    # -- windows -------------------------------------------------------------------

    def _centred_window(self, first: int, end: int, total: int) -> int:
        start = int(np.floor((first + end - self.frames) / 2 + 0.5))
        return max(0, min(start, total - self.frames))

    def _shifted_window(self, clip: WordClip, total: int) -> int:
        shift = self.augmentation.max_shift
        if shift == 0 or total <= self.frames or clip.end - clip.first > self.frames:
            return clip.window
        # every frame of the word stays inside the shifted window
        lo = max(0, clip.window - shift, clip.end - self.frames)
        hi = min(total - self.frames, clip.window + shift, clip.first)
        if hi < lo:
            return clip.window
        return int(torch.randint(lo, hi + 1, ()).item())

    # -- access --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.clips)

    def rois(self, clip_id: str) -> np.ndarray:
        """The uint8 ``(T, 96, 96)`` mouth regions of one clip of this dataset."""
        try:
            return self._rois[self.clip_ids.index(clip_id)]
        except ValueError:
            raise KeyError(f"clip {clip_id!r} is not in the {self.split} part") from None

    @property
    def sentences(self) -> list[str]:
        """Sentence names of the clips in this part, in shard order."""
        return [sentence_of(c) for c in self.clip_ids]

    def label_counts(self) -> np.ndarray:
        """int64 ``(len(vocabulary),)``: examples per word."""
        return np.bincount([c.label for c in self.clips], minlength=len(self.vocabulary)).astype(np.int64)

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip = self.clips[index]
        rois = self._rois[clip.clip_index]
        total = len(rois)
        start = self._shifted_window(clip, total) if self.augment else clip.window
        stop = min(start + self.frames, total)
        length = stop - start
        window = rois[start:stop]
        if length < self.frames:  # a clip shorter than the window: repeat its last frame
            window = np.concatenate([window, np.repeat(window[-1:], self.frames - length, axis=0)])

        margin = MOUTH_ROI - MOUTH_CROP
        if self.augment and self.augmentation.random_crop:
            dy, dx = (int(v) for v in torch.randint(0, margin + 1, (2,)))
        else:
            dy = dx = margin // 2
        mouths = torch.from_numpy(np.ascontiguousarray(window[:, dy:dy + MOUTH_CROP, dx:dx + MOUTH_CROP]))
        mouths = normalise_mouths(mouths.float() / 255.0)  # (frames, 88, 88)

        if self.augment:
            if torch.rand(()) < self.augmentation.flip_prob:
                mouths = mouths.flip(-1)
            if self.augmentation.time_mask_max > 0:
                width = int(torch.randint(0, self.augmentation.time_mask_max + 1, ()))
                width = min(width, length)
                if width > 0:
                    at = int(torch.randint(0, length - width + 1, ()))
                    mouths[at:at + width] = mouths[:length].mean()

        return {
            "mouths": mouths.unsqueeze(0).contiguous(),
            "label": torch.tensor(clip.label, dtype=torch.int64),
            "length": torch.tensor(length, dtype=torch.int64),
            "word_start": torch.tensor(max(0, clip.first - start), dtype=torch.int64),
            "word_end": torch.tensor(min(self.frames, clip.end - start), dtype=torch.int64),
            "word": clip.word,
            "clip_id": clip.clip_id,
        }
