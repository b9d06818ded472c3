"""Training samples (vfhgan_core.data.windows) on real prepared GRID clips."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vfhgan_core.data.prepare import prepare_dataset
from vfhgan_core.data.shards import load_shard
from vfhgan_core.data.windows import (
    DataSplitError,
    FrameWindowDataset,
    color_transform,
    find_clip_shards,
    load_window_clips,
    sentence_holdout,
    speaker_balanced_weights,
    speaker_of,
    split_clips,
)
from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.crops import degrade
from vfhgan_core.faces.detection import DetectorConfig
from vfhgan_core.pipelines.restore import frame_windows, to_tensor


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, data_dir: Path, detector_model: Path) -> dict[str, Path]:
    """One GRID s1 clip, one clip of another GRID speaker and a second copy of the s1 clip
    (from the other speakers' folder), each prepared into its own folder."""
    root = tmp_path_factory.mktemp("windows")
    config = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
    out = {}
    for name, src in (("s1", data_dir / "grid_s1" / "video" / "bbaf2n.mp4"),
                      ("other", data_dir / "grid_speakers" / "lbax4n.mpg"),
                      # the same recording as the s1 clip, distributed as another speaker's
                      ("twin", data_dir / "grid_speakers" / "bbaf2n.mpg")):
        summary = prepare_dataset([src], root / name, config, workers=1, progress=False)
        assert len(summary.ok) == 1, summary.records
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def shard(prepared):
    (path,) = find_clip_shards(prepared["s1"]).values()
    return load_shard(path)


def test_sample_shapes_types_and_ranges(shard) -> None:
    ds = FrameWindowDataset([shard], num_frames=5, seq_len=3, train=True, seed=1, length=10)
    assert len(ds) == 10
    item = ds[4]
    assert item["lr"].shape == (3, 5, 3, 32, 32) and item["lr"].dtype == torch.float32
    assert item["hr"].shape == (3, 3, 128, 128) and item["hr"].dtype == torch.float32
    assert item["mel"].shape == (3, 1, 80, 16) and item["mel"].dtype == torch.float32
    assert item["mouth_boxes"].shape == (3, 4)
    for key in ("lr", "hr"):
        assert 0.0 <= float(item[key].min()) and float(item[key].max()) <= 1.0
    assert float(item["mel"].abs().max()) <= 4.0 + 1e-3
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["lr"].shape == (2, 3, 5, 3, 32, 32)


def test_windows_match_inference_and_are_edge_padded(shard) -> None:
    """The LR windows are the ones restore.frame_windows builds from the degraded clip."""
    ds = FrameWindowDataset([shard], num_frames=5, seq_len=4, train=False, samples_per_clip=3)
    lr_clip = degrade(shard.hr, 4, "bicubic_antialias")
    expected = frame_windows(to_tensor(lr_clip), 5)                # (T, 5, 3, 32, 32)
    starts = [ds.sample_position(i)[1] for i in range(len(ds))]
    assert starts == [0, (shard.num_frames - 4 + 1) // 2, shard.num_frames - 4]
    for i, start in enumerate(starts):
        item = ds[i]
        assert torch.equal(item["lr"], expected[start:start + 4])
        assert torch.equal(item["hr"], to_tensor(shard.hr[start:start + 4]))
        assert torch.equal(item["mel"], torch.from_numpy(shard.mel_windows[start:start + 4].astype(np.float32)))
        assert torch.equal(item["mouth_boxes"], torch.from_numpy(shard.mouth_boxes[start:start + 4]))
    first = ds[0]["lr"][0]                        # frame 0: frames -2, -1 repeat frame 0
    assert torch.equal(first[0], first[2]) and torch.equal(first[1], first[2])
    last = ds[2]["lr"][-1]                        # last frame: frames +1, +2 repeat it
    assert torch.equal(last[3], last[2]) and torch.equal(last[4], last[2])


def test_random_samples_depend_only_on_seed_and_index(shard) -> None:
    a = FrameWindowDataset([shard], seq_len=2, train=True, seed=3)
    b = FrameWindowDataset([shard], seq_len=2, train=True, seed=3)
    c = FrameWindowDataset([shard], seq_len=2, train=True, seed=4)
    positions = [a.sample_position(i) for i in range(300)]
    # the same index gives the same sample in any order and in another dataset object
    assert [b.sample_position(i) for i in reversed(range(300))] == positions[::-1]
    assert torch.equal(a[17]["lr"], b[17]["lr"])
    assert [c.sample_position(i) for i in range(300)] != positions
    starts = [s for _, s, _ in positions]
    assert min(starts) <= 3 and max(starts) >= shard.num_frames - 2 - 3     # the whole clip is used
    flips = sum(f for _, _, f in positions)
    assert flips == 0                                                     # hflip_prob defaults to 0


def test_mirrored_samples_mirror_frames_and_mouth_boxes(shard) -> None:
    plain = FrameWindowDataset([shard], seq_len=2, train=False, samples_per_clip=1)
    ci, start, _ = plain.sample_position(0)
    flipped = FrameWindowDataset([shard], seq_len=2, train=True, hflip_prob=1.0, seed=0)
    index = next(i for i in range(500) if flipped.sample_position(i)[1] == start)
    a, b = plain[0], flipped[index]
    assert torch.equal(b["hr"], a["hr"].flip(-1))
    assert torch.equal(b["lr"], a["lr"].flip(-1))
    box_a, box_b = a["mouth_boxes"], b["mouth_boxes"]
    assert torch.allclose(box_b[:, 0], 128 - box_a[:, 2]) and torch.allclose(box_b[:, 2], 128 - box_a[:, 0])
    assert torch.equal(box_b[:, [1, 3]], box_a[:, [1, 3]])


def augmented_pairs(shard, n: int = 6, **augment):
    """``n`` training samples without and with ``augment`` (same seed); they must draw the same frames."""
    plain = FrameWindowDataset([shard], seq_len=2, train=True, seed=5)
    changed = FrameWindowDataset([shard], seq_len=2, train=True, seed=5, **augment)
    for i in range(n):
        assert changed.sample_position(i) == plain.sample_position(i)
        yield plain[i], changed[i]


def test_colour_jitter_recolours_lr_and_hr_alike(shard) -> None:
    changes = []
    for a, b in augmented_pairs(shard, color_jitter=1.0):
        changes.append(float((b["hr"] - a["hr"]).abs().mean()))
        # LR made from the recoloured HR equals the recoloured LR, up to 8-bit rounding and clipping
        lr_from_hr = degrade(b["hr"], 4).clamp(0, 1)
        centre = b["lr"][:, b["lr"].shape[1] // 2]
        assert float((lr_from_hr - centre).abs().mean()) < 0.006
    assert max(changes) > 0.03                                                # the colours did change
    # strength 0 is the identity map
    a0, b0 = color_transform(np.random.default_rng(0), 0.0)
    assert np.allclose(a0, np.eye(3)) and np.allclose(b0, 0.0)
    with pytest.raises(ValueError, match="color_jitter"):
        FrameWindowDataset([shard], color_jitter=1.5)


def test_geometric_jitter_moves_frames_boxes_and_lr_alike(shard) -> None:
    changes = []
    for a, b in augmented_pairs(shard, geometric_jitter=1.0):
        assert b["hr"].shape == a["hr"].shape and b["lr"].shape == a["lr"].shape
        changes.append(float((b["hr"] - a["hr"]).abs().mean()))
        # the LR window is degraded from the moved HR frames (centre frame = the target)
        centre = b["lr"][:, b["lr"].shape[1] // 2]
        assert float((degrade(b["hr"], 4).clamp(0, 1) - centre).abs().mean()) < 0.003
        # every frame of the window moved by the same map: the neighbours still match the plain
        # sample's neighbours no better than the centre does (no frame left unmoved)
        assert float((b["lr"] - a["lr"]).abs().mean(dim=(0, 2, 3, 4)).min()) > 0.005
        # mouth boxes follow the face: the box of the moved frame holds the moved mouth
        box, old = b["mouth_boxes"][0], a["mouth_boxes"][0]
        assert 0 <= float(box.min()) and float(box.max()) <= 128 and float(box[2] - box[0]) > 0
        ys, xs = slice(int(box[1]), int(box[3]) + 1), slice(int(box[0]), int(box[2]) + 1)
        oys, oxs = slice(int(old[1]), int(old[3]) + 1), slice(int(old[0]), int(old[2]) + 1)
        inside = float(b["hr"][0][:, ys, xs].mean())
        assert abs(inside - float(a["hr"][0][:, oys, oxs].mean())) < 0.05
    assert max(changes) > 0.02
    moved = FrameWindowDataset([shard], seq_len=2, train=True, seed=5, geometric_jitter=1.0)
    again = FrameWindowDataset([shard], seq_len=2, train=True, seed=5, geometric_jitter=1.0)
    assert torch.equal(again[3]["hr"], moved[3]["hr"])                          # seed and index decide
    val = FrameWindowDataset([shard], seq_len=2, train=False, geometric_jitter=1.0, samples_per_clip=2)
    ref = FrameWindowDataset([shard], seq_len=2, train=False, samples_per_clip=2)
    assert torch.equal(val[1]["hr"], ref[1]["hr"])                              # validation is never moved
    with pytest.raises(ValueError, match="geometric_jitter"):
        FrameWindowDataset([shard], geometric_jitter=-0.1)


def test_mouth_occlusion_hides_the_mouth_of_some_lr_windows_only(shard) -> None:
    plain = FrameWindowDataset([shard], seq_len=2, train=True, seed=5)
    hidden = FrameWindowDataset([shard], seq_len=2, train=True, seed=5, mouth_occlusion=0.5)
    flags = [hidden.mouth_occluded(i) for i in range(40)]
    assert 8 <= sum(flags) <= 32                                        # about half the samples
    for i, flag in enumerate(flags[:8]):
        a, b = plain[i], hidden[i]
        assert hidden.sample_position(i) == plain.sample_position(i)     # the same frames are drawn
        assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["mel"], b["mel"])
        if not flag:
            assert torch.equal(a["lr"], b["lr"])
            continue
        moved = (b["lr"] - a["lr"]).abs().amax(dim=2)                    # (S, F, h, w)
        assert bool((moved.flatten(2).amax(dim=2) > 0.05).all())         # every frame of every window
        # ... only around the target's mouth box (LR pixels, with the one-pixel feather)
        for s, box in enumerate(b["mouth_boxes"] / 4):
            ys, xs = torch.nonzero(moved[s].amax(dim=0) > 0, as_tuple=True)
            assert int(xs.min()) >= int(box[0]) - 1 and int(xs.max()) <= int(box[2]) + 1
            assert int(ys.min()) >= int(box[1]) - 1 and int(ys.max()) <= int(box[3]) + 1
    val = FrameWindowDataset([shard], seq_len=2, train=False, samples_per_clip=2, mouth_occlusion=1.0)
    ref = FrameWindowDataset([shard], seq_len=2, train=False, samples_per_clip=2)
    assert torch.equal(val[1]["lr"], ref[1]["lr"])                      # validation is never occluded
    with pytest.raises(ValueError, match="mouth_occlusion"):
        FrameWindowDataset([shard], mouth_occlusion=1.5)


def test_blind_degradation_degrades_each_sample_by_its_own_draw(shard) -> None:
    from vfhgan_core.data.degradations import DegradationConfig

    blind = DegradationConfig(blur_prob=1.0, gaussian_noise_prob=1.0, h264_prob=1.0, jpeg_prob=0.0)
    differences = []
    for a, b in augmented_pairs(shard, n=4, blind=blind):
        assert torch.equal(a["hr"], b["hr"])                          # the targets stay clean
        assert b["lr"].shape == a["lr"].shape
        differences.append(float((b["lr"] - a["lr"]).abs().mean()))
    assert min(differences) > 0.01 and len(set(differences)) == 4      # each sample its own draw
    again = FrameWindowDataset([shard], seq_len=2, train=True, seed=5, blind=blind)
    first = FrameWindowDataset([shard], seq_len=2, train=True, seed=5, blind=blind)
    assert torch.equal(again[2]["lr"], first[2]["lr"])                # seed and index decide
    val = FrameWindowDataset([shard], seq_len=2, train=False, samples_per_clip=2, blind=blind)
    assert torch.equal(val[1]["lr"], FrameWindowDataset([shard], seq_len=2, train=False, samples_per_clip=2,
                                                        blind=blind)[1]["lr"])    # fixed validation draws
    moved = FrameWindowDataset([shard], seq_len=2, train=True, seed=5, blind=blind, geometric_jitter=1.0)[0]
    assert moved["lr"].shape == first[0]["lr"].shape                  # with geometric jitter too
    with pytest.raises(ValueError, match="scale"):
        FrameWindowDataset([shard], blind=DegradationConfig(scale=2))


def test_speaker_balanced_weights_temper_a_dominant_speaker(prepared) -> None:
    ids, frames = ["big/1", "big/2", "small/1"], [300, 100, 100]
    assert np.allclose(speaker_balanced_weights(ids, frames, power=1.0), [0.6, 0.2, 0.2])      # frame-uniform
    assert np.allclose(speaker_balanced_weights(ids, frames, power=0.0), [0.375, 0.125, 0.5])  # speaker-uniform
    half = speaker_balanced_weights(ids, frames, power=0.5)                # shares 20 : 10 for 400 : 100 frames
    assert np.isclose(half[:2].sum(), 2 / 3) and np.isclose(half[0] / half[1], 3.0)
    # rules name speakers: here the two "big" clips are two people
    split = speaker_balanced_weights(ids, frames, [("big/1", "p1"), ("big/2", "p2")], power=0.0)
    assert np.allclose(split, [1 / 3] * 3)
    with pytest.raises(ValueError, match="power"):
        speaker_balanced_weights(ids, frames, power=2.0)

    # the dataset draws clips with the given weights
    clips = load_window_clips([*find_clip_shards(prepared["s1"]).values(),
                               *find_clip_shards(prepared["other"]).values()], 4, "bicubic_antialias")
    uniform = FrameWindowDataset(clips, train=True, seed=1)
    skewed = FrameWindowDataset(clips, train=True, seed=1, clip_weights=[0.9, 0.1])
    draws = np.array([skewed.sample_position(i)[0] for i in range(2000)])
    assert 0.86 < (draws == 0).mean() < 0.94
    assert 0.3 < np.mean([uniform.sample_position(i)[0] == 0 for i in range(2000)]) < 0.7
    with pytest.raises(ValueError, match="clip_weights"):
        FrameWindowDataset(clips, train=True, clip_weights=[1.0])


def test_clips_shorter_than_a_sample_are_refused(shard) -> None:
    with pytest.raises(DataSplitError, match="frames a sample needs"):
        FrameWindowDataset([shard], seq_len=shard.num_frames + 1)
    with pytest.raises(ValueError, match="odd"):
        FrameWindowDataset([shard], num_frames=4)


def test_sources_manifest_folder_and_single_shard(prepared, tmp_path: Path) -> None:
    by_manifest = find_clip_shards(prepared["s1"])
    assert list(by_manifest) == ["grid_s1/video/bbaf2n"] or list(by_manifest)[0].endswith("bbaf2n")
    (path,) = by_manifest.values()
    assert find_clip_shards(prepared["s1"] / "manifest.json") == by_manifest
    assert find_clip_shards(path) == by_manifest
    loose = tmp_path / "loose"
    shutil.copytree(prepared["s1"] / "shards", loose)
    (loose / "partial.npz").write_bytes(b"not a zip")           # an interrupted write is skipped
    assert list(find_clip_shards(loose)) == list(by_manifest)
    with pytest.raises(DataSplitError, match="vfhgan_core prepare"):
        find_clip_shards(tmp_path / "nothing")


def test_speaker_disjoint_split(prepared) -> None:
    s1_id = next(iter(find_clip_shards(prepared["s1"])))
    other_id = next(iter(find_clip_shards(prepared["other"])))
    assert speaker_of(s1_id) == s1_id.rsplit("/", 1)[0]
    assert speaker_of("grid_speakers/pwij3p", [("grid_speakers/pwij3p", "man-a")]) == "man-a"

    split = split_clips([prepared["s1"]], [prepared["other"]])
    assert list(split.train) == [s1_id] and list(split.val) == [other_id]
    assert not set(split.train_speakers) & set(split.val_speakers)

    # holding a speaker of the training sources out moves all its clips to validation
    moved = split_clips([prepared["s1"], prepared["other"]], [], val_speakers=[speaker_of(other_id)])
    assert list(moved.train) == [s1_id] and list(moved.val) == [other_id]

    # a clip listed on both sides is validation only
    both = split_clips([prepared["s1"], prepared["other"]], [prepared["other"]])
    assert list(both.train) == [s1_id] and list(both.val) == [other_id]
    # the same speaker on both sides is refused (here a rule names the two clips' folders as one person)
    rules = [(s1_id, "same-person"), (other_id, "same-person")]
    with pytest.raises(DataSplitError, match="same-person.*appear in training and validation"):
        split_clips([prepared["s1"]], [prepared["other"]], speaker_rules=rules)
    with pytest.raises(DataSplitError, match="match no training clip"):
        split_clips([prepared["s1"]], [], val_speakers=["nobody"])
    with pytest.raises(DataSplitError, match="no training clip left"):
        split_clips([prepared["s1"]], [], val_speakers=[speaker_of(s1_id)])
    # no training source at all: the error says what to set
    with pytest.raises(DataSplitError, match=r"no training data given.*data\.train.*--train-data"):
        split_clips([], [prepared["other"]])


def test_a_training_recording_under_another_name_leaves_validation(prepared) -> None:
    s1_id = next(iter(find_clip_shards(prepared["s1"])))
    other_id = next(iter(find_clip_shards(prepared["other"])))
    twin_id = next(iter(find_clip_shards(prepared["twin"])))
    split = split_clips([prepared["s1"]], [prepared["other"], prepared["twin"]])
    assert list(split.train) == [s1_id] and list(split.val) == [other_id]
    assert split.same_recordings == {twin_id: s1_id}
    assert set(split.fingerprints) == {s1_id, other_id, twin_id}
    with pytest.raises(DataSplitError, match="no validation clip.*training recordings.*bbaf2n"):
        split_clips([prepared["s1"]], [prepared["twin"]])
    # without the s1 clip in training, the copy is an ordinary validation clip
    people = [(other_id, "speaker-l"), (twin_id, "speaker-s1")]  # one folder, two people
    alone = split_clips([prepared["other"]], [prepared["twin"]], speaker_rules=people)
    assert list(alone.val) == [twin_id] and alone.same_recordings == {}


def test_excluded_training_clips_stay_out_of_both_sides(prepared) -> None:
    s1_id = next(iter(find_clip_shards(prepared["s1"])))
    asked = []
    kept = split_clips([prepared["s1"], prepared["other"]], [prepared["other"]],
                       exclude_train=lambda cid: asked.append(cid) or False)
    assert list(kept.train) == [s1_id] and asked == [s1_id]  # validation clips are never asked about
    with pytest.raises(DataSplitError, match="no training clip left"):
        split_clips([prepared["s1"]], [prepared["other"]], exclude_train=lambda cid: cid == s1_id)


def test_sentence_holdout_only_touches_aligned_clips(prepared) -> None:
    from vfhgan_core.data.words import SentenceSplit

    s1_id = next(iter(find_clip_shards(prepared["s1"])))          # GRID s1: has a word alignment
    other_id = next(iter(find_clip_shards(prepared["other"])))    # another GRID speaker: no alignment
    rule = SentenceSplit(heldout=(s1_id.rsplit("/", 1)[1], other_id.rsplit("/", 1)[1]))
    exclude = sentence_holdout([prepared["s1"], prepared["other"]], rule)
    # both names are on the held-out list, but only the aligned clip is a held-out *sentence*
    assert exclude(s1_id) and not exclude(other_id)


def test_manifest_lists_only_good_clips(prepared, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(prepared["s1"], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["clips"].append({"clip_id": "grid_s1/video/broken", "status": "skipped", "shard": ""})
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert len(find_clip_shards(copy)) == 1


def test_clips_are_loaded_into_shared_arrays(prepared, shard) -> None:
    paths = [*find_clip_shards(prepared["s1"]).values(), *find_clip_shards(prepared["other"]).values()]
    clips = load_window_clips(paths, threads=2)
    assert [c.clip_id for c in clips] == [load_shard(p).clip_id for p in paths]
    first = clips[0]
    assert np.array_equal(first.hr, shard.hr)
    assert np.array_equal(first.lr, degrade(shard.hr, 4, "bicubic_antialias"))
    assert np.array_equal(first.mel_windows, shard.mel_windows)
    assert np.array_equal(first.mouth_boxes, shard.mouth_boxes)
    # every clip is a view of one array per field
    assert first.hr.base is not None and first.hr.base is clips[1].hr.base
    serial = load_window_clips(paths, threads=1)
    assert all(np.array_equal(a.lr, b.lr) and np.array_equal(a.hr, b.hr) for a, b in zip(clips, serial))
    # a dataset made from the loaded clips equals one made from the paths
    a = FrameWindowDataset(clips[:1], seq_len=2, train=False)
    b = FrameWindowDataset(paths[:1], seq_len=2, train=False)
    assert torch.equal(a[1]["lr"], b[1]["lr"])
