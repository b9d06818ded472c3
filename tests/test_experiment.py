"""Experiment configs (vfhgan_core.experiment), the shipped train/configs, and model cards."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.experiment import DataConfig, ExperimentConfig, OptimConfig, load_experiment, save_experiment
from vfhgan_core.losses.total import LossConfig
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.weights.folder_format import write_weights_folder
from vfhgan_core.weights.hub import load_generator, parse_variant, variant_name
from vfhgan_core.weights.licences import dataset_licences
from vfhgan_core.weights.model_card import write_model_card
from vfhgan_core.weights.run_record import RunRecord

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "train" / "configs"
VARIANTS = sorted({variant_name(a, f, l) for a in (True, False) for f in (True, False) for l in (True, False)}
                  | {variant_name(True, True, True, attention=False)})


def _experiment(**changes) -> ExperimentConfig:
    base = dict(variant="audio-ffl-lip", losses=LossConfig(), data=DataConfig(train=("train",), val=("val",)),
                optim=OptimConfig())
    base.update(changes)
    return ExperimentConfig(**base)


def test_round_trip_through_json(tmp_path: Path) -> None:
    exp = _experiment(
        description="round trip",
        generator=GeneratorConfig(widths=(16, 8, 0), depths=(1, 0, 0)),
        data=DataConfig(train=("a", "b"), val=("c",), speaker_rules=(("a/x", "spk1"),), seq_len=3),
        optim=OptimConfig(betas=(0.5, 0.9), max_steps=7),
        init_from="runs/pretrain-audio/final",
    )
    path = save_experiment(exp, tmp_path / "exp.json")
    back = load_experiment(path)
    assert back == exp
    assert from_dict(ExperimentConfig, json.loads(json.dumps(to_dict(exp)))) == exp
    assert back.data.speaker_rules == (("a/x", "spk1"),)
    assert back.generator.widths == (16, 8, 0)
    # the blind degradation chain travels with the experiment, and an old file without it reads as None
    from vfhgan_core.data.degradations import DegradationConfig

    blind = replace(exp, variant="audio-ffl-lip-real",
                    data=replace(exp.data, blind_degradation=DegradationConfig(h264_kbps=(10, 20))))
    again = load_experiment(save_experiment(blind, tmp_path / "blind.json"))
    assert again == blind and again.data.blind_degradation.h264_kbps == (10.0, 20.0)
    assert back.data.blind_degradation is None
    with pytest.raises(ValueError, match="blind_degradation.scale"):
        replace(exp.data, blind_degradation=DegradationConfig(scale=2))
    # a variant trained on the chain is named for it: 'audio-ffl-lip' with blind inputs is refused
    with pytest.raises(ValueError, match="audio-ffl-lip-real"):
        replace(exp, data=replace(exp.data, blind_degradation=DegradationConfig()))


def test_variant_name_must_match_switches() -> None:
    assert _experiment().expected_variant == "audio-ffl-lip"
    with pytest.raises(ValueError, match="noaudio-ffl-lip"):
        _experiment(generator=GeneratorConfig(use_audio=False))
    with pytest.raises(ValueError, match="audio-noffl-lip"):
        _experiment(losses=LossConfig(frequency=0.0))
    with pytest.raises(ValueError, match="audio-ffl-lip-noattn"):
        _experiment(generator=GeneratorConfig(use_attention=False))
    # a preparatory run may carry any other name
    pre = _experiment(variant="pretrain-audio", losses=LossConfig(lip_reading=0.0))
    assert not pre.is_variant and pre.expected_variant == "audio-ffl-nolip"


def test_inconsistent_sections_are_reported_together() -> None:
    with pytest.raises(ValueError) as info:
        _experiment(data=DataConfig(train=("t",), val=("v",), num_frames=3), optim=OptimConfig(max_steps=5, pixel_warmup_steps=10))
    assert "num_frames" in str(info.value) and "pixel_warmup_steps" in str(info.value)
    with pytest.raises(ValueError, match="single string"):
        DataConfig(train="../prepared/grid_s1")
    with pytest.raises(ValueError, match="no validation data"):
        DataConfig(train=("t",))
    with pytest.raises(ValueError, match="names no source"):
        DataConfig(train=(), val=("v",))
    with pytest.raises(TypeError, match="train"):   # no default: where prepared clips live is the user's choice
        DataConfig()
    with pytest.raises(ValueError, match="mixed_precision"):
        OptimConfig(mixed_precision="fp8")
    with pytest.raises(ValueError) as info:
        DataConfig(train=("t",), val=("v",), color_jitter=-0.1, speaker_sampling_power=1.5)
    assert "color_jitter" in str(info.value) and "speaker_sampling_power" in str(info.value)


def test_unknown_keys_in_a_config_file_are_named(tmp_path: Path) -> None:
    data = to_dict(_experiment())
    data["optim"]["learning_rate"] = 1e-3
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="learning_rate"):
        load_experiment(path)
    with pytest.raises(FileNotFoundError, match="train/configs"):
        load_experiment(tmp_path / "missing.json")


def test_fingerprint_allows_longer_runs_only() -> None:
    exp = _experiment()
    longer = exp.with_overrides(optim={"max_steps": exp.optim.max_steps * 2})
    assert longer.optim.max_steps == exp.optim.max_steps * 2
    assert longer.fingerprint() == exp.fingerprint()
    assert exp.with_overrides(optim={"lr_g": 1e-5}).fingerprint() != exp.fingerprint()
    assert exp.with_overrides(init_from="x").init_from == "x"


def test_settings_by_dotted_path_are_typed_validated_and_named_when_wrong() -> None:
    exp = _experiment()
    changed = exp.with_settings({"losses.adversarial": 0, "losses.frequency_loss.alpha": 2,
                                 "data.train": ["a", "b"], "optim.lr_schedule": "constant"})
    assert changed.losses.adversarial == 0.0 and isinstance(changed.losses.adversarial, float)
    assert changed.losses.frequency_loss.alpha == 2.0
    assert changed.data.train == ("a", "b")
    assert changed.optim.lr_schedule == "constant"
    assert changed.losses.perceptual == exp.losses.perceptual and exp.losses.adversarial != 0.0
    with pytest.raises(ValueError, match="losses has no field 'adversrial'.*adversarial"):
        exp.with_settings({"losses.adversrial": 0})
    with pytest.raises(ValueError, match="no section 'loss'.*losses"):
        exp.with_settings({"loss.adversarial": 0})
    with pytest.raises(ValueError, match="losses.frequency_loss.alpha is a value"):
        exp.with_settings({"losses.frequency_loss.alpha.x": 0})
    with pytest.raises(ValueError, match="lip_reader"):  # the copy is validated like a loaded config
        _experiment(lip_reader="reader").with_settings({"lip_reader": None})
    with pytest.raises(ValueError, match="mirror_distillation > 0 needs optim.ema_decay"):   # its teacher
        exp.with_settings({"losses.mirror_distillation": 1, "optim.ema_decay": 0})


# --------------------------------------------------------------------------- the shipped configs


def _configs() -> dict[str, ExperimentConfig]:
    return {p.stem: load_experiment(p) for p in sorted(CONFIGS.glob("*.json")) if p.stem != "lipreader_grid"}


def test_every_variant_has_a_consistent_config() -> None:
    configs = _configs()
    for name in VARIANTS:
        assert name in configs, f"train/configs/{name}.json is missing"
        exp = configs[name]
        assert exp.variant == name and exp.is_variant
        switches = parse_variant(name)
        assert exp.switches == switches
    assert "smoke" in configs


def test_variants_get_the_same_budget_and_data() -> None:
    """A fair ablation: every variant sees the same samples for the same steps; only switches differ."""
    configs = _configs()
    ref = configs["audio-ffl-lip"]
    for name in VARIANTS:
        exp = configs[name]
        assert exp.optim == ref.optim, name
        assert exp.data == ref.data, name
        assert exp.discriminator == ref.discriminator, name
        # the loss weights differ only in the switched terms
        assert exp.losses.perceptual == ref.losses.perceptual and exp.losses.adversarial == ref.losses.adversarial
        assert exp.losses.pixel_128 == ref.losses.pixel_128 and exp.losses.pixel_64 == ref.losses.pixel_64
        assert exp.losses.frequency in (0.0, ref.losses.frequency)
        assert exp.losses.lip_reading in (0.0, ref.losses.lip_reading)
        # each starts from the pixel pretrain of its own architecture, trained for the same budget
        arch = "pretrain-" + ("audio" if exp.generator.use_audio else "noaudio") + \
            ("" if exp.generator.use_attention or not exp.generator.use_audio else "-noattn")
        assert exp.init_from == f"runs/{arch}/final", name
        pre = configs[arch]
        assert pre.generator == exp.generator
        assert pre.optim.max_steps == configs["pretrain-audio"].optim.max_steps
        assert pre.data == configs["pretrain-audio"].data
        assert not pre.losses.uses_discriminator and pre.losses.lip_reading == 0 and pre.losses.frequency == 0
    assert ref.data.seq_len > 1, "the lip-reading loss needs sequences"


def test_generators_never_train_on_the_lip_readers_evaluation_sentences() -> None:
    """Word accuracy on restored held-out sentences is only fair if no generator saw them."""
    from vfhgan_core.data.words import SentenceSplit

    reader_cfg = json.loads((CONFIGS / "lipreader_grid.json").read_text())["data"]["split"]
    reader_split = from_dict(SentenceSplit, reader_cfg)
    for name, exp in _configs().items():
        if name == "smoke":
            continue
        assert exp.data.holdout_sentences == reader_split, name
    assert reader_split.is_heldout("bbal6n") and not reader_split.is_heldout("bbaf2n")


def test_configs_split_by_speaker_and_name_real_sources() -> None:
    for name, exp in _configs().items():
        if name == "smoke":
            continue
        assert exp.data.val, name
        assert not set(exp.data.train) & set(exp.data.val), name
        assert any("grid_s1" in s for s in exp.data.train), name


# --------------------------------------------------------------------------- model cards


def test_model_card_front_matter_and_content(tmp_path: Path) -> None:
    exp = _experiment(data=DataConfig(train=("../prepared/grid_s1", "../prepared/hdtf"),
                                      val=("../prepared/grid_speakers",)))
    metrics = {"psnr_y": 30.5, "bicubic/psnr_y": 29.25, "ssim_y": 0.91, "bicubic/ssim_y": 0.88, "custom": 1.5}
    path = write_model_card(tmp_path, exp, metrics,
                            RunRecord(command="python train/train_vfhgan.py --config x.json", steps=123,
                                      train_clips=900, val_speakers=["grid_speakers"]))
    card = ModelCard.load(path)
    assert card.data.library_name == "vfhgan"
    assert card.data.license == "apache-2.0"
    assert "audio-ffl-lip" in card.data.tags
    assert any("GRID" in d for d in card.data.datasets) and any("HDTF" in d for d in card.data.datasets)
    text = card.text
    assert "feature matching" in text                # the perceptual choice and its reason
    assert "no ImageNet VGG19 weights" in text
    assert "| 30.5 | 29.25 |" in text                 # metric beside bicubic
    assert "custom" in text
    assert "CC BY 4.0" in text and "research use" in text.lower()
    assert "python train/train_vfhgan.py --config x.json" in text
    assert "| steps | 123 |" in text and "900" in text
    for row in ("| lip reading α | 0.0001 |", "| adversarial γ | 0.001 |", "| pixel (128×128) | 0.01 |",
                "| frequency β | 0.0001 |", "| perceptual | 1 |"):
        assert row in text
    assert "bicubic_antialias ×4, rounded to 8 bits" in text
    # a variant trained on blind degradations says what they were
    from vfhgan_core.data.degradations import DegradationConfig

    blind = replace(exp, variant="audio-ffl-lip-real",
                    data=replace(exp.data, blind_degradation=DegradationConfig(h264_kbps=(10, 20), clean_prob=0.25)))
    text = ModelCard.load(write_model_card(tmp_path / "blind", blind, metrics)).text
    assert "blind real-video chain ×4" in text and "H.264 p = 0.5 (10–20 kbit/s)" in text
    assert "clean antialiased bicubic ×4 instead of the chain for a share p = 0.25" in text


def test_the_card_names_training_recordings_found_in_validation(tmp_path: Path) -> None:
    exp = _experiment()
    metrics = {"psnr_y": 30.5, "bicubic/psnr_y": 29.25}
    clean = ModelCard.load(write_model_card(tmp_path / "a", exp, metrics)).text
    assert "validation frames (unseen speakers)" in clean and "Caveat" not in clean
    dropped = ModelCard.load(write_model_card(
        tmp_path / "b", exp, metrics,
        RunRecord(val_same_recordings={"grid_speakers/bbaf2n": "grid_s1/video/bbaf2n"}))).text
    assert "Left out of validation" in dropped and "`grid_speakers/bbaf2n` = `grid_s1/video/bbaf2n`" in dropped
    assert "Caveat" not in dropped
    kept = ModelCard.load(write_model_card(
        tmp_path / "c", exp, metrics,
        RunRecord(val_training_recordings={"grid_speakers/bbaf2n": "grid_s1/video/bbaf2n"}))).text
    assert "**Caveat:** `grid_speakers/bbaf2n`" in kept and "training clip `grid_s1/video/bbaf2n`" in kept
    assert "validation frames (see the caveat above)" in kept and "(unseen speakers)" not in kept


def test_unknown_data_is_flagged_in_the_card(tmp_path: Path) -> None:
    exp = _experiment(data=DataConfig(train=("/data/mystery",), val=("/data/other",)))
    licences = dataset_licences(exp)
    assert {lic for _, lic, _ in licences} == {"unknown"}
    card = ModelCard.load(write_model_card(tmp_path, exp))
    assert not card.data.datasets
    assert "check the licence" in card.text


def test_weights_folder_loads_through_the_hub_resolver(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = GeneratorConfig(widths=(8, 8, 0), depths=(1, 0, 0), audio_dim=8, audio_channels=(4, 4, 8, 8),
                             latent_dim=8, attention_heads=2)
    generator = VFHGANGenerator(config)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(0.01 * torch.randn_like(p))
    exp = _experiment(generator=config)
    # a half-precision model (as after mixed-precision training) is stored as float32
    folder = write_weights_folder(tmp_path / "audio-ffl-lip", generator.to(torch.bfloat16), exp,
                                  {"psnr_y": 30.0}, RunRecord(steps=5))
    assert {"config.json", "model.safetensors", "experiment.json", "metrics.json", "training.json",
            "README.md"} <= {p.name for p in folder.iterdir()}
    assert load_experiment(folder / "experiment.json") == exp
    loaded = load_generator("audio-ffl-lip", source=tmp_path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for (name, a), b in zip(generator.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a.float(), b), name
    lr = torch.rand(2, 5, 3, 32, 32)
    mel = torch.randn(2, 1, 80, 16)
    ref = generator.float().eval()(lr, mel).sr
    assert torch.allclose(loaded(lr, mel).sr, ref)
