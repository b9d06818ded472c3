"""GAN losses: values on simple logits (computed here by hand), gradient directions, R1."""
from __future__ import annotations

import math

import pytest
import torch

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.losses.adversarial import AdversarialLoss, AdversarialLossConfig, r1_penalty

REAL = [2.0, -1.0, 0.5]
FAKE = [-0.5, 1.5, 0.0]


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _mean(values):
    return sum(values) / len(values)


def _expected(kind):
    """(generator, discriminator) loss from the textbook formulas, in plain Python."""
    if kind == "vanilla":  # BCE with targets 1 for real, 0 for fake
        g = _mean([-math.log(_sigmoid(f)) for f in FAKE])
        d = _mean([-math.log(_sigmoid(r)) for r in REAL]) + _mean([-math.log(1 - _sigmoid(f)) for f in FAKE])
    elif kind == "lsgan":
        g = _mean([(f - 1) ** 2 for f in FAKE])
        d = _mean([(r - 1) ** 2 for r in REAL]) + _mean([f ** 2 for f in FAKE])
    else:
        g = -_mean(FAKE)
        d = _mean([max(0.0, 1 - r) for r in REAL]) + _mean([max(0.0, 1 + f) for f in FAKE])
    return g, d


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge"])
def test_known_values(kind):
    loss = AdversarialLoss(kind)
    real = torch.tensor(REAL, dtype=torch.float64).view(3, 1)
    fake = torch.tensor(FAKE, dtype=torch.float64).view(3, 1)
    g, d = _expected(kind)
    assert loss.generator_loss(fake).item() == pytest.approx(g, rel=1e-12)
    assert loss(fake).item() == pytest.approx(g, rel=1e-12)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(d, rel=1e-12)
    # a list of two scales is averaged
    two = loss.generator_loss([fake, torch.zeros(2, 1, 4, 4, dtype=torch.float64)])
    zero_g = {"vanilla": math.log(2.0), "lsgan": 1.0, "hinge": 0.0}[kind]
    assert two.item() == pytest.approx((g + zero_g) / 2, rel=1e-12)


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge"])
def test_gradient_directions(kind):
    """Generator raises fake logits; discriminator raises real and lowers fake logits."""
    loss = AdversarialLoss(kind)
    fake = torch.tensor([[0.5], [0.2]], requires_grad=True)  # between the LSGAN targets 0 and 1
    real = torch.tensor([[0.3], [-0.4]], requires_grad=True)
    loss.generator_loss(fake).backward()
    assert (fake.grad < 0).all()  # descending the loss increases D(fake)
    fake.grad = None
    loss.discriminator_loss(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()


def test_hinge_ignores_confident_logits():
    loss = AdversarialLoss("hinge")
    real = torch.tensor([3.0], requires_grad=True)
    fake = torch.tensor([-2.0], requires_grad=True)
    value = loss.discriminator_loss(real, fake)
    value.backward()
    assert value.item() == 0.0 and real.grad.item() == 0.0 and fake.grad.item() == 0.0


def test_r1_penalty_matches_the_analytic_gradient():
    torch.manual_seed(0)
    disc = torch.nn.Linear(6, 1)
    x = torch.randn(4, 6, requires_grad=True)
    penalty = r1_penalty(disc(x), x)
    # for a linear D the input gradient is the weight row for every sample
    assert penalty.item() == pytest.approx(disc.weight.square().sum().item(), rel=1e-6)
    penalty.backward()  # differentiable w.r.t. D's parameters
    torch.testing.assert_close(disc.weight.grad, 2 * disc.weight.detach())
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(disc(x.detach()), x.detach())


def test_bad_arguments():
    with pytest.raises(ValueError, match="choose one of"):
        AdversarialLoss("wgan")
    loss = AdversarialLoss()
    with pytest.raises(ValueError, match="real but"):
        loss.discriminator_loss([torch.zeros(1)], [torch.zeros(1), torch.zeros(1)])
    with pytest.raises(ValueError, match="empty"):
        loss.generator_loss([])


def test_config_round_trip():
    cfg = AdversarialLossConfig(kind="hinge", r1_gamma=10.0)
    assert from_dict(AdversarialLossConfig, to_dict(cfg)) == cfg
