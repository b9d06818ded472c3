"""Tests of vfhgan_core.models.lipreading: the lip reader and the official-checkpoint loader.

No official checkpoint can be downloaded here, so the loader is checked against an
independent reference: ``official_shapes`` lists the parameters of mpc001's
``Lipreading`` model under their official names (read from the official
``lipreading/model.py``, ``models/resnet.py`` and ``models/tcn.py``), and
``official_forward`` computes the official forward pass functionally from such a
state dict. Random weights with non-trivial batch-norm statistics are saved the way
mpc001's ``main.py`` saves them (``{"model_state_dict": ...}`` in a ``.pth.tar``),
loaded with :func:`load_mpc001_checkpoint`, and both forwards run on a real mouth
clip cut from a GRID video.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.errors import VFHGANError, WeightsNotFoundError
from vfhgan_core.models.lipreading import (
    MOUTH_CROP,
    MOUTH_MEAN,
    MOUTH_ROI,
    MOUTH_STD,
    InvalidCheckpointError,
    LipReader,
    LipReaderConfig,
    load_mpc001_checkpoint,
    mpc001_to_lipreader_key,
    normalise_mouths,
)

#: mouth box (x1, y1, x2, y2) of speaker s1 in the 360x288 GRID frames (looked up by hand)
GRID_MOUTH_BOX = (130, 186, 190, 246)
TRUNK = ((64, 1), (128, 2), (256, 2), (512, 2))  # official ResNet-18 stages: width, stride


# ----------------------------------------------------------------------------- real input


@pytest.fixture(scope="module")
def mouth_clip(grid_clip: Path) -> torch.Tensor:
    """29 real frames of a GRID clip as the lip reader expects them: (1, 1, 29, 88, 88) normalised."""
    mouths = []
    x1, y1, x2, y2 = GRID_MOUTH_BOX
    with av.open(str(grid_clip)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            gray = cv2.cvtColor(rgb[y1:y2, x1:x2], cv2.COLOR_RGB2GRAY)
            roi = cv2.resize(gray, (MOUTH_ROI, MOUTH_ROI), interpolation=cv2.INTER_LINEAR)
            start = (MOUTH_ROI - MOUTH_CROP) // 2
            mouths.append(roi[start:start + MOUTH_CROP, start:start + MOUTH_CROP])
            if len(mouths) == 29:
                break
    clip = torch.from_numpy(np.stack(mouths)).float() / 255.0
    return normalise_mouths(clip)[None, None]


# ----------------------------------------------------------------------------- official reference


def official_shapes(relu_type: str, kernels: tuple[int, ...], num_layers: int, tcn_width_mult: int,
                    num_classes: int, dwpw: bool) -> dict[str, tuple[int, ...]]:
    """Names and shapes of mpc001's ``Lipreading(modality='video', backbone_type='resnet')`` state dict."""
    shapes: dict[str, tuple[int, ...]] = {}
    prelu = relu_type == "prelu"

    def bn(prefix: str, ch: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (ch,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["frontend3D.0.weight"] = (64, 1, 5, 7, 7)
    bn("frontend3D.1", 64)
    if prelu:
        shapes["frontend3D.2.weight"] = (64,)
    inplanes = 64
    for layer, (planes, stride) in enumerate(TRUNK, start=1):
        for block in range(2):
            p = f"trunk.layer{layer}.{block}"
            cin = inplanes if block == 0 else planes
            shapes[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
            bn(f"{p}.bn1", planes)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            if prelu:
                shapes[f"{p}.relu1.weight"] = (planes,)
                shapes[f"{p}.relu2.weight"] = (planes,)
            if block == 0 and (stride != 1 or inplanes != planes):
                shapes[f"{p}.downsample.0.weight"] = (planes, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes)
        inplanes = planes
    width = 256 * len(kernels) * tcn_width_mult
    branch = width // len(kernels)
    for i in range(num_layers):
        p = f"tcn.mb_ms_tcn.network.{i}"
        block_in = 512 if i == 0 else width
        for stage, n_in in ((0, block_in), (1, width)):
            for j, k in enumerate(kernels):
                q = f"{p}.cbcr{stage}_{j}"
                if dwpw:
                    shapes[f"{q}.conv.0.weight"] = (n_in, 1, k)
                    bn(f"{q}.conv.1", n_in)
                    shapes[f"{q}.conv.4.weight"] = (branch, n_in, 1)
                    bn(f"{q}.conv.5", branch)
                    if prelu:
                        shapes[f"{q}.conv.3.weight"] = (n_in,)
                        shapes[f"{q}.conv.6.weight"] = (branch,)
                else:
                    shapes[f"{q}.conv.weight"] = (branch, n_in, k)
                    shapes[f"{q}.conv.bias"] = (branch,)
                    bn(f"{q}.batchnorm", branch)
                    if prelu:
                        shapes[f"{q}.non_lin.weight"] = (branch,)
        if block_in // len(kernels) != width:
            shapes[f"{p}.downsample.weight"] = (width, block_in, 1)
            shapes[f"{p}.downsample.bias"] = (width,)
        if prelu:
            shapes[f"{p}.relu_final.weight"] = (width,)
    shapes["tcn.tcn_output.weight"] = (num_classes, width)
    shapes["tcn.tcn_output.bias"] = (num_classes,)
    return shapes


def random_official_state(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Random weights for ``shapes`` (BN running statistics are set later by calibration)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(int(torch.randint(1, 10_000, (), generator=g)))
        elif name.endswith("running_mean"):
            state[name] = torch.zeros(shape)
        elif name.endswith("running_var"):
            state[name] = torch.ones(shape)
        elif len(shape) >= 2:  # conv / linear weights, He-scaled
            fan_in = math.prod(shape[1:])
            state[name] = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
        elif ".relu" in name or "non_lin" in name or name.startswith("frontend3D.2") or \
                name.endswith((".conv.3.weight", ".conv.6.weight")):
            state[name] = 0.05 + 0.35 * torch.rand(shape, generator=g)  # PReLU slopes
        elif name.endswith("weight"):  # BN scale
            state[name] = 0.5 + torch.rand(shape, generator=g)
        else:  # BN shift, conv / linear bias
            state[name] = 0.1 * torch.randn(shape, generator=g)
    return state


def official_forward(state: dict[str, torch.Tensor], relu_type: str, kernels: tuple[int, ...],
                     num_layers: int, dwpw: bool, x: torch.Tensor, lengths: list[int] | None = None,
                     calibrate: torch.Generator | None = None) -> torch.Tensor:
    """mpc001's video ``Lipreading.forward`` in eval mode, written functionally over official names.

    With ``calibrate`` (a generator) every BN's running statistics are first set to the
    statistics of its actual input, perturbed randomly, so activations stay O(1) while
    the statistics remain non-trivial.
    """

    def act(t: torch.Tensor, key: str, kind: str = relu_type) -> torch.Tensor:
        if kind == "prelu":
            return F.prelu(t, state[key])
        if kind == "swish":
            return t * torch.sigmoid(t)
        return F.relu(t)

    def bn(t: torch.Tensor, p: str) -> torch.Tensor:
        if calibrate is not None:
            dims = [0] + list(range(2, t.dim()))
            mean, var = t.mean(dims), t.var(dims, unbiased=False)
            noise = torch.randn(mean.shape, generator=calibrate)
            state[f"{p}.running_mean"] = mean + 0.3 * var.sqrt() * noise
            state[f"{p}.running_var"] = var * (0.5 + 1.5 * torch.rand(var.shape, generator=calibrate)) + 1e-3
        return F.batch_norm(t, state[f"{p}.running_mean"], state[f"{p}.running_var"],
                            state[f"{p}.weight"], state[f"{p}.bias"], training=False, eps=1e-5)

    batch, _, frames = x.shape[:3]
    h = F.conv3d(x, state["frontend3D.0.weight"], stride=(1, 2, 2), padding=(2, 3, 3))
    h = act(bn(h, "frontend3D.1"), "frontend3D.2.weight")
    h = F.max_pool3d(h, (1, 3, 3), (1, 2, 2), (0, 1, 1))
    h = h.transpose(1, 2).reshape(batch * frames, h.shape[1], h.shape[3], h.shape[4])
    for layer, (_, stride) in enumerate(TRUNK, start=1):
        for block in range(2):
            p = f"trunk.layer{layer}.{block}"
            s = stride if block == 0 else 1
            out = act(bn(F.conv2d(h, state[f"{p}.conv1.weight"], stride=s, padding=1), f"{p}.bn1"),
                      f"{p}.relu1.weight")
            out = bn(F.conv2d(out, state[f"{p}.conv2.weight"], padding=1), f"{p}.bn2")
            if f"{p}.downsample.0.weight" in state:
                res = bn(F.conv2d(h, state[f"{p}.downsample.0.weight"], stride=s), f"{p}.downsample.1")
            else:
                res = h
            h = act(out + res, f"{p}.relu2.weight")
    seq = h.mean(dim=(2, 3)).view(batch, frames, -1).transpose(1, 2)  # (B, 512, T)

    def cbcr(t: torch.Tensor, q: str, k: int, dilation: int) -> torch.Tensor:
        pad = (k - 1) * dilation
        if dwpw:  # Sequential: 0 dw conv, 1 BN, 2 symmetric chomp, 3 act, 4 pw conv, 5 BN, 6 act
            kind = "prelu" if relu_type == "prelu" else "relu"
            t = F.conv1d(t, state[f"{q}.conv.0.weight"], padding=pad, dilation=dilation, groups=t.shape[1])
            t = bn(t, f"{q}.conv.1")[:, :, pad // 2:-(pad // 2)]
            t = act(t, f"{q}.conv.3.weight", kind)
            t = bn(F.conv1d(t, state[f"{q}.conv.4.weight"]), f"{q}.conv.5")
            return act(t, f"{q}.conv.6.weight", kind)
        t = F.conv1d(t, state[f"{q}.conv.weight"], state[f"{q}.conv.bias"], padding=pad, dilation=dilation)
        t = bn(t, f"{q}.batchnorm")[:, :, pad // 2:-(pad // 2)]
        return act(t, f"{q}.non_lin.weight")

    for i in range(num_layers):
        p, d = f"tcn.mb_ms_tcn.network.{i}", 2 ** i
        out0 = torch.cat([cbcr(seq, f"{p}.cbcr0_{j}", k, d) for j, k in enumerate(kernels)], 1)
        out1 = torch.cat([cbcr(out0, f"{p}.cbcr1_{j}", k, d) for j, k in enumerate(kernels)], 1)
        if f"{p}.downsample.weight" in state:
            res = F.conv1d(seq, state[f"{p}.downsample.weight"], state[f"{p}.downsample.bias"])
        else:
            res = seq
        seq = act(out1 + res, f"{p}.relu_final.weight")
    lengths = lengths or [frames] * batch
    pooled = torch.stack([seq[b][:, :n].mean(1) for b, n in enumerate(lengths)], 0)
    return F.linear(pooled, state["tcn.tcn_output.weight"], state["tcn.tcn_output.bias"])


def official_json(path: Path, relu_type: str, kernels: tuple[int, ...], num_layers: int,
                  dwpw: bool, **extra) -> Path:
    """An official-format model json (as configs/lrw_resnet18_mstcn.json)."""
    data = {"backbone_type": "resnet", "relu_type": relu_type, "tcn_dropout": 0.2, "tcn_dwpw": dwpw,
            "tcn_kernel_size": list(kernels), "tcn_num_layers": num_layers, "tcn_width_mult": 1,
            "width_mult": 1.0, **extra}
    path.write_text(json.dumps(data, indent=4))
    return path


def make_official(tmp: Path, clip: torch.Tensor, relu_type: str, kernels: tuple[int, ...],
                  num_layers: int, dwpw: bool, num_classes: int, seed: int):
    """Random calibrated official checkpoint + json in ``tmp``; returns (state, ckpt path, json path)."""
    state = random_official_state(official_shapes(relu_type, kernels, num_layers, 1, num_classes, dwpw), seed)
    with torch.no_grad():
        official_forward(state, relu_type, kernels, num_layers, dwpw, clip,
                         calibrate=torch.Generator().manual_seed(seed + 1))
    ckpt = tmp / "model.pth.tar"
    torch.save({"epoch_idx": 80, "model_state_dict": state, "best_prec": 0.889}, ckpt)
    return state, ckpt, official_json(tmp / "model.json", relu_type, kernels, num_layers, dwpw)


SMALL = dict(relu_type="prelu", kernels=(3, 5), num_layers=2, dwpw=False, num_classes=7)


@pytest.fixture(scope="module")
def small_official(tmp_path_factory, mouth_clip):
    """Smallest official-compatible model with every parameter type (PReLU everywhere, 2 TCN blocks)."""
    tmp = tmp_path_factory.mktemp("official_small")
    return make_official(tmp, mouth_clip, seed=0, **SMALL)


# ----------------------------------------------------------------------------- loader tests


@pytest.mark.slow
def test_loaded_official_checkpoint_matches_official_forward_on_real_clip(small_official, mouth_clip):
    state, ckpt, cfg = small_official
    model = load_mpc001_checkpoint(ckpt, cfg)
    assert not model.training
    assert model.config.num_classes == 7 and model.config.tcn_kernel_size == (3, 5)
    # two clips in one batch: the real clip and the same clip reversed in time,
    # the second one with only 17 valid frames (padded batches of the official loader)
    batch = torch.cat([mouth_clip, mouth_clip.flip(2)], 0)
    with torch.no_grad():
        expected = official_forward(state, SMALL["relu_type"], SMALL["kernels"], SMALL["num_layers"],
                                    SMALL["dwpw"], batch, lengths=[29, 17])
        got = model(batch, lengths=[29, 17])
    assert expected.abs().max() > 0.1  # non-trivial logits
    assert torch.allclose(got, expected, atol=1e-4, rtol=0), (got - expected).abs().max()
    assert not torch.allclose(got[0], got[1], atol=1e-2)


@pytest.mark.slow
@pytest.mark.parametrize("relu_type,dwpw,frames", [("swish", True, 9), ("relu", False, 5)])
def test_official_variants_swish_dwpw_and_relu(tmp_path, mouth_clip, relu_type, dwpw, frames):
    kernels, layers = (3, 5, 7), 2
    clip = mouth_clip[:, :, :frames]
    state, ckpt, cfg = make_official(tmp_path, clip, relu_type, kernels, layers, dwpw, 4, seed=3)
    model = load_mpc001_checkpoint(ckpt, cfg)
    with torch.no_grad():
        expected = official_forward(state, relu_type, kernels, layers, dwpw, clip)
        got = model(clip)
    assert torch.allclose(got, expected, atol=1e-4, rtol=0), (got - expected).abs().max()


def test_lrw_config_key_set_and_shapes_match_official():
    official = official_shapes("swish", (3, 5, 7), 4, 1, 500, False)
    ours = {k: tuple(v.shape) for k, v in LipReader(LipReaderConfig.lrw()).state_dict().items()}
    mapped = {mpc001_to_lipreader_key(k): s for k, s in official.items()}
    assert None not in mapped
    assert mapped == ours
    n_official = sum(math.prod(s) for k, s in official.items() if "running" not in k and "num_batches" not in k)
    assert n_official == sum(p.numel() for p in LipReader(LipReaderConfig.lrw()).parameters())


def test_module_prefixed_keys_load_the_same_weights(small_official, tmp_path):
    state, ckpt, cfg = small_official
    wrapped = tmp_path / "dp.pth.tar"
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    a, b = load_mpc001_checkpoint(ckpt, cfg), load_mpc001_checkpoint(wrapped, cfg)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(sa["classifier.weight"], state["tcn.tcn_output.weight"])


class _Trap:
    """Unpickling this would create a file: weights_only loading must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_arbitrary_pickled_objects_are_refused(tmp_path, small_official):
    _, _, cfg = small_official
    marker = tmp_path / "executed"
    bad = tmp_path / "evil.pth.tar"
    torch.save({"model_state_dict": {"frontend3D.0.weight": torch.zeros(1)}, "extra": _Trap(marker)}, bad)
    with pytest.raises(InvalidCheckpointError, match="never unpickled"):
        load_mpc001_checkpoint(bad, cfg)
    assert not marker.exists()


def test_wrong_files_give_clear_errors(tmp_path, small_official, grid_clip):
    state, ckpt, cfg = small_official
    with pytest.raises(WeightsNotFoundError, match="not found"):
        load_mpc001_checkpoint(tmp_path / "absent.pth.tar", cfg)
    with pytest.raises(WeightsNotFoundError, match="not found"):
        load_mpc001_checkpoint(ckpt, tmp_path / "absent.json")
    # a video is not a checkpoint
    with pytest.raises(InvalidCheckpointError, match="not a PyTorch checkpoint|not a readable"):
        load_mpc001_checkpoint(grid_clip, cfg)
    # a checkpoint is not a config
    with pytest.raises(InvalidCheckpointError, match="not a JSON"):
        load_mpc001_checkpoint(ckpt, ckpt)
    # a checkpoint without weights
    empty = tmp_path / "empty.pth.tar"
    torch.save({"epoch_idx": 3}, empty)
    with pytest.raises(InvalidCheckpointError, match="no model weights"):
        load_mpc001_checkpoint(empty, cfg)


def test_missing_keys_are_listed(tmp_path, small_official):
    state, _, cfg = small_official
    dropped = {k: v for k, v in state.items() if not k.startswith("trunk.layer3.1.")}
    path = tmp_path / "partial.pth.tar"
    torch.save({"model_state_dict": dropped}, path)
    with pytest.raises(InvalidCheckpointError, match=r"missing weights for trunk\.layer3\.1\.") as info:
        load_mpc001_checkpoint(path, cfg)
    assert "in all)" in str(info.value)  # a few listed, with the total


def test_config_checkpoint_mismatch(tmp_path, small_official):
    _, ckpt, _ = small_official
    three = official_json(tmp_path / "k357.json", "prelu", (3, 5, 7), 2, False)
    with pytest.raises(InvalidCheckpointError, match="does not match config") as info:
        load_mpc001_checkpoint(ckpt, three)
    assert "cbcr" in str(info.value) or "stage" in str(info.value)
    swish = official_json(tmp_path / "swish.json", "swish", (3, 5), 2, False)
    with pytest.raises(InvalidCheckpointError, match="PReLU"):
        load_mpc001_checkpoint(ckpt, swish)
    classes = official_json(tmp_path / "classes.json", "prelu", (3, 5), 2, False, num_classes=500)
    with pytest.raises(InvalidCheckpointError, match="500 classes"):
        load_mpc001_checkpoint(ckpt, classes)


def test_unsupported_models_are_named(tmp_path, small_official):
    _, ckpt, cfg = small_official
    audio = {"trunk.conv1.weight": torch.zeros(64, 1, 80), "trunk.layer1.0.conv1.weight": torch.zeros(64, 64, 3),
             "tcn.tcn_output.weight": torch.zeros(500, 768)}
    path = tmp_path / "audio.pth.tar"
    torch.save({"model_state_dict": audio}, path)
    with pytest.raises(InvalidCheckpointError, match="audio-only"):
        load_mpc001_checkpoint(path, cfg)
    dctcn = tmp_path / "dctcn.json"
    dctcn.write_text(json.dumps({"backbone_type": "resnet", "relu_type": "swish",
                                 "densetcn_block_config": [3, 3, 3, 3], "densetcn_dropout": 0.2}))
    with pytest.raises(InvalidCheckpointError, match="DC-TCN"):
        load_mpc001_checkpoint(ckpt, dctcn)
    shufflenet = official_json(tmp_path / "snv.json", "prelu", (3, 5), 2, False, backbone_type="shufflenet")
    with pytest.raises(InvalidCheckpointError, match="shufflenet"):
        load_mpc001_checkpoint(ckpt, shufflenet)
    assert issubclass(InvalidCheckpointError, VFHGANError)


def test_key_mapping_examples():
    assert mpc001_to_lipreader_key("frontend3D.2.weight") == "frontend.act.weight"
    assert mpc001_to_lipreader_key("trunk.layer2.0.downsample.1.running_var") == "trunk.layer2.0.shortcut.1.running_var"
    assert mpc001_to_lipreader_key("tcn.mb_ms_tcn.network.3.cbcr1_2.batchnorm.bias") == "tcn.blocks.3.stage1.2.bn.bias"
    pointwise = mpc001_to_lipreader_key("tcn.mb_ms_tcn.network.0.cbcr0_1.conv.4.weight")
    assert pointwise == "tcn.blocks.0.stage0.1.pointwise.weight"
    assert mpc001_to_lipreader_key("tcn.tcn_output.bias") == "classifier.bias"
    assert mpc001_to_lipreader_key("optimizer.state") is None


# ----------------------------------------------------------------------------- model tests


def test_config_presets_round_trip_and_validation():
    for cfg in (LipReaderConfig.lrw(), LipReaderConfig.grid()):
        assert from_dict(LipReaderConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
    lrw, grid = LipReaderConfig.lrw(), LipReaderConfig.grid()
    assert lrw.channels == (64, 128, 256, 512) and lrw.tcn_channels == 768 and lrw.num_classes == 500
    assert grid.num_classes == 51 and grid.channels == (16, 32, 64, 128)
    assert LipReaderConfig(trunk_channels=[8, 8, 16, 16]).channels == (8, 8, 16, 16)
    for bad in (dict(relu_type="gelu"), dict(tcn_kernel_size=(3, 4)), dict(backbone_type="shufflenet"),
                dict(num_classes=0), dict(trunk_channels=(8, 8))):
        with pytest.raises(ValueError):
            LipReaderConfig(**bad)


def test_parameter_counts():
    n_lrw = sum(p.numel() for p in LipReader(LipReaderConfig.lrw()).parameters())
    n_grid = sum(p.numel() for p in LipReader(LipReaderConfig.grid()).parameters())
    assert 36e6 < n_lrw < 37e6  # 11.2 M trunk + 24.6 M TCN + classifier
    assert n_grid < 1.5e6 and n_grid * 20 < n_lrw


TINY = LipReaderConfig(trunk_channels=(8, 8, 16, 16), tcn_hidden_dim=4, tcn_num_layers=2, num_classes=5)


def test_extract_features_names_shapes_and_early_stop(mouth_clip):
    model = LipReader(LipReaderConfig.grid()).eval()
    clip = mouth_clip[:, :, :6]
    with torch.no_grad():
        feats = model.extract_features(clip, LipReader.FEATURE_NAMES)
        assert set(feats) == set(LipReader.FEATURE_NAMES)
        assert feats["frontend"].shape == (1, 6, 16, 22, 22)
        assert feats["trunk.layer1"].shape == (1, 6, 16, 22, 22)
        assert feats["trunk.layer2"].shape == (1, 6, 32, 11, 11)
        assert feats["trunk.layer3"].shape == (1, 6, 64, 6, 6)
        assert feats["trunk.layer4"].shape == (1, 6, 128, 3, 3)
        assert feats["trunk.pool"].shape == (1, 6, 128)
        assert feats["tcn"].shape == (1, 6, 96)
        assert torch.allclose(feats["logits"], model(clip), atol=1e-6)
        assert torch.allclose(feats["trunk.pool"], feats["trunk.layer4"].mean(dim=(3, 4)), atol=1e-6)
        calls = []
        hook = model.trunk.layer3.register_forward_hook(lambda *a: calls.append(1))
        only = model.extract_features(clip, ["trunk.layer2", "frontend"])
        hook.remove()
    assert set(only) == {"frontend", "trunk.layer2"} and not calls
    assert torch.equal(only["trunk.layer2"], feats["trunk.layer2"])
    with pytest.raises(ValueError, match="unknown feature"):
        model.extract_features(clip, ["trunk.layer5"])


def test_variable_lengths_average_only_valid_frames():
    torch.manual_seed(0)
    model = LipReader(TINY).eval()
    clips = torch.randn(3, 1, 10, 88, 88)
    with torch.no_grad():
        tcn = model.extract_features(clips, ["tcn"])["tcn"]  # (B, T, C)
        lengths = [10, 4, 7]
        got = model(clips, lengths=torch.tensor(lengths))
        expected = torch.stack([model.classifier(tcn[b, :n].mean(0)) for b, n in enumerate(lengths)])
        assert torch.allclose(got, expected, atol=1e-5)
        assert torch.allclose(model(clips), model(clips, lengths=[10, 10, 10]), atol=1e-6)
        # the frames after a clip's length are left out of its average
        assert not torch.allclose(got[1], model(clips)[1], atol=1e-4)
    for bad in ([10, 0, 3], [10, 11, 3], [10, 4]):
        with pytest.raises(ValueError, match="length"):
            model(clips, lengths=bad)


def test_input_validation():
    model = LipReader(TINY).eval()
    with pytest.raises(ValueError, match=r"\(B, 1, T, H, W\)"):
        model(torch.zeros(1, 3, 4, 88, 88))
    with pytest.raises(ValueError, match="float"):
        model(torch.zeros(1, 1, 4, 88, 88, dtype=torch.uint8))


def test_training_step_reaches_every_parameter():
    torch.manual_seed(0)
    model = LipReader(TINY).train()
    logits = model(torch.randn(2, 1, 6, 88, 88))
    F.cross_entropy(logits, torch.tensor([1, 3])).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_save_and_load_pretrained_round_trip(tmp_path, mouth_clip, capfd):
    torch.manual_seed(1)
    model = LipReader(LipReaderConfig.grid()).eval()
    with torch.no_grad():  # non-default BN statistics must survive the round trip too
        model.frontend.bn.running_mean.uniform_(-0.2, 0.2)
    model.save_pretrained(tmp_path / "reader")
    saved = json.loads((tmp_path / "reader" / "config.json").read_text())
    assert saved["num_classes"] == 51 and saved["tcn_kernel_size"] == [3, 5, 7]
    capfd.readouterr()
    loaded = LipReader.from_pretrained(tmp_path / "reader").eval()
    assert capfd.readouterr().out == ""  # no "Loading weights from local directory" on stdout
    assert loaded.config == model.config
    clip = mouth_clip[:, :, :8]
    with torch.no_grad():
        assert torch.equal(loaded(clip), model(clip))


def test_normalisation_constants():
    assert (MOUTH_MEAN, MOUTH_STD, MOUTH_ROI, MOUTH_CROP) == (0.421, 0.165, 96, 88)
    x = torch.tensor([0.0, 0.421, 1.0])
    assert torch.allclose(normalise_mouths(x), torch.tensor([-0.421 / 0.165, 0.0, 0.579 / 0.165]))
