"""Word clips for the GRID lip reader, from shards prepared here from real GRID clips."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from vfhgan_core.data.alignments import read_align
from vfhgan_core.data.shards import ClipShard, load_shard
from vfhgan_core.data.words import (
    GRID_VOCABULARY,
    GRID_WORD_GROUPS,
    MouthAugmentConfig,
    SentenceSplit,
    WordClipDataset,
    WordDataError,
    find_shards,
    sentence_of,
    vocabulary_from_words,
    word_frames,
)
from vfhgan_core.losses.lipreading import LipReadingLoss, crop_mouths
from vfhgan_core.models.lipreading import MOUTH_STD, LipReader, LipReaderConfig

CLIPS = ("bbaf2n", "bbaf3s", "bbaf4p")
NO_AUGMENT = MouthAugmentConfig(random_crop=False, flip_prob=0.0, time_mask_max=0, max_shift=0)


@pytest.fixture(scope="module")
def prepared(prepare_grid_s1) -> Path:
    """Three real GRID s1 clips prepared into shards (about 10 s)."""
    return prepare_grid_s1(CLIPS, "words_prepared")


@pytest.fixture(scope="module")
def shards(prepared: Path) -> list[ClipShard]:
    return [load_shard(p) for p in find_shards(prepared)]


def _align_names(data_dir: Path) -> list[str]:
    return sorted(p.stem for p in (data_dir / "grid_s1" / "align").glob("*.align"))


# --------------------------------------------------------------------------- no shards needed


def test_grid_vocabulary_is_the_51_words_of_the_align_files(data_dir: Path) -> None:
    names = _align_names(data_dir)
    assert len(names) == 900
    words = [s.word for n in names for s in read_align(data_dir / "grid_s1" / "align" / f"{n}.align")]
    assert vocabulary_from_words(words) == GRID_VOCABULARY
    assert len(GRID_VOCABULARY) == 51 and list(GRID_VOCABULARY) == sorted(GRID_VOCABULARY)
    grouped = [w for group in GRID_WORD_GROUPS.values() for w in group]
    assert sorted(grouped) == list(GRID_VOCABULARY)  # every word in exactly one group
    assert vocabulary_from_words(["sil", "sp", "bin", "bin"]) == ("bin",)


def test_sentence_split_is_deterministic_by_name(data_dir: Path) -> None:
    names = _align_names(data_dir)
    rule = SentenceSplit()
    heldout = [n for n in names if rule.is_heldout(n)]
    assert heldout == [n for n in names if SentenceSplit().is_heldout(n)]
    assert 0.05 * len(names) < len(heldout) < 0.15 * len(names)
    # the rule looks at the name only: a subset of the sentences splits the same way
    assert [n for n in names[::3] if rule.is_heldout(n)] == heldout_subset(heldout, names[::3])
    other = [n for n in names if SentenceSplit(salt="another").is_heldout(n)]
    assert other != heldout
    assert not any(SentenceSplit(heldout_fraction=0.0).is_heldout(n) for n in names)
    explicit = SentenceSplit(heldout=("bbaf2n",))
    assert [n for n in names if explicit.is_heldout(n)] == ["bbaf2n"]
    assert explicit.part("bbaf3s") == "train"
    assert sentence_of("grid_s1/video/bbaf2n") == "bbaf2n"
    with pytest.raises(ValueError, match="heldout_fraction"):
        SentenceSplit(heldout_fraction=1.0)


def heldout_subset(heldout: list[str], subset: list[str]) -> list[str]:
    chosen = set(heldout)
    return [n for n in subset if n in chosen]


def test_word_frames_follow_the_frame_middles() -> None:
    timestamps = np.arange(75) * 0.04
    middles = timestamps + 0.02
    rng = np.random.default_rng(0)
    for _ in range(200):
        start = rng.uniform(0.0, 2.8)
        end = start + rng.uniform(0.0, 0.5)
        first, stop = word_frames(timestamps, start, end, fps=25.0)
        assert 0 <= first < stop <= 75
        inside = np.flatnonzero((middles >= start) & (middles < end))
        if len(inside):
            assert (first, stop) == (inside[0], inside[-1] + 1)
        else:  # shorter than a frame: the frame nearest to the word's middle
            assert stop == first + 1
            assert abs(middles[first] - (start + end) / 2) <= 0.02 + 1e-9
    # GRID units: 1000 per frame -> a word from frame 24 to frame 29 exactly
    assert word_frames(timestamps, 24_000 / 25_000, 29_000 / 25_000) == (24, 29)


# --------------------------------------------------------------------------- real shards


@pytest.mark.slow
def test_word_clips_have_the_right_shapes_labels_and_windows(shards: list[ClipShard]) -> None:
    data = WordClipDataset(shards, split="all", frames=16)
    spoken = [(s.clip_id, w) for s in shards for w, _, _ in s.words if w not in ("sil", "sp")]
    assert len(data) == len(spoken) == 6 * len(CLIPS)
    assert [(c.clip_id, c.word) for c in data.clips] == spoken
    assert data.label_counts().sum() == len(data)
    for index in range(len(data)):
        item = data[index]
        clip = data.clips[index]
        assert item["mouths"].shape == (1, 16, 88, 88) and item["mouths"].dtype == torch.float32
        assert item["label"].dtype == torch.int64 and GRID_VOCABULARY[int(item["label"])] == item["word"]
        assert int(item["length"]) == 16
        # the whole word lies inside its window (GRID s1 words here are shorter than 16 frames)
        assert 0 <= int(item["word_start"]) < int(item["word_end"]) <= 16
        assert int(item["word_end"]) - int(item["word_start"]) == clip.end - clip.first
        # roughly centred on the word
        centre = (clip.first + clip.end) / 2
        assert abs(clip.window + 8 - centre) <= 1 or clip.window in (0, 75 - 16)
        # normalised pixels: values in [(0 - 0.421)/0.165, (1 - 0.421)/0.165]
        assert -2.56 < float(item["mouths"].min()) and float(item["mouths"].max()) < 3.51
    rois = data.rois(shards[0].clip_id)
    assert rois.shape == (75, 96, 96) and rois.dtype == np.uint8
    # a longer window than the clip: padded, with the real length reported
    long = WordClipDataset(shards[:1], split="all", frames=80)
    item = long[0]
    assert item["mouths"].shape == (1, 80, 88, 88) and int(item["length"]) == 75
    assert torch.equal(item["mouths"][0, 75:], item["mouths"][0, 74:75].expand(5, -1, -1))


@pytest.mark.slow
def test_mouths_are_what_the_lip_reading_loss_feeds_the_lip_reader(shards: list[ClipShard]) -> None:
    data = WordClipDataset(shards, split="all", frames=16)
    shard = shards[1]
    frames = torch.from_numpy(shard.hr).permute(0, 3, 1, 2).unsqueeze(0).float() / 255.0
    boxes = torch.from_numpy(shard.mouth_boxes).unsqueeze(0)
    # the stored regions are crop_mouths at 96x96, rounded to uint8
    expected = crop_mouths(frames, boxes, size=96)[0] * 255.0
    rois = torch.from_numpy(data.rois(shard.clip_id)).float()
    assert float((rois - expected).abs().max()) <= 0.5 + 1e-3
    # and an example equals the loss's own lip-reader input on the same frames
    tiny = LipReader(LipReaderConfig(trunk_channels=(4, 4, 4, 4), tcn_hidden_dim=4, num_classes=51))
    loss = LipReadingLoss(tiny)
    index = next(i for i, c in enumerate(data.clips) if c.clip_id == shard.clip_id and c.word not in ("a", "at"))
    clip = data.clips[index]
    window = slice(clip.window, clip.window + 16)
    reference = loss.mouth_inputs(frames[:, window], boxes[:, window])[0]  # (1, 16, 88, 88)
    item = data[index]["mouths"]
    assert item.shape == reference.shape
    assert float((item - reference).abs().max()) <= 0.5 / 255.0 / MOUTH_STD + 1e-4
    # a different window would not match: the comparison can fail
    other = loss.mouth_inputs(frames[:, clip.window + 3:clip.window + 19], boxes[:, clip.window + 3:clip.window + 19])[0]
    assert float((item - other).abs().max()) > 0.5


@pytest.mark.slow
def test_split_is_disjoint_by_sentence_and_deterministic(shards: list[ClipShard], prepared: Path) -> None:
    rule = SentenceSplit(heldout=("bbaf3s",))
    train = WordClipDataset(shards, split="train", split_rule=rule)
    heldout = WordClipDataset(shards, split="heldout", split_rule=rule)
    everything = WordClipDataset(prepared, split="all", split_rule=rule)  # from the folder's manifest
    assert set(train.sentences) == {"bbaf2n", "bbaf4p"} and heldout.sentences == ["bbaf3s"]
    assert not {c.clip_id for c in train.clips} & {c.clip_id for c in heldout.clips}
    assert len(train) + len(heldout) == len(everything) == 18
    again = WordClipDataset(shards, split="train", split_rule=rule)
    assert again.clips == train.clips
    # the hash rule splits these shards the way it splits their names
    hashed = WordClipDataset(shards, split="heldout")
    assert hashed.sentences == [n for n in CLIPS if SentenceSplit().is_heldout(n)]


@pytest.mark.slow
def test_augmentation_only_when_asked_and_reproducible(shards: list[ClipShard]) -> None:
    plain = WordClipDataset(shards[:1], split="all")
    aug = WordClipDataset(shards[:1], split="all", augment=True,
                          augmentation=MouthAugmentConfig(time_mask_max=4, max_shift=2))
    torch.manual_seed(3)
    first = [aug[i]["mouths"] for i in range(len(aug))]
    torch.manual_seed(3)
    second = [aug[i]["mouths"] for i in range(len(aug))]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert any(not torch.equal(a, plain[i]["mouths"]) for i, a in enumerate(first))
    # without augment=True the augmentation settings change nothing
    unused = WordClipDataset(shards[:1], split="all", augment=False,
                             augmentation=MouthAugmentConfig(flip_prob=1.0, time_mask_max=8, max_shift=2))
    assert all(torch.equal(unused[i]["mouths"], plain[i]["mouths"]) for i in range(len(plain)))
    for _ in range(20):  # shifted windows keep every word frame
        for i in range(len(aug)):
            item, clip = aug[i], aug.clips[i]
            assert int(item["word_end"]) - int(item["word_start"]) == clip.end - clip.first
            assert 0 <= int(item["word_start"]) and int(item["word_end"]) <= 16
    # a sure flip is the plain clip mirrored
    flip = WordClipDataset(shards[:1], split="all", augment=True,
                           augmentation=dataclasses.replace(NO_AUGMENT, flip_prob=1.0))
    assert torch.equal(flip[2]["mouths"], plain[2]["mouths"].flip(-1))
    # a time mask fills a run of frames with one value
    masked = WordClipDataset(shards[:1], split="all", augment=True,
                             augmentation=dataclasses.replace(NO_AUGMENT, time_mask_max=16))
    torch.manual_seed(0)
    frames = [masked[0]["mouths"][0] for _ in range(10)]
    flat = [int(sum(bool((f == f[0, 0]).all()) for f in clip)) for clip in frames]
    assert max(flat) > 0 and all(n <= 16 for n in flat)


@pytest.mark.slow
def test_bad_word_data_is_refused_with_a_clear_error(shards: list[ClipShard], tmp_path: Path) -> None:
    with pytest.raises(WordDataError, match="vocabulary does not hold"):
        WordClipDataset(shards, split="all", vocabulary=GRID_VOCABULARY[:10])
    silent = [dataclasses.replace(s, meta=dict(s.meta, words=[])) for s in shards]
    with pytest.raises(WordDataError, match="word alignment"):
        WordClipDataset(silent, split="all")
    with pytest.raises(WordDataError, match="vfhgan prepare"):
        find_shards(tmp_path)
    with pytest.raises(WordDataError, match="does not exist"):
        WordClipDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="split"):
        WordClipDataset(shards, split="test")
