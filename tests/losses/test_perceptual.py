"""Perceptual term: VGG19 feature distance (weights from a file) and discriminator feature matching."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.losses.perceptual import (
    FeatureMatchingLoss,
    PerceptualChoice,
    PerceptualLoss,
    PerceptualLossConfig,
    resolve_perceptual,
)
from vfhgan_core.models.vgg import VGG19, VGGFeatures

LAYERS = ("relu1_2", "relu2_2", "relu3_4")


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """Random VGG19 weights (features only) saved like a user's ImageNet file."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(VGG19(with_classifier=False).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def loss(vgg_file):
    return PerceptualLoss(str(vgg_file), layers=LAYERS, layer_weights=(0.5, 1.0, 2.0))


def test_zero_for_identical_images_positive_otherwise(loss):
    x = torch.rand(2, 3, 32, 32)
    assert loss(x, x.clone()).item() == 0.0
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    far = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    near_value, far_value = loss(y, x).item(), loss(far, x).item()
    assert 0 < near_value < far_value


def test_value_is_the_weighted_feature_distance(vgg_file, loss):
    x, y = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    feats = VGGFeatures(layers=LAYERS, weights=vgg_file)
    fx, fy = feats(x), feats(y)
    expected = sum(w * (fx[n] - fy[n]).abs().mean() for n, w in zip(LAYERS, (0.5, 1.0, 2.0)))
    torch.testing.assert_close(loss(x, y), expected)
    l2 = PerceptualLoss(str(vgg_file), layers=("relu1_2",), criterion="l2")
    torch.testing.assert_close(l2(x, y), F.mse_loss(fx["relu1_2"], fy["relu1_2"]))


def test_gradient_flows_to_pred_only(loss):
    pred = torch.rand(1, 3, 32, 32, requires_grad=True)
    target = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss(pred, target).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None
    assert all(p.grad is None for p in loss.parameters())
    loss.train()
    assert not loss.vgg.training  # the feature extractor stays frozen in eval mode


def test_missing_weights_give_clear_errors(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="not found"):
        PerceptualLoss(str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsNotFoundError, match="FeatureMatchingLoss"):
        PerceptualLoss(None)
    with pytest.raises(WeightsNotFoundError, match="feature matching"):
        resolve_perceptual(tmp_path / "typo.pth")


def test_resolve_perceptual_records_choice_and_reason(vgg_file):
    none = resolve_perceptual(None)
    assert none.kind == "feature_matching" and "discriminator" in none.reason
    assert none.vgg_weights is None
    local = resolve_perceptual(vgg_file)
    assert local.kind == "vgg19" and local.vgg_weights == str(vgg_file)
    url = resolve_perceptual("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth")
    assert url.kind == "vgg19" and "URL" in url.reason
    assert from_dict(PerceptualChoice, to_dict(local)) == local


def test_config_round_trip_and_build(vgg_file):
    cfg = PerceptualLossConfig(vgg_weights=str(vgg_file), layers=("relu1_2",), layer_weights=(2.0,))
    assert from_dict(PerceptualLossConfig, to_dict(cfg)) == cfg
    built = PerceptualLoss.from_config(cfg)
    x, y = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    single = PerceptualLoss(str(vgg_file), layers=("relu1_2",))
    torch.testing.assert_close(built(x, y), 2.0 * single(x, y))
    with pytest.raises(ValueError, match="layer weights"):
        PerceptualLoss(str(vgg_file), layers=("relu1_2",), layer_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="criterion"):
        PerceptualLoss(str(vgg_file), layers=("relu1_2",), criterion="cosine")


def test_feature_matching_value_and_gradient_to_sr_only():
    torch.manual_seed(0)
    disc = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.LeakyReLU(0.2),
                               torch.nn.Conv2d(8, 16, 3, 2, 1), torch.nn.LeakyReLU(0.2))

    def features(x):
        return [disc[:2](x), disc(x)]

    sr = torch.rand(2, 3, 16, 16, requires_grad=True)
    gt = torch.rand(2, 3, 16, 16, requires_grad=True)
    fm = FeatureMatchingLoss()
    sr_f, gt_f = features(sr), features(gt)
    value = fm(sr_f, gt_f)
    expected = 0.5 * ((sr_f[0] - gt_f[0]).abs().mean() + (sr_f[1] - gt_f[1]).abs().mean())
    torch.testing.assert_close(value, expected)
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert gt.grad is None
    assert fm([t.detach() for t in gt_f], gt_f).item() == 0.0
    weighted = FeatureMatchingLoss(layer_weights=(1.0, 0.0))(sr_f, gt_f)
    torch.testing.assert_close(weighted, (sr_f[0] - gt_f[0]).abs().mean())


def test_feature_matching_rejects_mismatched_features():
    fm = FeatureMatchingLoss()
    with pytest.raises(ValueError, match="same, non-zero number"):
        fm([torch.zeros(1, 2)], [])
    with pytest.raises(ValueError, match="differ in shape"):
        fm([torch.zeros(1, 2)], [torch.zeros(1, 3)])
