"""VGG19 (configuration "E") with torchvision's state-dict layout, and a feature extractor.

torchvision does not import next to this project's torch build, so the network
is defined here. Its parameters carry exactly the names and shapes of
``torchvision.models.vgg19().state_dict()`` (``features.0.weight`` …
``features.34.bias``, ``classifier.0/3/6.weight|bias``), so the ImageNet file
``vgg19-dcbb9e9d.pth`` (or a safetensors conversion of it) loads unchanged with
:func:`load_vgg19_weights`.

``features`` indices and the layer names used by :class:`VGGFeatures`::

    0 conv1_1  1 relu1_1  2 conv1_2  3 relu1_2  4 pool1
    5 conv2_1  6 relu2_1  7 conv2_2  8 relu2_2  9 pool2
   10 conv3_1 11 relu3_1 12 conv3_2 13 relu3_2 14 conv3_3 15 relu3_3 16 conv3_4 17 relu3_4 18 pool3
   19 conv4_1 20 relu4_1 ... 25 conv4_4 26 relu4_4 27 pool4
   28 conv5_1 29 relu5_1 ... 34 conv5_4 35 relu5_4 36 pool5

No weights ship with the project and none can be downloaded on the build
machines; a user who has the ImageNet file passes its path or URL.
"""
from __future__ import annotations

import os
import socket
import time
import urllib.parse
from pathlib import Path
from typing import Mapping, Sequence, Union

import torch
from torch import nn

from ..errors import WeightsNotFoundError

__all__ = [
    "VGG19",
    "VGGFeatures",
    "VGG19_LAYER_NAMES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TORCHVISION_VGG19_URL",
    "load_vgg19_weights",
    "read_state_dict",
]

#: torchvision's ImageNet VGG19 weights (548 MB); not reachable from the project's build machines.
TORCHVISION_VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"

