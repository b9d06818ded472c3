"""VGG19: torchvision's state-dict layout, weight loading, named features."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import torch

from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.models.vgg import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG19,
    VGG19_LAYER_NAMES,
    VGGFeatures,
    load_vgg19_weights,
)

# torchvision.models.vgg19().state_dict(), written out from torchvision/models/vgg.py (cfg "E",
# make_layers: Conv2d + ReLU per number, MaxPool2d per "M"; classifier Linear/ReLU/Dropout x2 + Linear)
_CONV = [  # (features index, out channels, in channels)
    (0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128),
    (10, 256, 128), (12, 256, 256), (14, 256, 256), (16, 256, 256),
    (19, 512, 256), (21, 512, 512), (23, 512, 512), (25, 512, 512),
    (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512),
]
TORCHVISION_VGG19 = {}
for _i, _out, _in in _CONV:
    TORCHVISION_VGG19[f"features.{_i}.weight"] = (_out, _in, 3, 3)
    TORCHVISION_VGG19[f"features.{_i}.bias"] = (_out,)
TORCHVISION_VGG19.update({
    "classifier.0.weight": (4096, 25088), "classifier.0.bias": (4096,),
    "classifier.3.weight": (4096, 4096), "classifier.3.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
})


@pytest.fixture(scope="module")
def feature_weights(tmp_path_factory):
    """A random VGG19 (features only) saved as a torch file; returns (path, state dict)."""
    torch.manual_seed(0)
    state = VGG19(with_classifier=False).state_dict()
    path = tmp_path_factory.mktemp("vgg") / "vgg19_features.pth"
    torch.save(state, path)
    return path, state


def test_state_dict_matches_torchvision_layout():
    with torch.device("meta"):
        full = VGG19()
    shapes = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert shapes == TORCHVISION_VGG19
    assert list(shapes) == list(TORCHVISION_VGG19)  # same order as torchvision
    with torch.device("meta"):
        headless = VGG19(with_classifier=False)
    assert set(headless.state_dict()) == {k for k in TORCHVISION_VGG19 if k.startswith("features.")}


def test_layer_names_follow_the_features_indices():
    assert len(VGG19_LAYER_NAMES) == 37
    assert VGG19_LAYER_NAMES[3] == "relu1_2" and VGG19_LAYER_NAMES[8] == "relu2_2"
    assert VGG19_LAYER_NAMES[17] == "relu3_4" and VGG19_LAYER_NAMES[26] == "relu4_4"
    assert VGG19_LAYER_NAMES[34] == "conv5_4" and VGG19_LAYER_NAMES[35] == "relu5_4"
    convs = [i for i, n in enumerate(VGG19_LAYER_NAMES) if n.startswith("conv")]
    assert convs == [i for i, _, _ in _CONV]


def test_features_are_named_activations_of_normalised_input(feature_weights):
    path, state = feature_weights
    extractor = VGGFeatures(layers=("relu2_2", "conv1_1", "relu3_4"), weights=path)
    assert len(extractor.features) == 18  # stops at relu3_4
    assert not any(p.requires_grad for p in extractor.parameters())
    x = torch.rand(2, 3, 32, 40)
    out = extractor(x)
    assert list(out) == ["relu2_2", "conv1_1", "relu3_4"]
    assert out["conv1_1"].shape == (2, 64, 32, 40)
    assert out["relu2_2"].shape == (2, 128, 16, 20)
    assert out["relu3_4"].shape == (2, 256, 8, 10)
    # same numbers as the full network with the same weights, run by hand on normalised input
    vgg = VGG19(with_classifier=False)
    vgg.load_state_dict(state)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    h = (x - mean) / std
    with torch.no_grad():
        torch.testing.assert_close(out["conv1_1"], vgg.features[:1](h))
        torch.testing.assert_close(out["relu2_2"], vgg.features[:9](h))
        torch.testing.assert_close(out["relu3_4"], vgg.features[:18](h))
    assert (out["relu3_4"] >= 0).all() and (out["conv1_1"] < 0).any()


def test_gradient_reaches_the_input_not_the_weights():
    extractor = VGGFeatures(layers=("relu2_2",))
    extractor.train()
    assert not extractor.training
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    extractor(x)["relu2_2"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in extractor.parameters())


def test_load_from_torch_file_and_safetensors(feature_weights, tmp_path):
    from safetensors.torch import save_file

    path, state = feature_weights
    model = load_vgg19_weights(VGG19(with_classifier=False), path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])
    st_path = tmp_path / "vgg19.safetensors"
    save_file({k: v for k, v in state.items() if k in ("features.0.weight", "features.0.bias",
                                                       "features.2.weight", "features.2.bias")}, str(st_path))
    small = VGGFeatures(layers=("relu1_2",), weights=st_path)
    assert torch.equal(small.features[2].weight, state["features.2.weight"])
    # DataParallel-style "module." prefixes are accepted
    prefixed = tmp_path / "prefixed.pth"
    torch.save({"module." + k: v for k, v in state.items() if k.startswith("features.0.")}, prefixed)
    conv1 = VGGFeatures(layers=("conv1_1",), weights=prefixed)
    assert torch.equal(conv1.features[0].bias, state["features.0.bias"])


def test_load_errors_are_clear(feature_weights, tmp_path):
    path, _ = feature_weights
    with pytest.raises(WeightsNotFoundError, match="not found"):
        load_vgg19_weights(VGG19(with_classifier=False), tmp_path / "missing.pth")
    with pytest.raises(WeightsNotFoundError, match="classifier"):
        with torch.device("meta"):
            full = VGG19()
        load_vgg19_weights(full, path)  # the file has no classifier
    lfs = tmp_path / "vgg19.pth"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 574673361\n")
    with pytest.raises(WeightsNotFoundError, match="could not read"):
        load_vgg19_weights(VGG19(with_classifier=False), lfs)
    bn = tmp_path / "bn.pth"
    torch.save({"features.1.running_mean": torch.zeros(64)}, bn)
    with pytest.raises(WeightsNotFoundError, match="unexpected keys"):
        load_vgg19_weights(VGGFeatures(layers=("conv1_1",)), bn)
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(32, 3, 3, 3), "features.0.bias": torch.zeros(32)}, wrong)
    with pytest.raises(WeightsNotFoundError, match="wrong shape"):
        load_vgg19_weights(VGGFeatures(layers=("conv1_1",)), wrong)


def test_unresolvable_host_fails_fast(tmp_path):
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError, match="not reachable"):
        load_vgg19_weights(VGG19(with_classifier=False), "https://weights.invalid/vgg19-dcbb9e9d.pth",
                           model_dir=str(tmp_path), timeout=1.0)
    assert time.monotonic() - start < 5.0
    assert not any(tmp_path.iterdir())  # nothing half-written into the cache


def test_stalled_server_times_out_instead_of_hanging(tmp_path):
    """A server that accepts the connection but never answers must not hang the caller."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    stop = threading.Event()
    held = []

    def accept_and_stall():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept_and_stall, daemon=True)
    thread.start()
    previous = socket.getdefaulttimeout()
    try:
        start = time.monotonic()
        with pytest.raises(WeightsNotFoundError, match="could not load VGG19 weights"):
            load_vgg19_weights(VGG19(with_classifier=False), f"http://127.0.0.1:{port}/vgg19.pth",
                               model_dir=str(tmp_path), timeout=1.0)
        assert time.monotonic() - start < 6.0
        assert socket.getdefaulttimeout() == previous  # the global default is restored
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_url_already_in_cache_loads_without_network(feature_weights, tmp_path):
    path, state = feature_weights
    (tmp_path / "vgg19-cached.pth").write_bytes(path.read_bytes())
    model = load_vgg19_weights(VGG19(with_classifier=False), "https://weights.invalid/vgg19-cached.pth",
                               model_dir=str(tmp_path))
    assert torch.equal(model.features[34].weight, state["features.34.weight"])


def test_unknown_layer_name_is_rejected():
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        VGGFeatures(layers=("relu6_1",))
