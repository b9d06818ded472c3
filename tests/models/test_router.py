"""The degradation router (vfhgan_core/models/router.py) and the routed generator built on it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vfhgan_core.data.degradations import DegradationConfig, degrade_clip
from vfhgan_core.faces.crops import degrade
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.models.router import (
    DegradationRouter,
    RouterConfig,
    best_blend_weight,
    blend_error_terms,
    blend_log_mse,
)

TINY = GeneratorConfig(widths=(8, 8, 0), depths=(1, 0, 0), audio_channels=(4, 4, 4, 4), audio_dim=8,
                       latent_dim=8, attention_heads=2)


def _experts(seed: int = 0) -> tuple[VFHGANGenerator, VFHGANGenerator]:
    torch.manual_seed(seed)
    degraded, clean = VFHGANGenerator(TINY), VFHGANGenerator(TINY)
    for g in (degraded, clean):          # heads start at zero (= bicubic): move them so the experts differ
        for p in g.parameters():
            p.data.add_(0.05 * torch.randn_like(p))
    return degraded.eval(), clean.eval()


def _inputs(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 5, 3, 32, 32, generator=g), torch.randn(n, 1, 80, 16, generator=g)


def _force(router: DegradationRouter, logit: float) -> None:
    torch.nn.init.zeros_(router.head.weight)
    torch.nn.init.constant_(router.head.bias, logit)


@torch.no_grad()
def test_the_routed_generator_is_each_expert_where_the_router_is_sure_and_their_mean_at_even_odds() -> None:
    degraded, clean = _experts()
    lr, mel = _inputs()
    model = VFHGANGenerator.routed(degraded, clean, DegradationRouter())
    a, b = degraded(lr, mel), clean(lr, mel)
    assert not torch.allclose(a.sr, b.sr)
    out = model(lr, mel)                                    # a fresh router weighs both at 0.5
    assert torch.allclose(out.sr, (a.sr + b.sr) / 2, atol=1e-6)
    assert torch.allclose(out.sr_x2, (a.sr_x2 + b.sr_x2) / 2, atol=1e-6)
    _force(model.router, 10.0)
    assert torch.equal(model(lr, mel).sr, a.sr)
    _force(model.router, -10.0)
    assert torch.equal(model(lr, mel).sr, b.sr)


def test_at_inference_an_expert_with_a_negligible_weight_is_not_run() -> None:
    model = VFHGANGenerator.routed(*_experts(), DegradationRouter())
    lr, mel = _inputs(4)
    calls = {"own": 0, "clean": 0}
    model.primary.register_forward_hook(lambda *_: calls.__setitem__("own", calls["own"] + 1))
    model.clean_expert.primary.register_forward_hook(lambda *_: calls.__setitem__("clean", calls["clean"] + 1))
    with torch.no_grad():
        _force(model.router, -10.0)
        model(lr, mel)
        assert calls == {"own": 0, "clean": 1}
        _force(model.router, 0.0)
        model(lr, mel)
    assert calls == {"own": 1, "clean": 2}
    # in training mode both always run, so both get gradients
    model.train()
    with torch.no_grad():
        _force(model.router, -10.0)
    model(lr, mel).sr.sum().backward()
    assert model.primary[0].weight.grad is not None and model.clean_expert.primary[0].weight.grad is not None


def test_a_routed_generator_round_trips_through_save_pretrained(tmp_path: Path) -> None:
    degraded, clean = _experts()
    router = DegradationRouter(RouterConfig(channels=(4, 8, 8)))
    _force(router, 1.5)
    model = VFHGANGenerator.routed(degraded, clean, router)
    model.save_pretrained(tmp_path)
    loaded = VFHGANGenerator.from_pretrained(tmp_path)
    assert loaded.config == model.config and loaded.config.router == RouterConfig(channels=(4, 8, 8))
    lr, mel = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(lr, mel).sr, model(lr, mel).sr)
        assert torch.allclose(loaded.route_weights(lr), torch.sigmoid(torch.tensor(1.5)).expand(len(lr)))
        own = loaded.degraded_expert()
        assert own.router is None and own.clean_expert is None
        assert torch.equal(own(lr, mel).sr, degraded(lr, mel).sr)
    # a plain generator has no route weights and is its own degraded expert
    assert degraded.route_weights(lr) is None and degraded.degraded_expert() is degraded


def test_routing_refuses_experts_of_different_architectures() -> None:
    degraded, _ = _experts()
    other = VFHGANGenerator(replace(TINY, use_audio=False))
    with pytest.raises(ValueError, match="same architecture"):
        VFHGANGenerator.routed(degraded, other, DegradationRouter())
    with pytest.raises(ValueError, match="channels"):
        RouterConfig(channels=(4, 8))


def test_the_blend_error_terms_give_the_blends_mse_and_its_best_weight() -> None:
    g = torch.Generator().manual_seed(2)
    a, b, h = (torch.rand(5, 3, 16, 16, generator=g) for _ in range(3))
    terms = blend_error_terms(a, b, h)
    for p in (0.0, 0.3, 1.0):
        direct = ((p * a + (1 - p) * b - h) ** 2).flatten(1).mean(1)
        qa, qb, qc = terms.unbind(1)
        assert torch.allclose(qa * p * p + qb * p + qc, direct, atol=1e-6)
    best = best_blend_weight(terms)
    grid = torch.linspace(0, 1, 201)
    errors = torch.stack([((p * a + (1 - p) * b - h) ** 2).flatten(1).mean(1) for p in grid])
    assert torch.allclose(best, grid[errors.argmin(0)], atol=0.006)
    assert torch.isclose(blend_log_mse(best, terms), torch.log(errors.min(0).values).mean(), atol=1e-4)


def test_a_router_learns_to_tell_clean_from_degraded_real_faces(prepare_grid_s1) -> None:
    """Trained on the blend loss with one expert right on clean inputs and the other on degraded ones,
    the router weighs them apart on frames of a clip it never saw."""
    from vfhgan_core.data.shards import load_shard
    from vfhgan_core.data.windows import find_clip_shards

    shards = find_clip_shards(prepare_grid_s1(("bbaf2n", "bbaf3s"), tag="router"))
    train_hr, test_hr = (load_shard(p).hr for p in shards.values())
    chain = DegradationConfig()

    def windows(hr: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        clean = degrade(hr, scale=4, method="bicubic_antialias")
        noisy = np.concatenate([degrade_clip(hr[i:i + 10], chain, seed=seed + i)[0] for i in range(0, len(hr), 10)])
        frames = np.concatenate([clean, noisy]).astype(np.float32) / 255
        x = torch.from_numpy(frames).permute(0, 3, 1, 2)
        idx = np.arange(len(x))
        x = torch.stack([x[np.clip(idx + k, 0, len(x) - 1)] for k in range(-2, 3)], dim=1)
        return x, torch.cat([torch.zeros(len(clean)), torch.ones(len(noisy))])

    x, is_degraded = windows(train_hr, 0)
    # each expert has an MSE of 0.002 on its own inputs and 0.1² more on the others: the blend's MSE is
    # 0.01·p² + 0.002 on clean windows and 0.01·(1 − p)² + 0.002 on degraded ones
    terms = torch.stack([torch.full_like(is_degraded, 0.01), -0.02 * is_degraded, 0.002 + 0.01 * is_degraded], dim=1)
    torch.manual_seed(0)
    router = DegradationRouter()
    opt = torch.optim.Adam(router.parameters(), lr=3e-3)
    for _ in range(150):
        idx = torch.randint(0, len(x), (64,))
        loss = blend_log_mse(torch.sigmoid(router(x[idx])), terms[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    x_test, truth = windows(test_hr, 1000)
    with torch.no_grad():
        p = torch.sigmoid(router(x_test))
    assert ((p > 0.5).float() == truth).float().mean() > 0.9
    assert p[truth == 1].mean() > 0.8 and p[truth == 0].mean() < 0.2
