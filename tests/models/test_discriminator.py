"""PatchDiscriminator: patch logits, feature list, spectral normalisation, gradients."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.models.discriminator import DiscriminatorConfig, DiscriminatorOutput, PatchDiscriminator

SMALL = DiscriminatorConfig(base_channels=16, max_channels=64)


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_default_shapes_on_128px_faces():
    model = PatchDiscriminator()
    out = model(torch.rand(2, 3, 128, 128))
    assert isinstance(out, DiscriminatorOutput)
    assert out.logits.shape == (2, 1, 8, 8)
    assert [tuple(f.shape) for f in out.features] == [
        (2, 64, 128, 128), (2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8)]
    assert all(torch.isfinite(f).all() for f in out.features)


@pytest.mark.parametrize("size, downsamples", [(64, 4), (128, 3), (96, 5)])
def test_patch_grid_follows_input_size_and_depth(size, downsamples):
    config = DiscriminatorConfig(base_channels=8, max_channels=32, num_downsamples=downsamples)
    out = PatchDiscriminator(config)(torch.rand(1, 3, size, size))
    side = -(-size // 2 ** downsamples)         # ceil: stride-2 convs with padding 1
    assert out.logits.shape == (1, 1, side, side)
    assert len(out.features) == downsamples + 1
    assert max(f.shape[1] for f in out.features) == 32


def test_every_convolution_is_spectrally_normalised():
    model = PatchDiscriminator(SMALL).train()
    convs = _convs(model)
    assert len(convs) == 2 + 2 * SMALL.num_downsamples
    assert all(parametrize.is_parametrized(c, "weight") for c in convs)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for _ in range(30):                      # each training forward is one power iteration
            model(x)
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().reshape(conv.out_channels, -1), ord=2)
        assert 0.97 < sigma < 1.03
    plain = PatchDiscriminator(DiscriminatorConfig(base_channels=16, max_channels=64, use_spectral_norm=False))
    assert not any(parametrize.is_parametrized(c, "weight") for c in _convs(plain))


def test_gradients_reach_every_parameter_and_the_input():
    torch.manual_seed(0)
    model = PatchDiscriminator(SMALL).train()
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    out = model(x)
    loss = out.logits.mean() + sum(f.abs().mean() for f in out.features)
    loss.backward()
    names = [n for n, _ in model.named_parameters()]
    assert any("parametrizations.weight.original" in n for n in names)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_patch_logits_are_local():
    """A patch logit depends on a 95×95 window of the input, not the whole image."""
    model = PatchDiscriminator(DiscriminatorConfig(base_channels=8, max_channels=32)).eval()
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    model(x).logits[0, 0, 4, 4].backward()
    for dims in ((0, 1, 3), (0, 1, 2)):                 # rows, then columns
        seen = x.grad.abs().sum(dim=dims).nonzero().flatten()
        assert seen.max() - seen.min() + 1 == 95
        assert 0 < seen.min() and seen.max() < 127       # not the whole 128-pixel image


def test_config_round_trip_and_bad_inputs():
    assert from_dict(DiscriminatorConfig, json.loads(json.dumps(to_dict(SMALL)))) == SMALL
    with pytest.raises(ValueError, match="num_downsamples"):
        DiscriminatorConfig(num_downsamples=0)
    with pytest.raises(ValueError, match="channels"):
        DiscriminatorConfig(base_channels=64, max_channels=32)
    model = PatchDiscriminator(SMALL)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match="H, W ≥ 16"):
        model(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