#: ImageNet channel statistics (RGB) that torchvision's VGG weights expect, for inputs in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# configuration "E": output channels of each 3x3 conv, "M" = 2x2 max pool
_CFG_E: tuple[Union[int, str], ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    block, conv = 1, 1
    for v in _CFG_E:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return tuple(names)


#: names of ``VGG19().features[i]`` for i = 0 … 36
VGG19_LAYER_NAMES: tuple[str, ...] = _layer_names()


def _make_features(n_layers: int = len(VGG19_LAYER_NAMES)) -> nn.Sequential:
    """The first ``n_layers`` modules of VGG19's ``features`` (ReLUs not in place)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in _CFG_E:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_ch = int(v)
    return nn.Sequential(*layers[:n_layers])


class VGG19(nn.Module):
    """VGG19 (Simonyan & Zisserman, configuration "E") with torchvision's parameter names.

    Args:
        num_classes: size of the last classifier layer (ImageNet: 1000).
        with_classifier: build ``avgpool`` and the 3 fully connected layers (102 M of the
            143 M parameters). Set False for a feature extractor: the state dict then holds
            only the ``features.*`` entries.

    ``forward(x)``: ``x`` float ``(B, 3, H, W)``, already ImageNet-normalised
    (see :data:`IMAGENET_MEAN`); returns logits ``(B, num_classes)``, or the
    ``pool5`` features ``(B, 512, H/32, W/32)`` without the classifier.
    Weights are initialised like torchvision (Kaiming normal convs, N(0, 0.01) linears).
    """

    def __init__(self, num_classes: int = 1000, with_classifier: bool = True) -> None:
        super().__init__()
        self.features = _make_features()
        self.with_classifier = bool(with_classifier)
        if self.with_classifier:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=0.5),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=0.5),
                nn.Linear(4096, num_classes),
            )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if not self.with_classifier:
            return x
        return self.classifier(torch.flatten(self.avgpool(x), 1))


class VGGFeatures(nn.Module):
    """Named VGG19 activations of ``[0, 1]`` RGB images (frozen, evaluation mode).

    Args:
        layers: names from :data:`VGG19_LAYER_NAMES` (e.g. ``"relu3_4"``, ``"conv5_4"``),
            returned in this order. Only the layers up to the deepest one are built and run.
        weights: optional path or URL of a VGG19 ImageNet state dict (see
            :func:`load_vgg19_weights`); without it the weights are random.
        normalize_input: subtract :data:`IMAGENET_MEAN` and divide by :data:`IMAGENET_STD`
            (set False if the input is already normalised).

    ``forward(x)``: ``x`` float ``(B, 3, H, W)`` RGB in ``[0, 1]`` → ``dict`` name →
    activation ``(B, C_l, H_l, W_l)``. Parameters do not require gradients, but gradients
    flow through to ``x``. The state dict uses torchvision's ``features.<i>.*`` names.
    """

    def __init__(
        self,
        layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4"),
        weights: str | os.PathLike[str] | None = None,
        normalize_input: bool = True,
    ) -> None:
        super().__init__()
        layers = tuple(layers)
        if not layers:
            raise ValueError("VGGFeatures needs at least one layer name")
        unknown = [n for n in layers if n not in VGG19_LAYER_NAMES]
        if unknown:
            raise ValueError(f"unknown VGG19 layer(s) {unknown}; valid names: {', '.join(VGG19_LAYER_NAMES)}")
        self.layers = layers
        self._index = {n: VGG19_LAYER_NAMES.index(n) for n in layers}
        self.features = _make_features(max(self._index.values()) + 1)
        for m in self.features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.normalize_input = bool(normalize_input)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if weights is not None:
            load_vgg19_weights(self, weights)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Always stays in evaluation mode (a fixed feature extractor)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects RGB images (B, 3, H, W), got {tuple(x.shape)}")
        if self.normalize_input:
            x = (x - self.mean) / self.std
        wanted = {i: n for n, i in self._index.items()}
        out: dict[str, torch.Tensor] = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in wanted:
                out[wanted[i]] = x
        return {n: out[n] for n in self.layers}


def _is_url(s: str) -> bool:
    return urllib.parse.urlparse(s).scheme in ("http", "https")


def _probe(url: str, timeout: float) -> None:
    """Fail fast (``WeightsNotFoundError``) when the URL's host cannot be reached."""
    parts = urllib.parse.urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    start = time.monotonic()
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise WeightsNotFoundError(
            f"cannot download VGG19 weights from {url}: host {parts.hostname}:{port} is not reachable "
            f"({type(exc).__name__}: {exc}; gave up after {time.monotonic() - start:.1f} s). "
            "Download the file on a machine with internet access and pass its local path, "
            "or train without VGG weights (the perceptual term then uses discriminator feature matching)."
        ) from exc


def read_state_dict(path_or_url: str | os.PathLike[str], *, model_dir: str | None = None,
                    timeout: float = 10.0) -> dict[str, torch.Tensor]:
    """Read a state dict from a local file (``.safetensors`` or a torch pickle) or a URL.

    Local torch files are read with ``torch.load(weights_only=True)`` (no code runs). URLs go
    through ``torch.hub.load_state_dict_from_url`` (cached in ``model_dir``, default
    ``$TORCH_HOME/hub/checkpoints``; a cached file is used without any network access). The
    host is probed first (TCP connect, ``timeout`` seconds) so an offline machine gets a clear
    error at once, and during the download sockets get ``timeout`` seconds of inactivity
    (``socket.setdefaulttimeout``, restored afterwards) so a stalled server cannot hang training.

    Raises:
        WeightsNotFoundError: the file is missing, unreadable or not a state dict, or the URL
            cannot be reached.
    """
    src = os.fspath(path_or_url)
    if _is_url(src):
        cache_dir = Path(model_dir) if model_dir else Path(torch.hub.get_dir()) / "checkpoints"
        cached = cache_dir / Path(urllib.parse.urlparse(src).path).name
        if not cached.is_file():
            _probe(src, timeout)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout)
        try:
            state = torch.hub.load_state_dict_from_url(
                src, model_dir=str(cache_dir), map_location="cpu", progress=False, weights_only=True
            )
        except Exception as exc:  # network failure mid-download, HTTP error, bad file
            raise WeightsNotFoundError(
                f"could not load VGG19 weights from {src}: {type(exc).__name__}: {exc}. "
                "Download the file yourself and pass its local path."
            ) from exc
        finally:
            socket.setdefaulttimeout(previous)
    else:
        path = Path(src).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"VGG19 weights file not found: {path}. Pass the path of torchvision's "
                f"vgg19-dcbb9e9d.pth (from {TORCHVISION_VGG19_URL}) or a safetensors copy of it, "
                "or leave the VGG weights unset to use discriminator feature matching instead."
            )
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path), device="cpu")
            else:
                state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsNotFoundError(
                f"could not read VGG19 weights from {path}: {type(exc).__name__}: {exc}. "
                "The file may be truncated (e.g. a Git LFS pointer) or not a PyTorch/safetensors file."
            ) from exc
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsNotFoundError(f"{src} does not hold a state dict of tensors")
    # weights saved from nn.DataParallel carry a "module." prefix
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def load_vgg19_weights(model: nn.Module, path_or_url: str | os.PathLike[str], *,
                       model_dir: str | None = None, timeout: float = 10.0) -> nn.Module:
    """Load torchvision-layout VGG19 ImageNet weights into ``model`` (in place; returns it).

    ``model`` is a :class:`VGG19` or :class:`VGGFeatures` (or any module whose state dict is a
    subset of torchvision's VGG19 keys). Every parameter of ``model`` must be in the file
    with the same shape; entries ``model`` does not have (the classifier, or layers deeper
    than a :class:`VGGFeatures` needs) are ignored if they belong to VGG19. A file that holds
    keys VGG19 does not have (e.g. ``vgg19_bn``) is rejected.

    ``model_dir`` and ``timeout`` (seconds) are passed to :func:`read_state_dict` for URLs.

    Raises:
        WeightsNotFoundError: unreadable/unreachable source, or weights that are not VGG19's.
    """
    state = read_state_dict(path_or_url, model_dir=model_dir, timeout=timeout)
    with torch.device("meta"):
        vgg_shapes = {k: tuple(v.shape) for k, v in VGG19().state_dict().items()}
    foreign = sorted(k for k in state if k not in vgg_shapes)
    if foreign:
        raise WeightsNotFoundError(
            f"{os.fspath(path_or_url)} is not a plain VGG19 state dict: unexpected keys "
            f"{foreign[:5]}{' ...' if len(foreign) > 5 else ''} (a batch-norm VGG, or another network?)"
        )
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state)
    if missing:
        raise WeightsNotFoundError(
            f"{os.fspath(path_or_url)} lacks VGG19 weights {missing[:5]}{' ...' if len(missing) > 5 else ''}"
        )
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
             for k, v in own.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise WeightsNotFoundError(f"{os.fspath(path_or_url)} has VGG19 weights of the wrong shape: {wrong[:3]}")
    model.load_state_dict({k: state[k] for k in own}, strict=True)
    return model
