"""Evaluation runs (``vfhgan_core.evaluation.runs`` and the ``evaluate`` command) on real GRID clips.

Three GRID s1 clips are prepared once for the module (two held-out sentences, one training
sentence); the generators are tiny untrained ones built from ``train/configs/smoke.json``
and saved as variant folders; word accuracy uses the shipped lip reader.
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vfhgan_core import cli
from vfhgan_core.data.shards import load_shard, read_shard_meta
from vfhgan_core.data.windows import find_clip_shards
from vfhgan_core.data.words import SentenceSplit, sentence_of
from vfhgan_core.errors import VFHGANError
from vfhgan_core.evaluation.results_tables import markdown_report
from vfhgan_core.evaluation.runs import (
    CLIP_METRICS,
    EvaluationConfig,
    EvaluationError,
    dataset_clips,
    evaluate,
    evaluate_clip,
)
from vfhgan_core.experiment import load_experiment
from vfhgan_core.faces.crops import degrade
from vfhgan_core.metrics import psnr_y
from vfhgan_core.metrics.spectral import high_frequency_scores
from vfhgan_core.models.generator import VFHGANGenerator

REPO = Path(__file__).resolve().parents[2]
LIP_READER = REPO / "assets" / "weights" / "lipreader"
HELDOUT = ("bbal6n", "bbaz4n")  # held out by the default SentenceSplit (checked in the fixture)
TRAINING = "bbaf2n"
VARIANTS = ("audio-ffl-lip", "noaudio-noffl-nolip")
SILENCE = {"sil", "sp"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def prepared(prepare_grid_s1) -> Path:
    """The three GRID s1 clips prepared by the real ``prepare`` (about 7 s)."""
    split = SentenceSplit()
    assert all(split.is_heldout(n) for n in HELDOUT) and not split.is_heldout(TRAINING)
    return prepare_grid_s1((*HELDOUT, TRAINING), "evaluate_prepared")


@pytest.fixture(scope="module")
def shard_paths(prepared: Path) -> dict[str, Path]:
    """``{sentence: shard path}`` of the prepared clips."""
    return {sentence_of(cid): path for cid, path in find_clip_shards(prepared).items()}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with two tiny (smoke-size) variants and a folder that is not a variant."""
    root = tmp_path_factory.mktemp("eval_weights")
    exp = load_experiment(REPO / "train" / "configs" / "smoke.json")
    torch.manual_seed(0)
    VFHGANGenerator(exp.generator).save_pretrained(root / "audio-ffl-lip")
    VFHGANGenerator(dataclasses.replace(exp.generator, use_audio=False)).save_pretrained(root / "noaudio-noffl-nolip")
    (root / "notes").mkdir()
    return root


