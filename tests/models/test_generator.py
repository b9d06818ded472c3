"""VFHGANGenerator: shapes for every preset and switch, the audio path, gradients, hub I/O."""
from __future__ import annotations

import json

import huggingface_hub
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.models.generator import GeneratorConfig, GeneratorOutput, VFHGANGenerator

PRESETS = {"small": GeneratorConfig.small, "large": GeneratorConfig.large}


def _inputs(config: GeneratorConfig, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(batch, config.num_frames, 3, 32, 32, generator=g)
    mel = torch.rand(batch, 1, config.n_mels, config.mel_frames, generator=g) * 8 - 4
    return lr, mel


def _perturb(model: torch.nn.Module, scale: float = 0.05, seed: int = 1) -> None:
    """Add noise to every parameter, so zero-initialised heads and projections become active."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


def _bicubic(lr: torch.Tensor, config: GeneratorConfig, factor: int) -> torch.Tensor:
    centre = lr[:, config.num_frames // 2]
    return F.interpolate(centre, scale_factor=factor, mode="bicubic", align_corners=False)


@pytest.mark.parametrize("num_frames", [1, 3, 5])
@pytest.mark.parametrize("use_attention", [True, False])
@pytest.mark.parametrize("use_audio", [True, False])
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_output_shapes_and_range(preset, use_audio, use_attention, num_frames):
    config = PRESETS[preset](use_audio=use_audio, use_attention=use_attention, num_frames=num_frames)
    model = VFHGANGenerator(config)
    _perturb(model)
    lr, mel = _inputs(config, batch=1 if preset == "large" else 2)
    model.train()
    with torch.no_grad():
        out = model(lr, mel if use_audio else None)
    assert isinstance(out, GeneratorOutput)
    assert out.sr.shape == (len(lr), 3, 128, 128) and out.sr_x2.shape == (len(lr), 3, 64, 64)
    assert out.sr.dtype == torch.float32 and out.sr_x2.dtype == torch.float32
    assert torch.isfinite(out.sr).all() and torch.isfinite(out.sr_x2).all()
    model.eval()
    with torch.inference_mode():
        sr, sr_x2 = model(lr, mel if use_audio else None)
    assert sr.min() >= 0 and sr.max() <= 1 and sr_x2.min() >= 0 and sr_x2.max() <= 1
    # the perturbed residual really moves the output away from bicubic
    assert (sr - _bicubic(lr, config, 4).clamp(0, 1)).abs().max() > 1e-3


def test_presets_and_config_round_trip():
    small, large = GeneratorConfig.small(), GeneratorConfig.large()
    assert small == GeneratorConfig() == GeneratorConfig.preset("default")
    assert VFHGANGenerator(large).num_parameters() > 3 * VFHGANGenerator(small).num_parameters()
    for config in (small, large, GeneratorConfig(num_frames=3, use_audio=False, widths=(32, 16, 8),
                                                 depths=(1, 1, 1))):
        data = json.loads(json.dumps(to_dict(config)))
        assert from_dict(GeneratorConfig, data) == config
        assert GeneratorConfig(**data) == config          # lists from JSON become tuples again
    with pytest.raises(ValueError, match="preset"):
        GeneratorConfig.preset("huge")


@pytest.mark.parametrize("bad", [dict(num_frames=4), dict(scale=2), dict(widths=(62, 32, 0)),
                                 dict(latent_dim=66, attention_heads=4), dict(depths=(4, 0, 1)),
                                 dict(audio_pooling="max")])
def test_invalid_config_is_refused(bad):
    with pytest.raises(ValueError, match="GeneratorConfig"):
        GeneratorConfig(**bad)


def test_untrained_generator_returns_bicubic():
    """Both RGB heads start at zero: the output is the bicubic upsampling of the centre frame."""
    config = GeneratorConfig()
    model = VFHGANGenerator(config).train()
    lr, mel = _inputs(config)
    out = model(lr, mel)
    torch.testing.assert_close(out.sr, _bicubic(lr, config, 4))
    torch.testing.assert_close(out.sr_x2, _bicubic(lr, config, 2))


def test_audio_off_model_ignores_mel_and_has_no_audio_parameters():
    config = GeneratorConfig(use_audio=False)
    model = VFHGANGenerator(config).eval()
    _perturb(model)
    names = [n for n, _ in model.named_parameters()]
    assert model.cross_modal is None
    assert not any(n.startswith("cross_modal") for n in names)
    with_audio = VFHGANGenerator(GeneratorConfig())
    audio_names = {n for n, _ in with_audio.named_parameters() if n.startswith("cross_modal")}
    assert audio_names and audio_names.isdisjoint(names)
    assert model.num_parameters() == with_audio.num_parameters() - sum(
        p.numel() for n, p in with_audio.named_parameters() if n in audio_names)

    lr, mel = _inputs(config)
    with torch.inference_mode():
        plain = model(lr)
        with_mel = model(lr, mel)
        other_mel = model(lr, torch.randn(7, 3))          # not even a valid mel: ignored
    assert torch.equal(plain.sr, with_mel.sr) and torch.equal(plain.sr_x2, with_mel.sr_x2)
    assert torch.equal(plain.sr, other_mel.sr)


@pytest.mark.parametrize("use_attention", [True, False])
def test_audio_changes_output_once_the_projection_is_nonzero(use_attention):
    config = GeneratorConfig(use_attention=use_attention)
    model = VFHGANGenerator(config).eval()
    lr, mel = _inputs(config)
    silent = torch.full_like(mel, -4.0)
    with torch.inference_mode():
        # zero-initialised injection: the audio path starts neutral
        assert torch.equal(model(lr, mel).sr, model(lr, silent).sr)
    _perturb(model)
    assert model.cross_modal.inject.weight.abs().sum() > 0
    with torch.inference_mode():
        a, b = model(lr, mel), model(lr, silent)
        again = model(lr, mel)
    assert (a.sr - b.sr).abs().max() > 1e-4
    assert (a.sr_x2 - b.sr_x2).abs().max() > 1e-4
    assert torch.equal(a.sr, again.sr)                  # deterministic


def test_flattened_audio_embedding_keeps_where_the_energy_lies():
    """Mean pooling cannot tell a pattern's band; the flattened map can (what vowels differ by)."""
    from vfhgan_core.models.generator import AudioEncoder

    torch.manual_seed(0)
    low, high = torch.full((1, 1, 80, 16), -4.0), torch.full((1, 1, 80, 16), -4.0)
    low[..., 8:16, 4:12], high[..., 56:64, 4:12] = 4.0, 4.0        # the same blob, in a low and a high band
    flat = AudioEncoder((16, 32, 48, 64), 64, pooling="flatten", mel_shape=(80, 16))
    mean = AudioEncoder((16, 32, 48, 64), 64, pooling="mean")
    with torch.no_grad():
        gap_flat = float((flat(low) - flat(high)).norm() / flat(low).norm())
        gap_mean = float((mean(low) - mean(high)).norm() / mean(low).norm())
    assert flat.proj.in_features == 64 * 10 * 2
    assert gap_flat > 5 * gap_mean
    model = VFHGANGenerator(GeneratorConfig(audio_pooling="flatten")).eval()
    lr, mel = _inputs(model.config)
    assert model(lr, mel).sr.shape == (lr.shape[0], 3, 128, 128)


def test_audio_model_requires_a_valid_mel():
    model = VFHGANGenerator(GeneratorConfig())
    lr, mel = _inputs(model.config)
    with pytest.raises(ValueError, match="pass mel"):
        model(lr)
    with pytest.raises(ValueError, match=r"\(B, 1, 80, 16\)"):
        model(lr, mel[:, :, :40])
    with pytest.raises(ValueError, match="batch size"):
        model(lr, mel[:1])
    # (B, 80, 16) without the channel axis is accepted
    model.eval()
    with torch.inference_mode():
        torch.testing.assert_close(model(lr, mel[:, 0]).sr, model(lr, mel).sr)


def test_bad_frame_windows_are_refused():
    model = VFHGANGenerator(GeneratorConfig(use_audio=False))
    with pytest.raises(ValueError, match=r"\(B, 5, 3, H, W\)"):
        model(torch.rand(2, 3, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 5, 3, H, W\)"):
        model(torch.rand(2, 15, 32, 32))
    with pytest.raises(ValueError, match="floating point"):
        model(torch.zeros(2, 5, 3, 32, 32, dtype=torch.uint8))


def test_gradients_reach_every_parameter():
    """Audio + attention, loss on both outputs. Two zero-initialised layers lie in series (the RGB
    heads, then the audio injection), so the first two optimiser steps open the path; after
    them every parameter gets a gradient."""
    config = GeneratorConfig(use_audio=True, use_attention=True)
    torch.manual_seed(0)
    model = VFHGANGenerator(config).train()
    lr, mel = _inputs(config, batch=2)
    target4 = torch.rand(2, 3, 128, 128)
    target2 = F.interpolate(target4, size=64, mode="area")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> dict[str, torch.Tensor]:
        opt.zero_grad()
        out = model(lr, mel)
        (F.l1_loss(out.sr, target4) + F.l1_loss(out.sr_x2, target2)).backward()
        return {n: p.grad for n, p in model.named_parameters()}

    first = step()
    assert first["head_x4.conv.weight"].abs().sum() > 0
    assert first["stage1.0.filters.fuse.weight"].abs().sum() == 0       # behind a zero head
    opt.step()
    second = step()
    assert second["stage1.0.filters.fuse.weight"].abs().sum() > 0
    assert second["cross_modal.audio.proj.weight"].abs().sum() == 0     # behind the zero injection
    opt.step()
    grads = step()
    for name, p in model.named_parameters():
        assert p.requires_grad, name
        assert grads[name] is not None, name
        assert torch.isfinite(grads[name]).all(), name
        assert grads[name].abs().sum() > 0, name


def test_inference_chunking_gives_the_same_result():
    config = GeneratorConfig()
    model = VFHGANGenerator(config).eval()
    _perturb(model)
    lr, mel = _inputs(config, batch=5)
    with torch.inference_mode():
        model.inference_chunk = 0
        whole = model(lr, mel)
        model.inference_chunk = 2
        chunked = model(lr, mel)
    # float32 kernels sum in a batch-size-dependent order: 1e-5 is 1/400 of an 8-bit level
    torch.testing.assert_close(chunked.sr, whole.sr, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(chunked.sr_x2, whole.sr_x2, rtol=1e-5, atol=1e-5)


def _custom_model() -> VFHGANGenerator:
    config = GeneratorConfig(num_frames=3, use_attention=False, widths=(32, 16, 0), depths=(2, 1, 0),
                             attention_layers=2)
    model = VFHGANGenerator(config)
    _perturb(model)
    return model.eval()


def test_save_and_load_pretrained_round_trip(tmp_path):
    model = _custom_model()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved == to_dict(model.config)
    loaded = VFHGANGenerator.from_pretrained(tmp_path)
    assert loaded.config == model.config and isinstance(loaded.config, GeneratorConfig)
    assert not loaded.training
    lr, mel = _inputs(model.config)
    with torch.inference_mode():
        a, b = model(lr, mel), loaded(lr, mel)
    assert torch.equal(a.sr, b.sr) and torch.equal(a.sr_x2, b.sr_x2)


def test_missing_weights_raise_weights_not_found(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="config.json"):
        VFHGANGenerator.from_pretrained(tmp_path)
    VFHGANGenerator().save_pretrained(tmp_path / "gen")
    (tmp_path / "gen" / "model.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError, match="model.safetensors"):
        VFHGANGenerator.from_pretrained(tmp_path / "gen")


def test_weights_of_another_config_are_refused(tmp_path):
    VFHGANGenerator(GeneratorConfig()).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["use_audio"] = False                          # weights still hold the audio branch
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsNotFoundError, match="do not fit"):
        VFHGANGenerator.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    config["use_audio"] = True
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsNotFoundError, match="damaged"):
        VFHGANGenerator.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(WeightsNotFoundError, match="not a valid generator config"):
        VFHGANGenerator.from_pretrained(tmp_path)


@pytest.fixture
def offline_hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face home under tmp, offline. huggingface_hub reads HF_HOME and
    HF_HUB_OFFLINE into ``constants`` at import, so the constants are patched too."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", str(home))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return home / "hub"


def test_from_pretrained_reads_an_offline_hub_cache_with_subfolder(offline_hub_cache, tmp_path):
    model = _custom_model()
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = offline_hub_cache / "models--vfhgan--test"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    model.save_pretrained(repo / "snapshots" / revision / "audio-ffl-lip")

    loaded = VFHGANGenerator.from_pretrained("vfhgan/test", subfolder="audio-ffl-lip")
    assert loaded.config == model.config
    lr, mel = _inputs(model.config)
    with torch.inference_mode():
        assert torch.equal(model(lr, mel).sr, loaded(lr, mel).sr)
    # an explicit cache_dir works the same
    explicit = VFHGANGenerator.from_pretrained("vfhgan/test", subfolder="audio-ffl-lip",
                                               cache_dir=offline_hub_cache)
    assert explicit.config == model.config

    with pytest.raises(WeightsNotFoundError, match="offline"):
        VFHGANGenerator.from_pretrained("vfhgan/test", subfolder="no-such-variant")
    with pytest.raises(WeightsNotFoundError, match="vfhgan/missing"):
        VFHGANGenerator.from_pretrained("vfhgan/missing")


@pytest.mark.slow
def test_runs_on_real_speech_windows(grid_clip):
    """A GRID clip's frames (resized to 32×32) and real mel windows from the audio pipeline."""
    from vfhgan_core.faces.clip import speech_windows
    from vfhgan_core.io import read_video

    video = read_video(grid_clip, max_frames=12)
    _, windows, has_audio = speech_windows(str(grid_clip), np.asarray(video.timestamps))
    assert has_audio and windows.shape == (12, 1, 80, 16)
    frames = torch.from_numpy(np.ascontiguousarray(video.frames)).permute(0, 3, 1, 2).float() / 255
    small = F.interpolate(frames, size=(32, 32), mode="area")                      # (12, 3, 32, 32)
    config = GeneratorConfig()
    idx = torch.arange(len(small))[:, None] + torch.arange(-2, 3)[None]           # 5-frame windows
    lr = small[idx.clamp(0, len(small) - 1)]                                        # (12, 5, 3, 32, 32)
    model = VFHGANGenerator(config).eval()
    _perturb(model)
    with torch.inference_mode():
        out = model(lr, windows)
        shuffled = model(lr, windows.flip(0))
    assert out.sr.shape == (12, 3, 128, 128)
    assert 0 <= out.sr.min() and out.sr.max() <= 1
    # where the speech of another frame differs, the restored face differs
    differs = (windows - windows.flip(0)).abs().amax(dim=(1, 2, 3)) > 0.1
    assert differs.any()
    change = (out.sr - shuffled.sr).abs().amax(dim=(1, 2, 3))
    assert (change[differs] > 1e-5).all()
    assert (change[~differs] < 1e-6).all()
