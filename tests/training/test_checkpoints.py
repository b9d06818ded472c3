"""``vfhgan_core/training/checkpoints.py``: checkpoint folders and the weights a run starts from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from vfhgan_core.errors import VFHGANError, WeightsNotFoundError
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.training.checkpoints import init_generator_from, list_checkpoints, resolve_init_weights

TINY = GeneratorConfig(widths=(8, 8, 0), depths=(1, 0, 0), audio_dim=8, audio_channels=(4, 4, 8, 8),
                       latent_dim=8, attention_heads=2, attention_layers=1)


def _trained(config: GeneratorConfig, folder: Path, seed: int) -> VFHGANGenerator:
    """A generator whose every weight is non-zero and seed-specific, saved to ``folder``."""
    torch.manual_seed(seed)
    model = VFHGANGenerator(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    model.save_pretrained(folder)
    return model


def _inputs(config: GeneratorConfig) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(2, config.num_frames, 3, 32, 32, generator=g)
    mel = torch.randn(2, config.n_mels, config.mel_frames, generator=g)
    return lr, mel


def test_checkpoints_are_listed_by_step_and_the_newest_is_the_start(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for step in (10, 200, 30):
        _trained(TINY, run / "checkpoints" / f"checkpoint-{step}" / "ema_generator", step)
    (run / "checkpoints" / "checkpoint-999-partial").mkdir()                       # not a checkpoint
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["checkpoint-10", "checkpoint-30",
                                                                       "checkpoint-200"]
    assert resolve_init_weights(str(run)) == run / "checkpoints" / "checkpoint-200" / "ema_generator"
    with pytest.raises(WeightsNotFoundError, match="holds no generator weights"):
        resolve_init_weights(str(tmp_path / "empty"))


def test_same_architecture_copies_every_weight(tmp_path: Path) -> None:
    source = _trained(TINY, tmp_path / "src", 0)
    target = VFHGANGenerator(TINY)
    assert init_generator_from(target, tmp_path / "src") == tmp_path / "src"
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_audio_graft_starts_exactly_as_the_no_audio_source(tmp_path: Path) -> None:
    """An audio generator grafted onto a no-audio one restores as its source until the branch trains."""
    source = _trained(replace(TINY, use_audio=False), tmp_path / "noaudio", 0).eval()
    torch.manual_seed(5)
    grafted = VFHGANGenerator(TINY)
    fresh_branch = {k: v.clone() for k, v in grafted.cross_modal.state_dict().items()}
    init_generator_from(grafted, tmp_path / "noaudio")
    grafted.eval()
    # the branch keeps its fresh initialisation; everything else is the source's
    for k, v in grafted.cross_modal.state_dict().items():
        assert torch.equal(v, fresh_branch[k]), k
    lr, mel = _inputs(TINY)
    with torch.no_grad():
        expected = source(lr).sr
        assert torch.allclose(grafted(lr, mel).sr, expected, atol=1e-6)
        assert torch.allclose(grafted(lr, torch.zeros_like(mel)).sr, expected, atol=1e-6)
        # once the branch's output projection is non-zero, the speech changes the output
        for p in grafted.cross_modal.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        assert (grafted(lr, mel).sr - expected).abs().max() > 1e-4


def test_the_graft_may_give_the_branch_another_shape(tmp_path: Path) -> None:
    """A no-audio source has no branch: the target's branch fields (pooling, sizes) are its own."""
    source = _trained(replace(TINY, use_audio=False), tmp_path / "noaudio", 0).eval()
    grafted = VFHGANGenerator(replace(TINY, audio_pooling="flatten", audio_dim=16, use_attention=False))
    init_generator_from(grafted, tmp_path / "noaudio")
    lr, mel = _inputs(TINY)
    with torch.no_grad():
        assert torch.allclose(grafted.eval()(lr, mel).sr, source(lr).sr, atol=1e-6)


@pytest.mark.parametrize("other", [replace(TINY, widths=(16, 8, 0)),                   # another trunk
                                   replace(TINY, use_audio=False, depths=(2, 0, 0))])   # no-audio and another trunk
def test_another_architecture_is_refused(tmp_path: Path, other: GeneratorConfig) -> None:
    _trained(other, tmp_path / "src", 0)
    with pytest.raises(VFHGANError, match="another architecture"):
        init_generator_from(VFHGANGenerator(TINY), tmp_path / "src")


def test_no_audio_target_does_not_take_an_audio_source(tmp_path: Path) -> None:
    """The graft goes one way only: dropping a trained branch would silently lose what it learnt."""
    _trained(TINY, tmp_path / "audio", 0)
    with pytest.raises(VFHGANError, match="another architecture"):
        init_generator_from(VFHGANGenerator(replace(TINY, use_audio=False)), tmp_path / "audio")


def _experiment():
    from vfhgan_core.experiment import DataConfig, ExperimentConfig

    return ExperimentConfig(variant="noaudio-ffl-lip", generator=replace(TINY, use_audio=False), lip_reader="r",
                            data=DataConfig(train=("train",), val=("val",)))


def test_save_checkpoint_writes_a_complete_folder_rotates_and_resumes(tmp_path: Path) -> None:
    from accelerate import Accelerator

    from vfhgan_core.training.checkpoints import TrainState, resume_checkpoint, save_checkpoint

    accelerator = Accelerator(cpu=True)
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    exp = _experiment()
    model = VFHGANGenerator(exp.generator)
    root = tmp_path / "checkpoints"
    assert resume_checkpoint(None, root, exp) is None and resume_checkpoint("latest", root, exp) is None
    for step in (1, 2, 3):
        state.step = step
        saved = save_checkpoint(accelerator, root, step, model, exp, {"step": step}, limit=2)
    assert saved == root / "checkpoint-0000003" and list_checkpoints(root) == [root / "checkpoint-0000002", saved]
    assert {"ema_generator", "experiment.json", "trainer_state.json"} <= {p.name for p in saved.iterdir()}
    assert not list(root.glob(".tmp-*"))
    assert resume_checkpoint("latest", root, exp) == saved
    state.step = 0
    accelerator.load_state(str(saved))
    assert state.step == 3
    with pytest.raises(VFHGANError, match="already holds checkpoints"):
        resume_checkpoint(None, root, exp)
    with pytest.raises(VFHGANError, match="not a complete checkpoint"):
        resume_checkpoint(str(tmp_path), root, exp)
    other = exp.with_overrides(optim={"seed": 7})
    with pytest.raises(VFHGANError, match="config differs"):
        resume_checkpoint("latest", root, other)
    assert resume_checkpoint("latest", root, exp.with_overrides(optim={"max_steps": 5})) == saved