@pytest.fixture(scope="module")
def report(prepared: Path, weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every variant and the lip reader on all three prepared clips."""
    config = EvaluationConfig(weights=str(weights), lip_reader=str(LIP_READER))
    return evaluate([prepared], config, cache_dir=tmp_path_factory.mktemp("eval_cache"))


def spoken_words(data_dir: Path, sentence: str) -> list[str]:
    """Non-silence words of a GRID s1 ``.align`` file, read here without the package's parser."""
    lines = (data_dir / "grid_s1" / "align" / f"{sentence}.align").read_text().split("\n")
    return [parts[2] for parts in (line.split() for line in lines) if len(parts) == 3 and parts[2] not in SILENCE]


# --------------------------------------------------------------------------- report


def test_report_schema_and_means(report: dict, prepared: Path) -> None:
    assert report["variants"] == list(VARIANTS)  # "all": the variant folders, not "notes"
    assert {"bicubic", *VARIANTS} <= set(report["methods"])
    assert len(report["clips"]) == 3
    assert {c["name"] for c in report["clips"]} == set(find_clip_shards(prepared))
    for method in ("bicubic", *VARIANTS):
        for metric in ("psnr_y", "ssim_y", "erqa", "word_acc"):
            assert metric in report["methods"][method], (method, metric)
    for clip in report["clips"]:
        assert clip["frames"] == load_shard(find_clip_shards(prepared)[clip["name"]]).num_frames
        for method in ("bicubic", *VARIANTS):
            scores = clip["methods"][method]
            assert set(CLIP_METRICS) <= set(scores)
            assert 15.0 < scores["psnr_y"] < 60.0 and 0.0 < scores["ssim_y"] <= 1.0 and 0.0 <= scores["erqa"] <= 1.0

    # means under "methods" and under the dataset: recomputed from the per-clip figures
    dataset = report["datasets"][prepared.name]
    assert dataset["clips"] == 3 and dataset["frames"] == sum(c["frames"] for c in report["clips"])
    for method, means in report["methods"].items():
        rows = [c for c in report["clips"] if method in c["methods"]]
        assert means["clips"] == len(rows)
        for metric in CLIP_METRICS:
            if metric in means:
                expected = np.mean([c["methods"][method][metric] for c in rows])
                assert means[metric] == pytest.approx(expected, rel=1e-12)
                assert dataset["methods"][method][metric] == pytest.approx(expected, rel=1e-12)
        correct = sum(c["methods"][method]["word_correct"] for c in rows)
        words = sum(c["words"] for c in rows)
        assert means["words"] == words and means["word_acc"] == pytest.approx(correct / words)

    # the report is JSON as written by the CLI
    again = json.loads(json.dumps(report))
    assert again["methods"]["bicubic"]["psnr_y"] == report["methods"]["bicubic"]["psnr_y"]
    assert again["config"]["variants"] == ["all"] and again["erqa_version"]


def test_parallel_scoring_gives_the_serial_report(prepared: Path, tmp_path: Path) -> None:
    # generators with random (non-zero) heads, so each variant's frames differ from bicubic
    exp = load_experiment(REPO / "train" / "configs" / "smoke.json")
    torch.manual_seed(1)
    for name, use_audio in (("audio-ffl-lip", True), ("noaudio-noffl-nolip", False)):
        gen = VFHGANGenerator(dataclasses.replace(exp.generator, use_audio=use_audio))
        with torch.no_grad():
            for param in gen.parameters():
                param.add_(0.02 * torch.randn_like(param))
        gen.save_pretrained(tmp_path / "weights" / name)
    config = EvaluationConfig(weights=str(tmp_path / "weights"), lip_reader=str(LIP_READER))
    lines: list[str] = []
    serial = evaluate([prepared], config, cache_dir=tmp_path)
    parallel = evaluate([prepared], config, cache_dir=tmp_path, workers=2, progress=lines.append)
    assert [c["name"] for c in parallel["clips"]] == [c["name"] for c in serial["clips"]]
    assert len(lines) == 3 and lines[0].endswith(f"1/3 {serial['clips'][0]['name']}")
    bicubic = serial["clips"][0]["methods"]["bicubic"]["psnr_y"]
    assert abs(serial["clips"][0]["methods"]["audio-ffl-lip"]["psnr_y"] - bicubic) > 0.01
    for a, b in zip(serial["clips"], parallel["clips"]):
        assert a["words"] == b["words"] and set(a["methods"]) == set(b["methods"])
        for method, scores in a["methods"].items():
            for metric, value in scores.items():
                assert b["methods"][method][metric] == pytest.approx(value, rel=1e-5, abs=1e-6), (method, metric)
    with pytest.raises(EvaluationError, match="workers must be at least 1"):
        evaluate([prepared], config, cache_dir=tmp_path, workers=0)


def test_word_counts_follow_the_align_files(report: dict, data_dir: Path) -> None:
    for clip in report["clips"]:
        assert clip["words"] == len(spoken_words(data_dir, sentence_of(clip["name"]))) > 0
        assert "ground_truth" in clip["methods"]
        for method, scores in clip["methods"].items():
            assert 0 <= scores["word_correct"] <= clip["words"]
            assert 0.0 <= scores["word_acc"] <= 1.0
            assert scores["word_acc"] == pytest.approx(scores["word_correct"] / clip["words"])
    assert set(report["methods"]["ground_truth"]) == {"word_acc", "words", "clips"}


def test_bicubic_matches_an_independent_computation(report: dict, shard_paths: dict[str, Path]) -> None:
    shard = load_shard(shard_paths[TRAINING])
    gt = shard.hr
    lr = torch.from_numpy(degrade(gt, scale=4, method="bicubic_antialias")).permute(0, 3, 1, 2).float() / 255.0
    up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    up = (up.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    (clip,) = [c for c in report["clips"] if c["name"] == shard.clip_id]
    bicubic = clip["methods"]["bicubic"]
    assert bicubic["psnr_y"] == pytest.approx(float(np.mean(psnr_y(up, gt, per_frame=True))), rel=1e-9)
    hf = high_frequency_scores(up, gt, (0.125, 0.5))
    assert bicubic["hf_error_db"] == pytest.approx(hf["hf_error_db"], rel=1e-9)
    assert bicubic["hf_energy_ratio"] == pytest.approx(hf["hf_energy_ratio"], rel=1e-9)


def test_no_lip_reader_means_no_word_figures(shard_paths: dict[str, Path]) -> None:
    shard = load_shard(shard_paths[HELDOUT[0]])
    shard = dataclasses.replace(shard, hr=shard.hr[:6], timestamps=shard.timestamps[:6],
                                mel_windows=shard.mel_windows[:6], mouth_boxes=shard.mouth_boxes[:6],
                                keypoints=shard.keypoints[:6], crop_matrices=shard.crop_matrices[:6],
                                detected=shard.detected[:6])
    row = evaluate_clip(shard, {}, EvaluationConfig(), reader=None)
    assert list(row["methods"]) == ["bicubic"] and row["words"] == 0 and row["frames"] == 6
    assert "word_acc" not in row["methods"]["bicubic"]


# --------------------------------------------------------------------------- held-out sentences


@pytest.fixture(scope="module")
def mixed(shard_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of shards: one held-out clip, one training clip, and the training clip
    again without its word alignment (id ``noalign/bbaf2n``)."""
    root = tmp_path_factory.mktemp("mixed")
    for sentence in (HELDOUT[0], TRAINING):
        shutil.copy(shard_paths[sentence], root / f"{sentence}.npz")
    shard = load_shard(shard_paths[TRAINING])
    meta = {k: v for k, v in shard.meta.items() if k != "words"}
    dataclasses.replace(shard, clip_id=f"noalign/{TRAINING}", meta=meta).save(root / "noalign.npz")
    return root


def test_heldout_keeps_heldout_and_unaligned_clips(mixed: Path, weights: Path, tmp_path: Path) -> None:
    config = EvaluationConfig(variants=("noaudio-noffl-nolip",), weights=str(weights),
                              lip_reader=str(LIP_READER), sentences="heldout")
    report = evaluate([mixed], config, cache_dir=tmp_path)
    clips = {c["name"]: c for c in report["clips"]}
    assert set(clips) == {f"video/{HELDOUT[0]}", f"noalign/{TRAINING}"}
    # word figures (and the ground truth) only where there is an alignment
    assert "ground_truth" in clips[f"video/{HELDOUT[0]}"]["methods"]
    assert "word_acc" in clips[f"video/{HELDOUT[0]}"]["methods"]["bicubic"]
    unaligned = clips[f"noalign/{TRAINING}"]
    assert unaligned["words"] == 0 and "ground_truth" not in unaligned["methods"]
    assert "word_acc" not in unaligned["methods"]["bicubic"]
    assert report["methods"]["ground_truth"]["clips"] == 1
    assert report["methods"]["bicubic"]["words"] == clips[f"video/{HELDOUT[0]}"]["words"]
    # "all" keeps the training sentence too
    everything = evaluate([mixed], dataclasses.replace(config, sentences="all", lip_reader=None, max_clips=3),
                          cache_dir=tmp_path)
    assert len(everything["clips"]) == 3


def test_heldout_with_only_training_sentences_is_an_error(shard_paths: dict[str, Path], weights: Path,
                                                           tmp_path: Path) -> None:
    config = EvaluationConfig(variants=("noaudio-noffl-nolip",), weights=str(weights), sentences="heldout")
    with pytest.raises(EvaluationError, match="no clip .* left to evaluate"):
        evaluate([shard_paths[TRAINING]], config, cache_dir=tmp_path)


def test_clips_a_variant_trained_on_are_left_out(prepared: Path, weights: Path, tmp_path: Path) -> None:
    ids = {sentence_of(cid): cid for cid in find_clip_shards(prepared)}
    root = tmp_path / "w"
    shutil.copytree(weights / "noaudio-noffl-nolip", root / "noaudio-noffl-nolip")
    (root / "noaudio-noffl-nolip" / "training.json").write_text(json.dumps({"train_clip_ids": [ids[TRAINING]]}))
    config = EvaluationConfig(variants=("noaudio-noffl-nolip",), weights=str(root))
    report = evaluate([prepared], config, cache_dir=tmp_path / "c")
    assert sorted(c["name"] for c in report["clips"]) == sorted(ids[s] for s in HELDOUT)
    assert report["excluded_training_clips"] == [ids[TRAINING]]
    assert ids[TRAINING] in markdown_report(report)
    # asked for, the training clip is scored too
    both = evaluate([prepared], replace(config, training_clips="include"), cache_dir=tmp_path / "c")
    assert len(both["clips"]) == 3 and both["excluded_training_clips"] == []
    # a source with nothing but training clips says why it is empty
    with pytest.raises(EvaluationError, match="trained on its other clips.*--training-clips include"):
        evaluate([find_clip_shards(prepared)[ids[TRAINING]]], config, cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="training_clips"):
        EvaluationConfig(training_clips="sometimes")


def test_a_training_clip_under_another_name_is_left_out(prepared: Path, weights: Path, data_dir: Path,
                                                        detector_model: Path, tmp_path: Path) -> None:
    """``grid_speakers/bbaf2n.mpg`` is the s1 training clip ``bbaf2n``: its speech fingerprint says so."""
    from vfhgan_core.data.fingerprints import shard_fingerprint
    from vfhgan_core.data.prepare import prepare_dataset
    from vfhgan_core.faces.clip import PipelineConfig
    from vfhgan_core.faces.detection import DetectorConfig

    pipeline = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
    others = tmp_path / "grid_speakers"
    prepare_dataset([data_dir / "grid_speakers" / f"{TRAINING}.mpg", data_dir / "grid_speakers" / "lbax4n.mpg"],
                    others, pipeline, workers=1, progress=False)
    twin_id, other_id = sorted(find_clip_shards(others), key=lambda cid: not cid.endswith(TRAINING))
    ids = {sentence_of(cid): cid for cid in find_clip_shards(prepared)}
    trained = ids[TRAINING]
    root = tmp_path / "w"
    shutil.copytree(weights / "noaudio-noffl-nolip", root / "noaudio-noffl-nolip")
    (root / "noaudio-noffl-nolip" / "training.json").write_text(json.dumps({
        "train_clip_ids": [trained],
        "train_clip_fingerprints": {trained: shard_fingerprint(find_clip_shards(prepared)[trained])},
    }))
    config = EvaluationConfig(variants=("noaudio-noffl-nolip",), weights=str(root), max_clips=None)
    report = evaluate([others, prepared], config, cache_dir=tmp_path / "c")
    assert sorted(c["name"] for c in report["clips"]) == sorted([other_id, *(ids[s] for s in HELDOUT)])
    assert sorted(report["excluded_training_clips"]) == sorted([twin_id, trained])
    assert report["same_recordings"] == {twin_id: trained}
    assert f"{twin_id} = {trained}" in markdown_report(report)
    # weights whose training.json has ids only (older runs) still leave out the id, not the twin
    (root / "noaudio-noffl-nolip" / "training.json").write_text(json.dumps({"train_clip_ids": [trained]}))
    older = evaluate([others], config, cache_dir=tmp_path / "c")
    assert sorted(c["name"] for c in older["clips"]) == sorted([twin_id, other_id]) and older["same_recordings"] == {}


def test_max_clips_and_two_sources_with_the_same_name(shard_paths: dict[str, Path], weights: Path,
                                                      tmp_path: Path) -> None:
    for k, sentence in enumerate(HELDOUT):
        (tmp_path / f"s{k}" / "data").mkdir(parents=True)
        shutil.copy(shard_paths[sentence], tmp_path / f"s{k}" / "data" / f"{sentence}.npz")
    shutil.copy(shard_paths[TRAINING], tmp_path / "s0" / "data" / f"{TRAINING}.npz")
    config = EvaluationConfig(variants=("noaudio-noffl-nolip",), weights=str(weights), max_clips=1)
    report = evaluate([tmp_path / "s0" / "data", tmp_path / "s1" / "data"], config, cache_dir=tmp_path / "c")
    assert len(report["datasets"]) == 2  # both kept, under distinct names
    assert [d["clips"] for d in report["datasets"].values()] == [1, 1]
    assert [c["name"] for c in report["clips"]] == [f"video/{TRAINING}", f"video/{HELDOUT[1]}"]  # first by id
    assert len({c["dataset"] for c in report["clips"]}) == 2


# --------------------------------------------------------------------------- spectral figures


def unsharp(frames: np.ndarray, amount: float = 1.5, sigma: float = 1.0) -> np.ndarray:
    out = []
    for f in frames:
        blur = cv2.GaussianBlur(f.astype(np.float32), (0, 0), sigma)
        out.append(np.clip(f + amount * (f - blur), 0, 255).round().astype(np.uint8))
    return np.stack(out)


def test_high_frequency_scores(shard_paths: dict[str, Path]) -> None:
    gt = load_shard(shard_paths[HELDOUT[1]]).hr[::10]
    band = (0.125, 0.5)
    same = high_frequency_scores(gt, gt, band)
    assert same["hf_error_db"] == pytest.approx(0.0, abs=1e-9)
    assert same["hf_energy_ratio"] == pytest.approx(1.0, rel=1e-9)

    lr = torch.from_numpy(degrade(gt)).permute(0, 3, 1, 2).float() / 255.0
    up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    up = (up.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    smooth = high_frequency_scores(up, gt, band)
    assert smooth["hf_energy_ratio"] < 1.0 and smooth["hf_error_db"] > 0.0

    sharp = high_frequency_scores(unsharp(gt), gt, band)
    assert sharp["hf_energy_ratio"] > 1.0 and sharp["hf_error_db"] > 0.0


# --------------------------------------------------------------------------- raw videos


@pytest.mark.slow
def test_raw_videos_are_prepared_once(data_dir: Path, detector_model: Path, weights: Path, tmp_path: Path) -> None:
    from vfhgan_core.data.prepare import prepare_dataset
    from vfhgan_core.faces.clip import PipelineConfig
    from vfhgan_core.faces.detection import DetectorConfig

    raw = tmp_path / "raw"
    (raw / "video").mkdir(parents=True)
    (raw / "align").mkdir()
    shutil.copy(data_dir / "grid_s1" / "video" / f"{TRAINING}.mp4", raw / "video")
    shutil.copy(data_dir / "grid_s1" / "align" / f"{TRAINING}.align", raw / "align")
    pipeline = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
    calls: list[tuple[Path, Path]] = []
    summaries = []

    def prepare(source: Path, out: Path) -> None:
        calls.append((source, out))
        summaries.append(prepare_dataset([source], out, pipeline, workers=1, progress=False))

    with pytest.raises(EvaluationError, match="prepare them first"):
        dataset_clips(raw, tmp_path / "cache")
    config = EvaluationConfig(variants=("noaudio-noffl-nolip",), weights=str(weights))
    first = evaluate([raw], config, cache_dir=tmp_path / "cache", prepare=prepare)
    assert len(calls) == 1 and calls[0][1].parent == tmp_path / "cache"
    shards = find_clip_shards(calls[0][1])
    assert list(shards) == [f"raw/video/{TRAINING}"]
    assert len(read_shard_meta(shards[f"raw/video/{TRAINING}"])["words"]) > 0  # the alignment came along

    second = evaluate([raw], config, cache_dir=tmp_path / "cache", prepare=prepare)
    assert calls[1] == calls[0]  # the same cache folder ...
    assert summaries[1].processed == 0 and summaries[1].reused == 1  # ... whose clip is reused, not redone
    assert [c["name"] for c in second["clips"]] == [c["name"] for c in first["clips"]]
    assert second["methods"]["bicubic"]["psnr_y"] == first["methods"]["bicubic"]["psnr_y"]
    assert second["clips"][0]["frames"] == first["clips"][0]["frames"] > 0

    # other pipeline settings are refused rather than mixed into the cached shards
    pipeline = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=640))
    with pytest.raises(VFHGANError, match="prepared with other settings"):
        evaluate([raw], config, cache_dir=tmp_path / "cache", prepare=prepare)


# --------------------------------------------------------------------------- errors


def test_input_errors(weights: Path, prepared: Path, tmp_path: Path) -> None:
    good = EvaluationConfig(variants=("noaudio-noffl-nolip",), weights=str(weights))
    with pytest.raises(EvaluationError, match="does not exist"):
        evaluate([tmp_path / "missing"], good, cache_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no videos here\n")
    with pytest.raises(EvaluationError, match="neither prepared shards nor videos"):
        evaluate([tmp_path / "empty"], good, cache_dir=tmp_path)
    (tmp_path / "no_variants").mkdir()
    with pytest.raises(EvaluationError, match="no trained variant"):
        evaluate([prepared], EvaluationConfig(weights=str(tmp_path / "no_variants")), cache_dir=tmp_path)
    with pytest.raises(EvaluationError, match="variant name"):
        evaluate([prepared], dataclasses.replace(good, variants=("audio-lip",)), cache_dir=tmp_path)
    with pytest.raises(EvaluationError, match="lip reader folder .* does not exist"):
        evaluate([prepared], dataclasses.replace(good, lip_reader=str(tmp_path / "reader")), cache_dir=tmp_path)
    (tmp_path / "reader").mkdir()
    with pytest.raises(EvaluationError, match="lacks config.json and model.safetensors"):
        evaluate([prepared], dataclasses.replace(good, lip_reader=str(tmp_path / "reader")), cache_dir=tmp_path)
    for bad in (dict(sentences="some"), dict(max_clips=0), dict(high_band=(0.3, 0.2))):
        with pytest.raises(ValueError):
            EvaluationConfig(**bad)


def cli_error(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """Run the evaluate command in-process; it must fail with status 2 and one line on stderr."""
    assert cli.main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_cli_errors(capsys: pytest.CaptureFixture, weights: Path, prepared: Path, tmp_path: Path) -> None:
    ok = ["--weights", str(weights), "--no-lip-reader", "--quiet", "--cache", str(tmp_path / "cache")]
    assert "does not exist" in cli_error(capsys, str(tmp_path / "missing"), *ok)
    (tmp_path / "empty").mkdir()
    assert "neither prepared shards nor videos" in cli_error(capsys, str(tmp_path / "empty"), *ok)
    (tmp_path / "no_variants").mkdir()
    assert "no trained variant" in cli_error(capsys, str(prepared), "--weights", str(tmp_path / "no_variants"),
                                             "--no-lip-reader", "--quiet")
    assert "variant name" in cli_error(capsys, str(prepared), *ok, "--variants", "audio-lip")
    # a well-formed name whose weights are not there
    assert "audio-ffl-nolip" in cli_error(capsys, str(prepared), *ok, "--variants", "audio-ffl-nolip")
    assert "lip reader folder" in cli_error(capsys, str(prepared), "--weights", str(weights), "--quiet",
                                            "--lip-reader", str(tmp_path / "no_reader"))
    assert "max_clips" in cli_error(capsys, str(prepared), *ok, "--max-clips", "0")


# --------------------------------------------------------------------------- command line


@pytest.mark.slow
def test_cli_writes_json_and_markdown(capsys: pytest.CaptureFixture, weights: Path, prepared: Path,
                                      tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "out" / "report.json", tmp_path / "out" / "tables.md"
    argv = ["evaluate", str(prepared), "--weights", str(weights), "--json", str(out_json), "--markdown", str(out_md),
            "--quiet", "--max-clips", "2", "--lip-reader", str(LIP_READER), "--cache", str(tmp_path / "cache")]
    assert cli.main(argv) == 0
    stdout = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    assert report["command"].startswith("python -m vfhgan_core evaluate")
    assert str(prepared) in report["command"]
    assert report["variants"] == list(VARIANTS) and len(report["clips"]) == 2
    assert report["config"]["max_clips"] == 2 and report["config"]["lip_reader"] == str(LIP_READER)
    for method in ("bicubic", *VARIANTS):
        assert f"PSNR-Y {report['methods'][method]['psnr_y']:.2f} dB" in stdout
    assert f"{len(report['clips'])} clips in" in stdout

    text = out_md.read_text()
    for table in (1, 2, 3):
        assert re.search(rf"^#+ Table {table}:", text, re.M), table
    rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")}
    assert {"bicubic", *VARIANTS, "ground_truth"} <= rows


def test_speech_ablation_changes_only_what_the_audio_variants_hear(shard_paths: dict[str, Path]) -> None:
    """``speech``: the shipped audio variant's restoration depends on what it hears; bicubic and the
    variant without audio do not."""
    from vfhgan_core.evaluation.runs import SPEECH_MODES, speech_windows_for
    from vfhgan_core.weights.hub import load_generator

    shard = load_shard(shard_paths[HELDOUT[0]])
    mel = np.asarray(shard.mel_windows, dtype=np.float32)
    assert torch.equal(speech_windows_for(mel, "matched"), torch.from_numpy(mel))
    assert torch.equal(speech_windows_for(mel, "reversed"), torch.from_numpy(mel[::-1].copy()))
    silent = speech_windows_for(mel, "silence")
    assert silent.shape == mel.shape and float(silent.max()) == float(silent.min()) == -4.0
    with pytest.raises(ValueError, match="speech must be one of matched, reversed, silence"):
        EvaluationConfig(speech="loud")

    generators = {v: load_generator(v) for v in ("audio-ffl-lip", "noaudio-ffl-lip")}   # the shipped weights
    rows = {mode: evaluate_clip(shard, generators, EvaluationConfig(speech=mode))["methods"] for mode in SPEECH_MODES}
    for mode in ("reversed", "silence"):
        assert rows[mode]["bicubic"] == rows["matched"]["bicubic"]
        assert rows[mode]["noaudio-ffl-lip"] == rows["matched"]["noaudio-ffl-lip"]
        assert rows[mode]["audio-ffl-lip"]["psnr_y"] != pytest.approx(rows["matched"]["audio-ffl-lip"]["psnr_y"],
                                                                      abs=1e-4)
    text = markdown_report({"config": dataclasses.asdict(EvaluationConfig(speech="silence")), "methods": {},
                            "variants": [], "datasets": {}, "clips": []})
    assert "heard **silence** speech" in text


def test_the_self_ensemble_scores_the_averaged_restoration_and_says_so(shard_paths: dict[str, Path]) -> None:
    """``self_ensemble``: every variant's frames are the mean of the plain and the mirrored pass; on an
    unseen sentence the shipped full model comes closer to the truth that way; bicubic is untouched."""
    from vfhgan_core.weights.hub import load_generator

    shard = load_shard(shard_paths[HELDOUT[0]])
    generators = {"audio-ffl-lip": load_generator("audio-ffl-lip")}
    plain = evaluate_clip(shard, generators, EvaluationConfig())["methods"]
    both = evaluate_clip(shard, generators, EvaluationConfig(self_ensemble=True))["methods"]
    assert both["bicubic"] == plain["bicubic"]
    assert both["audio-ffl-lip"]["psnr_y"] > plain["audio-ffl-lip"]["psnr_y"] + 0.05
    text = markdown_report({"config": dataclasses.asdict(EvaluationConfig(self_ensemble=True)), "methods": {},
                            "variants": [], "datasets": {}, "clips": []})
    assert "Flip self-ensemble" in text and "--self-ensemble" in text


def test_blind_degradation_is_fixed_per_clip_and_reported(shard_paths: dict[str, Path], weights: Path) -> None:
    from vfhgan_core.data.degradations import DegradationConfig
    from vfhgan_core.weights.hub import load_generator

    shard = load_shard(shard_paths[HELDOUT[0]])
    generators = {"noaudio-noffl-nolip": load_generator("noaudio-noffl-nolip", weights)}
    blind = EvaluationConfig(blind_degradation=DegradationConfig(gaussian_noise_prob=1.0, gaussian_sigma=(8, 8)))
    a, b = evaluate_clip(shard, generators, blind), evaluate_clip(shard, generators, blind)
    assert a["methods"] == b["methods"] and a["degradation"] == b["degradation"]     # a fixed draw per clip
    assert a["degradation"]["gaussian_sigma"] == 8.0
    clean = evaluate_clip(shard, generators, EvaluationConfig())
    assert "degradation" not in clean
    assert a["methods"]["bicubic"]["psnr_y"] < clean["methods"]["bicubic"]["psnr_y"] - 1.0
    other = evaluate_clip(shard, generators, replace(blind, degradation_seed=1))
    assert other["methods"]["bicubic"]["psnr_y"] != a["methods"]["bicubic"]["psnr_y"]   # the seed draws anew
    text = markdown_report({"config": dataclasses.asdict(blind), "methods": {}, "variants": [], "datasets": {},
                            "clips": []})
    assert "**Blind degradations**" in text
