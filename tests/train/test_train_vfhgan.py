"""End to end: train/train_vfhgan.py on real prepared GRID clips, on the CPU, through subprocesses.

Prepares three GRID s1 clips and two clips of other GRID speakers, pretrains a tiny
generator with the pixel loss, fine-tunes it with every loss term (a random tiny lip
reader stands in for the trained one), kills a second fine-tune after its first
checkpoint and resumes it, and checks logs, checkpoint rotation, exact resumption and
the exported weights.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vfhgan_core.data.prepare import prepare_dataset
from vfhgan_core.experiment import load_experiment
from vfhgan_core.faces.clip import PipelineConfig
from vfhgan_core.faces.detection import DetectorConfig
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.models.lipreading import LipReader, LipReaderConfig
from vfhgan_core.weights.hub import load_generator

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "train" / "train_vfhgan.py"
EXPORT = REPO / "train" / "export_weights.py"
SMOKE = REPO / "train" / "configs" / "smoke.json"
STEPS = json.loads(SMOKE.read_text())["optim"]["max_steps"]


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _weights(folder: Path, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
    return load_file(str(folder / name))


@pytest.fixture(scope="module")
def setup(tmp_path_factory, data_dir: Path, detector_model: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train_vfhgan")
    clips = [data_dir / "grid_s1" / "video" / f"{c}.mp4" for c in ("bbaf2n", "bbaf3s", "bbaf4p")]
    # grid_speakers/bbaf2n is s1's bbaf2n under another name: the split must keep it out of validation
    clips += [data_dir / "grid_speakers" / f"{c}.mpg" for c in ("lbax4n", "sbia1a", "bbaf2n")]
    config = PipelineConfig(detector=DetectorConfig(model_path=str(detector_model), det_size=320))
    summary = prepare_dataset(clips, root / "data", config, workers=2, progress=False)
    assert len(summary.ok) == 6, [r.message for r in summary.skipped]

    torch.manual_seed(0)
    LipReader(LipReaderConfig(relu_type="relu", trunk_channels=(4, 4, 8, 8), trunk_blocks=(1, 1, 1, 1),
                              tcn_num_layers=1, tcn_hidden_dim=4, num_classes=5)).save_pretrained(root / "lipreader")

    smoke = json.loads(SMOKE.read_text())
    # one prepared folder; the other speakers' clips are held out by speaker
    smoke["data"].update(train=[str(root / "data")], val=[], val_speakers=["grid_speakers"])
    smoke["lip_reader"] = str(root / "lipreader")
    pretrain = json.loads(json.dumps(smoke))
    pretrain["variant"] = "pretrain-smoke"
    pretrain["losses"].update(perceptual=0.0, lip_reading=0.0, frequency=0.0, adversarial=0.0)
    pretrain["optim"].update(max_steps=2, pixel_warmup_steps=0, val_interval=0)
    (root / "pretrain.json").write_text(json.dumps(pretrain))
    smoke["init_from"] = str(root / "runs" / "pretrain")
    (root / "smoke.json").write_text(json.dumps(smoke))
    return {"root": root, "pretrain": root / "pretrain.json", "config": root / "smoke.json",
            "runs": root / "runs"}


@pytest.fixture(scope="module")
def pretrained(setup) -> Path:
    out = setup["runs"] / "pretrain"
    proc = _ok(_run(SCRIPT, "--config", setup["pretrain"], "--output-dir", out))
    assert "discriminator: none" in proc.stderr
    return out


@pytest.fixture(scope="module")
def uninterrupted(setup, pretrained) -> tuple[Path, subprocess.CompletedProcess]:
    out = setup["runs"] / "full"
    proc = _ok(_run(SCRIPT, "--config", setup["config"], "--output-dir", out,
                    "--export", setup["root"] / "weights"))
    return out, proc


def test_pretrain_gives_the_finetune_its_start(setup, pretrained, uninterrupted) -> None:
    out, proc = uninterrupted
    assert f"generator initialised from {pretrained / 'final'}" in proc.stderr
    pre = VFHGANGenerator.from_pretrained(pretrained / "final")
    assert pre.config == load_experiment(setup["config"]).generator
    # the pixel pretrain moved the (zero-initialised) RGB heads: the model is no longer bicubic
    assert sum(float(p.detach().abs().sum()) for p in pre.head_x4.parameters()) > 0


def test_logs_every_loss_term_metrics_and_samples(uninterrupted) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, proc = uninterrupted
    events = list((out / "logs").rglob("events.out.tfevents.*"))
    assert events
    scalars, images, val_steps = set(), set(), []
    for path in events:
        acc = EventAccumulator(str(path), size_guidance={"images": 0, "scalars": 0})
        acc.Reload()
        scalars |= set(acc.Tags()["scalars"])
        images |= set(acc.Tags()["images"])
        if "val/psnr_y" in acc.Tags()["scalars"]:
            val_steps += [e.step for e in acc.Scalars("val/psnr_y")]
    for tag in ("g/pixel_128", "g/pixel_64", "g/frequency", "g/perceptual", "g/adversarial", "g/lip_reading",
                "g/total", "d/adversarial", "d/total", "lr/g", "lr/d", "grad_norm/g", "grad_norm/d",
                "val/psnr_y", "val/ssim_y", "val/erqa", "val/mouth_psnr_y", "val/flicker",
                "val/bicubic/psnr_y", "time/frames_per_s", "val/spectrum/above_nyquist_db",
                "val/spectrum/band_0.4375-0.5000_db"):
        assert tag in scalars, f"{tag} not logged; logged: {sorted(scalars)}"
    assert any(tag.startswith("val/samples") for tag in images)
    # validation ran at step 0, every val_interval steps and at the end
    interval = json.loads(SMOKE.read_text())["optim"]["val_interval"]
    assert sorted(val_steps) == sorted({0, *range(interval, STEPS, interval), STEPS})
    assert sum(tag.startswith("val/spectrum/band_") for tag in scalars) == 8


def test_checkpoints_rotate_and_hold_everything(uninterrupted) -> None:
    out, _ = uninterrupted
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == [f"checkpoint-{STEPS - 2:07d}", f"checkpoint-{STEPS:07d}"]      # limit 2, oldest removed
    last = out / "checkpoints" / names[-1]
    state = json.loads((last / "trainer_state.json").read_text())
    assert state["step"] == STEPS and state["metrics"]["psnr_y"] > 20
    assert {"model.safetensors", "model_1.safetensors", "optimizer.bin", "optimizer_1.bin",
            "experiment.json"} <= {p.name for p in last.iterdir()}
    ema = VFHGANGenerator.from_pretrained(last / "ema_generator")
    final = VFHGANGenerator.from_pretrained(out / "final")
    for a, b in zip(ema.state_dict().values(), final.state_dict().values()):
        assert torch.equal(a, b)


def test_export_loads_through_the_hub_resolver(setup, uninterrupted) -> None:
    out, _ = uninterrupted
    weights = setup["root"] / "weights"
    generator = load_generator("audio-ffl-lip", source=weights)
    final = VFHGANGenerator.from_pretrained(out / "final")
    for a, b in zip(generator.state_dict().values(), final.state_dict().values()):
        assert torch.equal(a, b)
    card = (weights / "audio-ffl-lip" / "README.md").read_text()
    assert "library_name: vfhgan" in card and "feature matching" in card and "| PSNR-Y (dB) ↑ |" in card
    metrics = json.loads((weights / "audio-ffl-lip" / "metrics.json").read_text())
    assert metrics["psnr_y"] > 20 and "bicubic/psnr_y" in metrics
    facts = json.loads((weights / "audio-ffl-lip" / "training.json").read_text())
    assert facts["val_clips"] == 2 and len(facts["train_clip_ids"]) == 3
    assert set(facts["train_clip_fingerprints"]) == set(facts["train_clip_ids"])
    assert all(len(fp) == 16 for fp in facts["train_clip_fingerprints"].values())
    twin, = facts["val_same_recordings"]
    assert twin.endswith("grid_speakers/bbaf2n") and facts["val_same_recordings"][twin].endswith("video/bbaf2n")
    assert "Left out of validation" in card and "bbaf2n" in card
    assert "left out of validation, being training clips under another name" in uninterrupted[1].stderr
    lr = torch.rand(2, 5, 3, 32, 32)
    with torch.no_grad():
        sr = generator(lr, torch.zeros(2, 1, 80, 16)).sr
    assert sr.shape == (2, 3, 128, 128) and 0 <= float(sr.min()) and float(sr.max()) <= 1

    # the export script writes the same folder from a checkpoint; preparatory runs are refused
    again = setup["root"] / "weights2"
    _ok(_run(EXPORT, out / "checkpoints" / f"checkpoint-{STEPS:07d}", "--out", again))
    reloaded = load_generator("audio-ffl-lip", source=again)
    for a, b in zip(reloaded.state_dict().values(), generator.state_dict().values()):
        assert torch.equal(a, b)
    # the per-band spectral error of every validation travels with the weights
    from vfhgan_core.evaluation.spectral_curves import load_spectral_curves

    interval = json.loads(SMOKE.read_text())["optim"]["val_interval"]
    for root in (weights, again):
        curves = load_spectral_curves("audio-ffl-lip", root)
        assert curves is not None and curves.steps == sorted({0, *range(interval, STEPS, interval), STEPS})
        assert len(curves.band_error_db) == len(curves.steps) and all(len(r) == 8 for r in curves.band_error_db)
        # the generator starts near bicubic and never leaves the bands above Nyquist worse than missing
        assert curves.bicubic_above_nyquist_db() < 0 and all(v < 3 for v in curves.above_nyquist_db())
    refused = _run(EXPORT, setup["runs"] / "pretrain", "--out", again)
    assert refused.returncode == 2 and "not a variant name" in refused.stderr


def test_a_second_round_carries_the_history_and_the_total_time(setup, uninterrupted, tmp_path: Path) -> None:
    """Training across sessions: a round starts from exported weights; the new folder lists every
    run behind it (pretrain, first fine-tune, this round) and their summed steps and time."""
    first = setup["root"] / "weights" / "audio-ffl-lip"
    facts = json.loads((first / "training.json").read_text())
    assert [r["variant"] for r in facts["rounds"]] == ["pretrain-smoke"]       # the pretrain it started from
    # the round changes loss weights on the command line (--set), as a PSNR tail or a sweep does; here
    # it also turns on the mirror distillation, whose teacher is the run's EMA
    _ok(_run(SCRIPT, "--config", setup["config"], "--output-dir", tmp_path / "run", "--init-from", first,
             "--max-steps", "2", "--export", tmp_path / "weights",
             "--set", "losses.radial_spectrum=1e-3", "losses.mirror_distillation=1"))
    assert load_experiment(tmp_path / "run" / "experiment.json").losses.radial_spectrum == 1e-3
    out = tmp_path / "weights" / "audio-ffl-lip"
    again = json.loads((out / "training.json").read_text())
    assert "--set losses.radial_spectrum=1e-3" in again["command"]
    assert [r["variant"] for r in again["rounds"]] == ["pretrain-smoke", "audio-ffl-lip"]
    assert again["rounds"][1]["steps"] == facts["steps"] and again["rounds"][1]["losses"]["radial_spectrum"] == 0
    assert again["losses"]["radial_spectrum"] == 1e-3
    total = again["total"]
    assert total["rounds"] == 3 and total["steps"] == 2 + facts["steps"] + 2
    assert total["wall_time_s"] == pytest.approx(sum(r["wall_time_s"] for r in again["rounds"]) + again["wall_time_s"])
    assert list(total["wall_time_s_by_device"]) == ["CPU"]
    card = (out / "README.md").read_text()
    assert "| round | variant | device | steps | minutes | loss weights |" in card
    assert "| 1 | `pretrain-smoke` |" in card and "| 2 | `audio-ffl-lip` |" in card
    assert "radial_spectrum 0.001" in card and f"In all: {total['steps']} steps" in card
    rows = {line.split("|")[1].strip(): line for line in card.splitlines() if line.startswith("| ")}
    assert "mirror_distillation 1" in rows["3"] and "mirror_distillation" not in rows["2"]   # this round only


def test_a_misspelt_setting_is_named_before_anything_runs(setup, tmp_path: Path) -> None:
    proc = _run(SCRIPT, "--config", setup["config"], "--output-dir", tmp_path / "run",
                "--set", "losses.adversrial=0")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "losses has no field 'adversrial'" in proc.stderr and "adversarial" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_an_audio_run_grafts_onto_a_no_audio_twin(setup, pretrained, tmp_path: Path) -> None:
    """``--init-from`` a no-audio generator that differs only in ``use_audio``: the trunk is copied,
    the audio branch starts fresh, and the run trains and exports an audio variant."""
    from dataclasses import replace

    audio = VFHGANGenerator.from_pretrained(pretrained / "final")
    twin = VFHGANGenerator(replace(audio.config, use_audio=False))
    twin.load_state_dict({k: v for k, v in audio.state_dict().items() if not k.startswith("cross_modal.")})
    twin.save_pretrained(tmp_path / "noaudio")
    (tmp_path / "noaudio" / "training.json").write_text(json.dumps(
        {"variant": "noaudio-ffl-lip", "device": "CPU (x86_64, 2 cores)", "steps": 2, "wall_time_s": 1.0}))
    proc = _ok(_run(SCRIPT, "--config", setup["config"], "--output-dir", tmp_path / "run",
                    "--init-from", tmp_path / "noaudio", "--max-steps", "2", "--export", tmp_path / "weights"))
    assert "audio graft: every weight but the cross-modal branch" in proc.stderr
    out = load_generator("audio-ffl-lip", source=tmp_path / "weights")
    assert out.config.use_audio and out.cross_modal is not None
    # the card shows the lineage: the twin's round, then this one, and says what that means
    card = (tmp_path / "weights" / "audio-ffl-lip" / "README.md").read_text()
    assert "| 1 | `noaudio-ffl-lip` |" in card and "| 2 | `audio-ffl-lip` |" in card
    assert "started from the weights of its no-audio twin" in card
    # the other way round (an audio generator into a no-audio run) is refused, naming the cause
    cfg = json.loads(setup["config"].read_text())
    cfg["variant"] = "noaudio-ffl-lip"
    cfg["generator"]["use_audio"] = False
    (tmp_path / "noaudio.json").write_text(json.dumps(cfg))
    refused = _run(SCRIPT, "--config", tmp_path / "noaudio.json", "--output-dir", tmp_path / "run2",
                   "--init-from", pretrained / "final", "--max-steps", "2")
    assert refused.returncode != 0 and "another architecture" in refused.stderr


def test_killed_run_resumes_to_the_same_weights(setup, uninterrupted) -> None:
    full, _ = uninterrupted
    out = setup["runs"] / "killed"
    first = out / "checkpoints" / f"checkpoint-{2:07d}"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--config", str(setup["config"]), "--output-dir", str(out)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "final").exists()

    # without --resume an existing run is not overwritten
    refused = _run(SCRIPT, "--config", setup["config"], "--output-dir", out)
    assert refused.returncode == 2 and "--resume latest" in refused.stderr
    # resuming with another config is refused
    other = json.loads(setup["config"].read_text())
    other["optim"]["lr_g"] = 0.5
    (setup["root"] / "other.json").write_text(json.dumps(other))
    refused = _run(SCRIPT, "--config", setup["root"] / "other.json", "--output-dir", out, "--resume", "latest")
    assert refused.returncode == 2 and "config differs" in refused.stderr

    latest = sorted((out / "checkpoints").glob("checkpoint-*"))[-1]
    before = json.loads((latest / "trainer_state.json").read_text())["extra"]
    assert before["wall_time_s"] > 0 and before["steps"] == int(latest.name.split("-")[1])
    resumed = _ok(_run(SCRIPT, "--config", setup["config"], "--output-dir", out, "--resume", "latest"))
    assert "resumed from" in resumed.stderr
    # the record keeps the starting command, sums both parts' time and says where the run resumed
    facts = json.loads((out / "final" / "training.json").read_text())
    assert facts["resumed_at"] == [before["steps"]] and "--resume" not in facts["command"]
    assert facts["wall_time_s"] > before["wall_time_s"] and facts["steps"] == STEPS
    assert f"continued with `--resume latest` at step {before['steps']}" in (out / "final" / "README.md").read_text()
    assert not list((out / "checkpoints").glob(".tmp-*"))
    last = f"checkpoint-{STEPS:07d}"
    for name in ("model.safetensors", "model_1.safetensors"):        # generator and discriminator
        a, b = _weights(full / "checkpoints" / last, name), _weights(out / "checkpoints" / last, name)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.allclose(a[key], b[key], rtol=0, atol=1e-6), (name, key, (a[key] - b[key]).abs().max())
    # the spectral curves continue across the kill: the same steps as the uninterrupted run
    from vfhgan_core.evaluation.spectral_curves import SpectralCurves

    curves_full, curves_resumed = SpectralCurves.load(full / "final"), SpectralCurves.load(out / "final")
    assert curves_resumed.steps == curves_full.steps
    for row_a, row_b in zip(curves_full.band_error_db, curves_resumed.band_error_db):
        assert row_a == pytest.approx(row_b, abs=1e-3)
    a, b = _weights(full / "final"), _weights(out / "final")
    exact = all(torch.equal(a[k], b[k]) for k in a)
    assert exact or all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)


def test_lip_loss_without_a_trained_lip_reader_fails_clearly(setup, tmp_path: Path) -> None:
    config = json.loads(setup["config"].read_text())
    config["lip_reader"] = str(tmp_path / "no_lipreader_here")
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    proc = _run(SCRIPT, "--config", path, "--output-dir", tmp_path / "run", timeout=120)
    assert proc.returncode == 2
    assert "lip reader" in proc.stderr and "train_lipreader.py" in proc.stderr and "nolip" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bf16_mixed_precision_trains_and_exports_float32(setup, pretrained, tmp_path: Path) -> None:
    """bf16 autocast also runs on the CPU: the losses get float32 and the weights stay float32."""
    out = tmp_path / "bf16"
    proc = _ok(_run(SCRIPT, "--config", setup["config"], "--output-dir", out, "--mixed-precision", "bf16",
                    "--max-steps", "2"))
    assert "mixed precision bf16" in proc.stderr
    weights = _weights(out / "final")
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in weights.values())
    metrics = json.loads((out / "final" / "metrics.json").read_text())
    assert metrics["psnr_y"] > 20


def test_trains_without_tensorboard_and_says_what_is_missing(setup, pretrained, tmp_path: Path) -> None:
    """TensorBoard is the ``train`` extra, not a core dependency: without it a run (validation and its
    image grid included) trains, validates and exports as usual, and warns once how to get the curves."""
    out = tmp_path / "no_tb"
    hide = ("import runpy, sys; sys.modules['tensorboard'] = None; "   # find_spec('tensorboard') is None
            f"sys.argv = [{str(SCRIPT)!r}] + sys.argv[1:]; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    proc = _ok(_run("-c", hide, "--config", setup["config"], "--output-dir", out, "--max-steps", "2"))
    assert "tensorboard is not installed" in proc.stderr and "[train]" in proc.stderr
    assert "step 0 validation" in proc.stderr          # the validation that also draws the image grid
    assert not (out / "logs").exists() or not list((out / "logs").rglob("events.out.tfevents.*"))
    assert json.loads((out / "final" / "metrics.json").read_text())["psnr_y"] > 20


def test_blind_degradation_trains_validates_on_it_and_says_so(setup, pretrained, tmp_path: Path) -> None:
    """A run with ``data.blind_degradation`` trains and validates on degraded inputs and its card names them."""
    config = json.loads(setup["config"].read_text())
    config["data"]["blind_degradation"] = {"gaussian_noise_prob": 1.0, "gaussian_sigma": [6, 10], "h264_prob": 1.0,
                                           "jpeg_prob": 0.0}
    config["variant"] = "audio-ffl-lip-real"
    path = tmp_path / "blind.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "blind"
    _ok(_run(SCRIPT, "--config", path, "--output-dir", out, "--max-steps", "2"))
    clean = json.loads((setup["runs"] / "full" / "final" / "metrics.json").read_text())
    blind = json.loads((out / "final" / "metrics.json").read_text())
    # bicubic of noisy, compressed inputs scores below bicubic of clean ones on the same validation frames
    assert blind["bicubic/psnr_y"] < clean["bicubic/psnr_y"] - 1.0
    card = (out / "final" / "README.md").read_text()
    assert "blind real-video chain ×4" in card and "Gaussian noise p = 1 (σ 6–10)" in card
    # named for what it trained on, and refused under a clean variant's name
    config["variant"] = "audio-ffl-lip"
    path.write_text(json.dumps(config))
    refused = _run(SCRIPT, "--config", path, "--output-dir", tmp_path / "misnamed", "--max-steps", "2")
    assert refused.returncode != 0 and "audio-ffl-lip-real" in refused.stderr


def test_a_time_budget_sets_max_steps_from_the_measured_rate(setup, pretrained, tmp_path: Path) -> None:
    """--time-budget: the step count is measured on the first steps, written into the run's config
    and its training record, and the run stops there, well short of the config's upper bound."""
    out = tmp_path / "budget"
    proc = _ok(_run(SCRIPT, "--config", setup["config"], "--output-dir", out, "--max-steps", "100000",
                    "--time-budget", "25", "--budget-window", "2", "4"))
    assert "time budget" in proc.stderr
    chosen = load_experiment(out / "experiment.json").optim.max_steps
    record = json.loads((out / "final" / "training.json").read_text())
    assert 6 < chosen < 100000
    assert record["steps"] == chosen == record["time_budget"]["max_steps"]
    assert record["time_budget"]["s_per_step_measured"] > 0
    # a budget that has already passed is refused with a readable message
    late = _run(SCRIPT, "--config", setup["config"], "--output-dir", tmp_path / "late", "--time-budget", "@1000")
    assert late.returncode != 0 and "that time has passed" in late.stderr
