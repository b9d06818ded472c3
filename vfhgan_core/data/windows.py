"""Training samples for the generator: LR frame windows, HR targets, speech, mouth boxes.

A *sample* is ``seq_len`` consecutive target frames ``t … t+S−1`` of one clip.
For each target frame ``t`` it holds the window of ``num_frames`` LR frames
centred on ``t`` (indices clamped to the clip: the first and last frames are
repeated at clip ends, exactly like :func:`vfhgan_core.pipelines.restore.frame_windows`
at inference), the HR frame, the log-mel window of ``t`` and the mouth box.
LR frames are made from the stored HR crops by the configured degradation and
rounded to uint8, as a real 8-bit LR video would be.

:class:`FrameWindowDataset` draws samples at random for training (sample
``i`` is a pure function of ``(seed, i)``, so a resumed run sees exactly the
samples an uninterrupted run would) or on a fixed grid for validation.
Clips are loaded once and kept as uint8 (about 3.7 MB per 3 s GRID clip).

:func:`split_clips` makes the speaker-disjoint train / validation split.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vfhgan_core.data.degradations import DegradationConfig, DegradationParams, degrade_clip, draw_params, occlude_mouth
from vfhgan_core.data.fingerprints import find_same_recordings, shard_fingerprint
from vfhgan_core.data.shards import SHARD_SUFFIX, ClipShard, ShardError, load_shard, read_shard_meta
from vfhgan_core.errors import VFHGANError
from vfhgan_core.faces.crops import DEGRADATIONS, degrade, transform_points

if TYPE_CHECKING:
    from vfhgan_core.data.words import SentenceSplit

__all__ = [
    "ClipSplit",
    "DataSplitError",
    "WindowClip",
    "FrameWindowDataset",
    "find_clip_shards",
    "speaker_of",
    "speaker_balanced_weights",
    "sentence_holdout",
    "color_transform",
    "split_clips",
    "load_window_clips",
]


class DataSplitError(VFHGANError):
    """Training data that cannot be used as configured (missing, empty, or speakers on both sides)."""

    reason = "bad_training_data"


# --------------------------------------------------------------------------- sources and split


def find_clip_shards(source: str | Path) -> dict[str, Path]:
    """``{clip id: shard path}`` of one prepared source.

    ``source`` may be the output folder of ``vfhgan prepare`` (its
    ``manifest.json`` lists the clips with status ``ok``; without a manifest
    every ``shards/**/*.npz`` is read), a ``manifest.json`` file, a folder of
    shards or a single shard. Clip ids come from the manifest or the shards'
    metadata.

    Raises:
        DataSplitError: the source does not exist or holds no shard.
    """
    source = Path(source)
    hint = "run `python -m vfhgan_core prepare VIDEOS --out DIR` first and point the config at DIR"
    if not source.exists():
        raise DataSplitError(f"training data source {source} does not exist; {hint}")
    manifest = source if source.is_file() and source.suffix == ".json" else source / "manifest.json"
    found: dict[str, Path] = {}
    if manifest.is_file():
        root = manifest.parent
        clips = json.loads(manifest.read_text(encoding="utf-8")).get("clips", [])
        for c in clips:
            if c.get("status") == "ok" and c.get("shard"):
                found[c["clip_id"]] = root / c["shard"]
    elif source.is_file():
        found[read_shard_meta(source)["clip_id"]] = source
    else:
        for path in sorted(source.rglob(f"*{SHARD_SUFFIX}")):
            try:
                found[read_shard_meta(path)["clip_id"]] = path
            except ShardError:
                continue  # an interrupted prepare may leave partial files; they never read as good
    if not found:
        raise DataSplitError(f"no prepared clip in {source}; {hint}")
    return found


def speaker_of(clip_id: str, rules: Sequence[tuple[str, str]] = ()) -> str:
    """The speaker of a clip: the first ``(prefix, speaker)`` rule whose prefix starts the id,
    else the folder part of the id (``grid_s1/video/bbaf2n`` → ``grid_s1/video``; a bare id is
    its own speaker)."""
    for prefix, speaker in rules:
        if clip_id.startswith(prefix):
            return speaker
    return clip_id.rsplit("/", 1)[0] if "/" in clip_id else clip_id


def speaker_balanced_weights(
    clip_ids: Sequence[str], clip_frames: Sequence[int], speaker_rules: Sequence[tuple[str, str]] = (),
    power: float = 1.0,
) -> np.ndarray:
    """Sampling probability of each clip when speaker ``s`` gets a share ∝ ``frames(s) ** power``.

    ``power = 1`` draws every frame alike (a speaker with 60 000 frames dominates one with
    200); ``power = 0`` gives every speaker the same share; values between temper the
    imbalance, as temperature sampling does for unbalanced languages in multilingual
    training. Within a speaker, clips are drawn in proportion to their frames.
    """
    if len(clip_ids) != len(clip_frames) or not clip_ids:
        raise ValueError(f"need one frame count per clip, got {len(clip_ids)} ids and {len(clip_frames)} counts")
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"the speaker sampling power must be in [0, 1], got {power}")
    frames = np.asarray(clip_frames, dtype=np.float64)
    if (frames <= 0).any():
        raise ValueError("every clip needs at least one sample position")
    speakers = [speaker_of(c, speaker_rules) for c in clip_ids]
    per_speaker: dict[str, float] = {}
    for spk, n in zip(speakers, frames):
        per_speaker[spk] = per_speaker.get(spk, 0.0) + float(n)
    share = {spk: n ** power for spk, n in per_speaker.items()}
    total = sum(share.values())
    weights = np.array([share[spk] / total * n / per_speaker[spk] for spk, n in zip(speakers, frames)])
    return weights / weights.sum()


def sentence_holdout(sources: Iterable[str | Path], split: "SentenceSplit") -> Callable[[str], bool]:
    """``exclude_train`` for :func:`split_clips`: true for the clips of ``sources`` that have a word
    alignment and whose sentence ``split`` (a :class:`~vfhgan_core.data.words.SentenceSplit`)
    holds out. Clips without an alignment (VoxCeleb2, HDTF, …) are never excluded, whatever
    their file name."""
    from vfhgan_core.data.words import sentence_of

    aligned = set()
    for src in sources:
        for cid, path in find_clip_shards(src).items():
            if read_shard_meta(path).get("words"):
                aligned.add(cid)
    return lambda cid: cid in aligned and split.is_heldout(sentence_of(cid))


def color_transform(rng: np.random.Generator, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """A random affine colour change ``x ↦ x @ A.T + b`` (RGB in [0, 1]) of the given strength.

    Per-channel gains (white balance), brightness, contrast about mid-grey and saturation
    about the pixel's luma, each drawn log-uniformly in ``±strength`` times a fixed range.
    The map is the same for every pixel, so applying it to HR frames and to the LR frames
    made from them by a linear resize (bicubic, area) equals resizing the recoloured HR
    frames, up to clipping and 8-bit rounding: the LR/HR pair stays consistent.
    """
    def log_uniform(limit: float, size=None):
        return np.exp(rng.uniform(-limit * strength, limit * strength, size))

    luma = np.array([0.299, 0.587, 0.114])
    gains = np.diag(log_uniform(0.12, 3))
    sat = log_uniform(0.5)
    saturation = sat * np.eye(3) + (1.0 - sat) * np.outer(np.ones(3), luma)
    contrast, brightness = log_uniform(0.3), log_uniform(0.3)
    a = brightness * contrast * saturation @ gains
    b = brightness * (1.0 - contrast) * 0.5 * np.ones(3)
    return a.astype(np.float32), b.astype(np.float32)


def geometric_transform(rng: np.random.Generator, strength: float, side: int) -> np.ndarray:
    """A random similarity map of a ``side``-pixel crop onto itself: ``(2, 3)`` float32 for ``cv2.warpAffine``.

    At ``strength`` 1: scale in [1/1.1, 1.1], rotation within ±10° and shift within ±6 % of
    the side, about the crop centre; smaller strengths shrink every range alike. Faces of
    other people sit a little differently in the aligned crop; this shows the network more
    of those placements than one training speaker provides.
    """
    scale = float(np.exp(rng.uniform(-1.0, 1.0) * strength * np.log(1.1)))
    angle = float(rng.uniform(-10.0, 10.0) * strength)
    shift = rng.uniform(-0.06, 0.06, size=2) * strength * side
    centre = ((side - 1) / 2.0, (side - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += shift
    return matrix.astype(np.float32)


@dataclass
class ClipSplit:
    """The result of :func:`split_clips`.

    Attributes:
        train, val: shard paths by clip id.
        train_speakers, val_speakers: the speakers of each side.
        fingerprints: speech fingerprint of every clip of both sides
            (:func:`vfhgan_core.data.fingerprints.clip_fingerprint`; ``None`` when silent).
        same_recordings: validation clips left out because they are a training clip's
            recording under another id: ``{their id: the training clip's id}``.
    """

    train: dict[str, Path]
    val: dict[str, Path]
    train_speakers: tuple[str, ...]
    val_speakers: tuple[str, ...]
    fingerprints: dict[str, Optional[str]] = field(default_factory=dict)
    same_recordings: dict[str, str] = field(default_factory=dict)


def split_clips(
    train_sources: Iterable[str | Path],
    val_sources: Iterable[str | Path] = (),
    val_speakers: Iterable[str] = (),
    speaker_rules: Sequence[tuple[str, str]] = (),
    max_train_clips: int | None = None,
    exclude_train: Callable[[str], bool] | None = None,
) -> ClipSplit:
    """Speaker-disjoint train / validation split (see :class:`vfhgan_core.experiment.DataConfig`).

    Validation: every clip of ``val_sources``, plus the clips of ``train_sources``
    whose speaker (:func:`speaker_of`) is in ``val_speakers``, less those whose speech
    fingerprint says they are a training clip's recording under another name
    (:mod:`vfhgan_core.data.fingerprints`; listed in ``same_recordings``). Training: the
    other clips of ``train_sources`` for which ``exclude_train(clip_id)`` is not true
    (the first ``max_train_clips`` of them by id when given).

    Raises:
        DataSplitError: no training source, a source is missing or empty, a side ends up empty, a
            ``val_speakers`` entry matches no clip, or a speaker is on both sides.
    """
    train_sources = tuple(train_sources)
    if not train_sources:
        raise DataSplitError("no training data given: name the prepared clips to train on (data.train in the "
                             "experiment config, or --train-data FOLDER ...; `python -m vfhgan_core prepare VIDEOS --out DIR` makes them)")
    pool: dict[str, Path] = {}
    for src in train_sources:
        pool.update(find_clip_shards(src))
    val: dict[str, Path] = {}
    for src in val_sources:
        val.update(find_clip_shards(src))
    held = set(val_speakers)
    unknown = held - {speaker_of(c, speaker_rules) for c in pool}
    if unknown:
        raise DataSplitError(f"val_speakers {sorted(unknown)} match no training clip; speakers present: "
                             f"{sorted({speaker_of(c, speaker_rules) for c in pool})[:20]}")
    for cid, path in pool.items():
        if speaker_of(cid, speaker_rules) in held:
            val[cid] = path
    train = {cid: p for cid, p in sorted(pool.items())
             if cid not in val and not (exclude_train is not None and exclude_train(cid))}
    if max_train_clips is not None:
        train = dict(list(train.items())[:max_train_clips])
    train_spk = {speaker_of(c, speaker_rules) for c in train}
    val_spk = {speaker_of(c, speaker_rules) for c in val}
    both = train_spk & val_spk
    if both:
        raise DataSplitError(
            f"speaker(s) {sorted(both)} appear in training and validation: validation must use unseen "
            "speakers. Move them with data.val_speakers, or name speakers with data.speaker_rules."
        )
    if not train:
        raise DataSplitError("no training clip left after the validation split")
    fingerprints = {cid: shard_fingerprint(path) for cid, path in {**train, **val}.items()}
    same = find_same_recordings({c: fingerprints[c] for c in val}, {c: fingerprints[c] for c in train})
    val = {cid: path for cid, path in val.items() if cid not in same}
    if not val:
        raise DataSplitError("no validation clip: set data.val or data.val_speakers"
                             + (f" (left out as training recordings: {sorted(same)})" if same else ""))
    val_spk = {speaker_of(c, speaker_rules) for c in val}
    return ClipSplit(train=train, val=dict(sorted(val.items())),
                     train_speakers=tuple(sorted(train_spk)), val_speakers=tuple(sorted(val_spk)),
                     fingerprints=fingerprints, same_recordings=dict(sorted(same.items())))


# --------------------------------------------------------------------------- clips in memory


@dataclass
class WindowClip:
    """What the dataset keeps of a shard.

    Attributes:
        clip_id: the clip's id.
        hr: uint8 ``(T, S, S, 3)`` RGB HR crops.
        lr: uint8 ``(T, S/scale, S/scale, 3)`` the degraded LR crops.
        mel_windows: float16 ``(T, 1, n_mels, mel_frames)`` log-mel windows in [−4, 4].
        mouth_boxes: float32 ``(T, 4)`` mouth boxes ``x1, y1, x2, y2`` in HR crop pixels.
    """

    clip_id: str
    hr: np.ndarray
    lr: np.ndarray
    mel_windows: np.ndarray
    mouth_boxes: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(len(self.hr))


def _npz_shape(path: str | Path, key: str) -> tuple[int, ...]:
    """Shape of array ``key`` of an ``.npz`` file, read from its header (nothing else is decompressed)."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fh:
        major, _ = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, _ = read(fh)
    return tuple(shape)


def load_window_clips(shards: Iterable[ClipShard | str | Path], scale: int = 4,
                      degradation: str = "bicubic_antialias", threads: int = 4) -> list[WindowClip]:
    """Load shards (or take loaded ones) and keep only what training needs, with LR made once.

    The frames of all clips live in one array per field (HR, LR, mel windows, mouth
    boxes), allocated once at its final size from the shards' headers; each
    :class:`WindowClip` holds views into them. One allocation per field keeps the
    resident size at what the data needs (per-clip arrays interleaved with the decode
    buffers fragmented the heap to about 3x), and the arrays are shared, not copied,
    by forked DataLoader workers. Shards are read by ``threads`` threads (decompression
    releases the GIL); the result is in the order of ``shards``.

    Raises:
        DataSplitError: a clip's HR crops are not square RGB with a side divisible by ``scale``.
        ShardError: a shard cannot be read.
    """
    if degradation not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {degradation!r}; choose one of {', '.join(DEGRADATIONS)}")
    items = list(shards)
    if not items:
        return []
    try:
        shapes = [tuple(it.hr.shape) if isinstance(it, ClipShard) else _npz_shape(it, "hr") for it in items]
        mel_shape = tuple(items[0].mel_windows.shape[1:]) if isinstance(items[0], ClipShard) \
            else _npz_shape(items[0], "mel_windows")[1:]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ShardError(f"unreadable shard header ({exc}); delete the shard and run prepare again") from exc
    for it, shape in zip(items, shapes):
        if len(shape) != 4 or shape[-1] != 3 or shape[1] != shape[2] or shape[1] % scale:
            name = it.clip_id if isinstance(it, ClipShard) else str(it)
            raise DataSplitError(f"clip {name}: HR crops must be square RGB with a side divisible by "
                                 f"{scale}, got {shape}")
    if len({s[1:] for s in shapes}) != 1:
        raise DataSplitError(f"clips of different crop sizes cannot be mixed: {sorted({s[1:] for s in shapes})}")
    side = shapes[0][1]
    offsets = np.concatenate([[0], np.cumsum([s[0] for s in shapes])]).astype(int)
    total = int(offsets[-1])
    hr_all = np.empty((total, side, side, 3), dtype=np.uint8)
    lr_all = np.empty((total, side // scale, side // scale, 3), dtype=np.uint8)
    mel_all = np.empty((total, *mel_shape), dtype=np.float16)
    box_all = np.empty((total, 4), dtype=np.float32)
    clips: list[WindowClip | None] = [None] * len(items)

    def fill(i: int) -> None:
        item = items[i]
        shard = item if isinstance(item, ClipShard) else load_shard(item)
        a, b = offsets[i], offsets[i + 1]
        if len(shard.hr) != b - a or tuple(shard.mel_windows.shape[1:]) != mel_shape:
            raise ShardError(f"clip {shard.clip_id}: the shard changed while it was read")
        hr_all[a:b] = shard.hr
        lr_all[a:b] = degrade(hr_all[a:b], scale, degradation)
        mel_all[a:b] = shard.mel_windows
        box_all[a:b] = shard.mouth_boxes
        clips[i] = WindowClip(clip_id=shard.clip_id, hr=hr_all[a:b], lr=lr_all[a:b],
                              mel_windows=mel_all[a:b], mouth_boxes=box_all[a:b])

    if threads <= 1 or len(items) < 2:
        for i in range(len(items)):
            fill(i)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(fill, range(len(items))))
    return clips  # type: ignore[return-value]


# --------------------------------------------------------------------------- dataset


class FrameWindowDataset(Dataset):
    """Samples of ``seq_len`` consecutive frames with their LR windows (see the module docstring).

    Args:
        shards: :class:`ClipShard` objects or shard paths.
        num_frames: LR frames per window (odd; 5 in the paper).
        seq_len: consecutive target frames per sample. Clips shorter than this are left out.
        degradation: HR → LR method (:data:`vfhgan_core.faces.crops.DEGRADATIONS`).
        scale: HR side / LR side.
        train: ``True``: random samples, ``length`` of them (indices past it keep drawing
            fresh samples, so a sampler may run longer); ``False``: ``samples_per_clip``
            samples per clip with evenly spaced starts, in clip order.
        seed: seed of the random samples (``train=True``).
        hflip_prob: probability of mirroring a training sample.
        samples_per_clip: samples per clip in validation mode.
        length: the nominal length in training mode (what ``len()`` reports).
        clip_weights: probability of drawing each clip in training mode (e.g.
            :func:`speaker_balanced_weights`); ``None``: in proportion to its start positions.
        color_jitter: strength of a random colour change applied alike to a training
            sample's LR and HR frames (:func:`color_transform`; 0 = off, 1 = full range).
        geometric_jitter: strength of a random scale / rotation / shift of a training
            sample's HR frames (:func:`geometric_transform`, the same map for every frame of
            the sample; 0 = off); its LR frames are then degraded from the moved HR frames.
        mouth_occlusion: probability that a training sample's LR frames have their mouth
            blurred beyond reading (:func:`~vfhgan_core.data.degradations.occlude_mouth`, every
            frame of every window, with the target frame's mouth box), so that the mouth
            has to be restored from the speech; 0 = off (samples are drawn exactly as before
            the option existed).
        blind: a random real-video degradation chain
            (:class:`~vfhgan_core.data.degradations.DegradationConfig`) used instead of
            ``degradation``: one draw per sample, a pure function of ``seed`` and the sample's
            index (validation samples get fixed draws too); ``None`` = the clean degradation.

    Each item is a dict of tensors:

    * ``lr``: float32 ``(S, num_frames, 3, h, w)`` RGB in [0, 1] (h = w = 32 for 128-px crops),
    * ``hr``: float32 ``(S, 3, H, W)`` RGB in [0, 1],
    * ``mel``: float32 ``(S, 1, n_mels, mel_frames)`` normalised log-mel windows in [−4, 4],
    * ``mouth_boxes``: float32 ``(S, 4)`` ``x1, y1, x2, y2`` in HR pixels,
    * ``clip``: int64 ``()`` index of the clip in :attr:`clips`; ``start``: int64 ``()`` first frame.
    """

    def __init__(
        self,
        shards: Sequence[ClipShard | str | Path] | Sequence[WindowClip],
        num_frames: int = 5,
        seq_len: int = 1,
        degradation: str = "bicubic_antialias",
        scale: int = 4,
        train: bool = True,
        seed: int = 0,
        hflip_prob: float = 0.0,
        samples_per_clip: int = 4,
        length: int = 1_000_000,
        clip_weights: Sequence[float] | None = None,
        color_jitter: float = 0.0,
        geometric_jitter: float = 0.0,
        blind: DegradationConfig | None = None,
        mouth_occlusion: float = 0.0,
    ) -> None:
        if num_frames < 1 or num_frames % 2 == 0:
            raise ValueError(f"num_frames must be odd and >= 1, got {num_frames}")
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if not 0.0 <= hflip_prob <= 1.0:
            raise ValueError(f"hflip_prob must be in [0, 1], got {hflip_prob}")
        if not 0.0 <= color_jitter <= 1.0:
            raise ValueError(f"color_jitter must be in [0, 1], got {color_jitter}")
        if not 0.0 <= geometric_jitter <= 1.0:
            raise ValueError(f"geometric_jitter must be in [0, 1], got {geometric_jitter}")
        if not 0.0 <= mouth_occlusion <= 1.0:
            raise ValueError(f"mouth_occlusion must be in [0, 1], got {mouth_occlusion}")
        if samples_per_clip < 1 or length < 1:
            raise ValueError("samples_per_clip and length must be >= 1")
        items = list(shards)
        if items and all(isinstance(s, WindowClip) for s in items):
            clips = items
        else:
            clips = load_window_clips(items, scale, degradation)
        self.clips: list[WindowClip] = [c for c in clips if c.num_frames >= seq_len]
        if not self.clips:
            raise DataSplitError(f"no clip has the {seq_len} frames a sample needs "
                                 f"({len(clips)} clip(s) given)")
        self.num_frames = num_frames
        self.seq_len = seq_len
        self.train = train
        self.seed = int(seed)
        self.hflip_prob = float(hflip_prob)
        self.samples_per_clip = samples_per_clip
        self.length = int(length)
        self.color_jitter = float(color_jitter)
        self.geometric_jitter = float(geometric_jitter)
        self.mouth_occlusion = float(mouth_occlusion)
        self.degradation, self.scale = degradation, scale
        if blind is not None and blind.scale != scale:
            raise ValueError(f"the blind degradation's scale {blind.scale} differs from the dataset's {scale}")
        self.blind = blind
        # training: a clip is drawn with probability proportional to its number of start positions
        starts = np.array([c.num_frames - seq_len + 1 for c in self.clips], dtype=np.float64)
        self._clip_p = starts / starts.sum()
        if clip_weights is not None:
            if len(clip_weights) != len(clips):
                raise ValueError(f"clip_weights has {len(clip_weights)} entries for {len(clips)} clips")
            kept = np.array([w for w, c in zip(clip_weights, clips) if c.num_frames >= seq_len], dtype=np.float64)
            if (kept < 0).any() or kept.sum() <= 0:
                raise ValueError("clip_weights must be non-negative with a positive sum")
            self._clip_p = kept / kept.sum()
        self._fixed: list[tuple[int, int]] = []
        if not train:
            for ci, c in enumerate(self.clips):
                last = c.num_frames - seq_len
                picks = np.unique(np.round(np.linspace(0, last, samples_per_clip)).astype(int))
                self._fixed.extend((ci, int(s)) for s in picks)

    @property
    def clip_ids(self) -> list[str]:
        return [c.clip_id for c in self.clips]

    @property
    def total_frames(self) -> int:
        """Frames of all clips kept."""
        return int(sum(c.num_frames for c in self.clips))

    def __len__(self) -> int:
        return self.length if self.train else len(self._fixed)

    def sample_position(self, index: int) -> tuple[int, int, bool]:
        """``(clip index, first frame, mirrored)`` of sample ``index``."""
        ci, start, flip, _, _, _ = self._draw(index)
        return ci, start, flip

    def mouth_occluded(self, index: int) -> bool:
        """Whether sample ``index`` has its LR mouth blurred (``mouth_occlusion``)."""
        return self._draw(index)[5]

    def _draw(self, index: int) -> tuple[int, int, bool, tuple[np.ndarray, np.ndarray] | None, np.ndarray | None, bool]:
        """Clip, start, mirroring, colour map, geometric map (``None``: unchanged) and mouth occlusion of sample ``index``."""
        if not self.train:
            ci, start = self._fixed[index]
            return ci, start, False, None, None, False
        rng = np.random.default_rng([self.seed, int(index)])
        ci = int(rng.choice(len(self.clips), p=self._clip_p))
        start = int(rng.integers(0, self.clips[ci].num_frames - self.seq_len + 1))
        flip = bool(rng.random() < self.hflip_prob)
        colour = color_transform(rng, self.color_jitter) if self.color_jitter > 0 else None
        moved = (geometric_transform(rng, self.geometric_jitter, self.clips[ci].hr.shape[1])
                 if self.geometric_jitter > 0 else None)
        # drawn last, and only when on, so that the draws above are those of a run without it
        occluded = bool(self.mouth_occlusion > 0 and rng.random() < self.mouth_occlusion)
        return ci, start, flip, colour, moved, occluded

    def _blind_seed(self, index: int) -> int:
        """Seed of sample ``index``'s blind degradation (training and validation draws kept apart)."""
        return int(np.random.default_rng([self.seed, int(index), 7 if self.train else 8]).integers(2 ** 62))

    def degradation_params(self, index: int) -> DegradationParams | None:
        """The blind-chain draw of sample ``index`` (``None`` without a blind chain)."""
        if self.blind is None:
            return None
        return draw_params(self.blind, np.random.default_rng(self._blind_seed(index)))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index < 0 or (not self.train and index >= len(self._fixed)):
            raise IndexError(index)
        ci, start, flip, colour, moved, occluded = self._draw(index)
        clip = self.clips[ci]
        j = self.num_frames // 2
        targets = np.arange(start, start + self.seq_len)
        window_idx = np.clip(targets[:, None] + np.arange(-j, j + 1)[None, :], 0, clip.num_frames - 1)
        boxes = clip.mouth_boxes[targets].copy()               # (S, 4)
        if self.blind is not None and moved is None:
            # one random draw of the real-video chain for the whole sample (frames degrade alike)
            frames, where = np.unique(window_idx, return_inverse=True)
            lr_frames, _ = degrade_clip(clip.hr[frames], self.blind, seed=self._blind_seed(index))
            lr = lr_frames[where.reshape(window_idx.shape)]
            hr = clip.hr[targets]
        elif moved is None:
            lr = clip.lr[window_idx]                           # (S, F, h, w, 3) uint8
            hr = clip.hr[targets]                              # (S, H, W, 3) uint8
        else:
            side = clip.hr.shape[1]
            frames, where = np.unique(window_idx, return_inverse=True)   # each frame warped once
            warped = np.stack([cv2.warpAffine(clip.hr[f], moved, (side, side), flags=cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_REFLECT_101) for f in frames])
            if self.blind is not None:
                lr = degrade_clip(warped, self.blind, seed=self._blind_seed(index))[0][where.reshape(window_idx.shape)]
            else:
                lr = degrade(warped, self.scale, self.degradation)[where.reshape(window_idx.shape)]
            hr = warped[np.searchsorted(frames, targets)]
            corners = boxes[:, [[0, 1], [2, 1], [0, 3], [2, 3]]]        # (S, 4 corners, 2)
            mapped = transform_points(corners, moved)
            boxes = np.concatenate([mapped.min(axis=1), mapped.max(axis=1)], axis=1).clip(0, side)
        if occluded:
            lr = occlude_mouth(lr, boxes[:, None, :], self.scale)     # each window with its target's box
        if flip:
            lr = lr[..., ::-1, :]
            hr = hr[..., ::-1, :]
            width = hr.shape[-2]
            boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
        lr = np.ascontiguousarray(lr, dtype=np.float32) / 255.0
        hr = np.ascontiguousarray(hr, dtype=np.float32) / 255.0
        if colour is not None:
            a, b = colour
            lr = np.clip(lr @ a.T + b, 0.0, 1.0)
            hr = np.clip(hr @ a.T + b, 0.0, 1.0)
        return {
            "lr": torch.from_numpy(np.ascontiguousarray(lr)).permute(0, 1, 4, 2, 3),
            "hr": torch.from_numpy(np.ascontiguousarray(hr)).permute(0, 3, 1, 2),
            "mel": torch.from_numpy(clip.mel_windows[targets].astype(np.float32)),
            "mouth_boxes": torch.from_numpy(boxes),
            "clip": torch.tensor(ci, dtype=torch.int64),
            "start": torch.tensor(start, dtype=torch.int64),
        }
