"""Tests of vfhgan_core.models.espcn: the frequency-loss lab's tiny network."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vfhgan_core.models.espcn import ResidualESPCN


def test_output_is_bicubic_plus_a_learnt_residual() -> None:
    net = ResidualESPCN(scale=4, channels=8, generator=torch.Generator().manual_seed(0))
    lr = torch.rand(2, 3, 16, 12)
    out = net(lr)
    assert out.shape == (2, 3, 64, 48)
    bicubic = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(out - bicubic, net.body(lr), atol=1e-6)
    with torch.no_grad():
        net.body[-2].weight.zero_()
        net.body[-2].bias.zero_()
    assert torch.allclose(net(lr), bicubic, atol=1e-6)


def test_a_private_generator_gives_the_seeded_default_weights_whatever_the_global_stream_does() -> None:
    torch.manual_seed(7)
    reference = ResidualESPCN(4, 16).state_dict()        # PyTorch's default init after manual_seed(7)
    torch.manual_seed(1234)
    torch.rand(1000)                                      # the global stream is elsewhere now
    private = ResidualESPCN(4, 16, generator=torch.Generator().manual_seed(7)).state_dict()
    assert reference.keys() == private.keys()
    assert all(torch.equal(reference[k], private[k]) for k in reference)
    other = ResidualESPCN(4, 16, generator=torch.Generator().manual_seed(8)).state_dict()
    assert not torch.equal(other["body.0.weight"], private["body.0.weight"])


@pytest.mark.parametrize(("scale", "channels"), [(0, 8), (2.5, 8), (4, 0)])
def test_bad_sizes_are_refused(scale, channels) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        ResidualESPCN(scale, channels)
