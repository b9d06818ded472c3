"""Files of trained networks from a local folder or the Hugging Face Hub, without waiting on a dead network.

:func:`resolve_file` finds one file: in a folder, in the Hugging Face cache, or (only when
``HF_HUB_OFFLINE`` is unset and the Hub's host answers a short connection check) by
download; a plain ``hf_hub_download`` would retry for ~23 s before failing offline.
:func:`load_pretrained` builds a network from its ``config.json`` and loads its
``model.safetensors`` strictly; the generator and the lip reader both load through it.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import safetensors
import safetensors.torch
import torch
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from vfhgan_core.config import from_dict
from vfhgan_core.errors import WeightsNotFoundError

__all__ = ["CONNECT_TIMEOUT", "StrictPretrained", "hub_reachable", "load_pretrained", "resolve_file"]

#: seconds allowed for the check that the Hub host answers
CONNECT_TIMEOUT = 2.0

M = TypeVar("M", bound=torch.nn.Module)


def hub_reachable(timeout: float = CONNECT_TIMEOUT) -> bool:
    """True when the Hub endpoint accepts a TCP connection within ``timeout`` seconds."""
    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_file(
    source: str | os.PathLike,
    filename: str,
    subfolder: str | None = None,
    local_files_only: bool = False,
    **download_kwargs,
) -> Path:
    """Local path of ``filename`` from a directory or a Hub repo (cache first, then the network).

    ``download_kwargs`` (``revision``, ``cache_dir``, ``token``, ``force_download``) go to
    :func:`huggingface_hub.hf_hub_download`. Raises :class:`WeightsNotFoundError` saying
    what was tried and what to do.
    """
    source = str(source)
    if os.path.isdir(source):
        path = Path(source) / (subfolder or "") / filename
        if not path.is_file():
            raise WeightsNotFoundError(
                f"{path} does not exist: a weights folder needs config.json and model.safetensors "
                "(written by save_pretrained)"
            )
        return path
    where = f"{source}/{subfolder}" if subfolder else source
    if not download_kwargs.get("force_download"):
        try:
            return Path(hf_hub_download(source, filename, subfolder=subfolder or None, local_files_only=True,
                                        **download_kwargs))
        except (HFValidationError, ValueError) as exc:
            raise WeightsNotFoundError(
                f"{source!r} is neither an existing folder nor a Hub repo id like 'org/name' ({exc})"
            ) from exc
        except LocalEntryNotFoundError:
            pass  # not cached: try the network below
    if local_files_only or not hub_reachable():
        offline = " (offline mode: HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        raise WeightsNotFoundError(
            f"{filename} of {where!r} is not in the local Hugging Face cache and the Hub "
            f"{'was not asked (local files only)' if local_files_only else 'cannot be reached'}{offline}. "
            "Download the weights once while online, or pass a local folder."
        )
    try:
        return Path(hf_hub_download(source, filename, subfolder=subfolder or None, **download_kwargs))
    except (LocalEntryNotFoundError, EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise WeightsNotFoundError(
            f"could not download {filename} of {where!r} ({type(exc).__name__}); check the repo id and variant name"
        ) from exc


def load_pretrained(
    model_cls: type[M],
    config_cls: type,
    source: str | os.PathLike,
    *,
    what: str,
    subfolder: str | None = None,
    map_location: str | torch.device = "cpu",
    **download_kwargs: Any,
) -> M:
    """``model_cls(config)`` with the weights of a ``save_pretrained`` folder or Hub repo, in eval mode.

    Args:
        model_cls: the network class, built as ``model_cls(config)``.
        config_cls: the dataclass ``config.json`` describes.
        source: a local directory or a Hub repo id (:func:`resolve_file`).
        what: the network's name in error messages ("generator", "lip reader").
        subfolder: folder inside ``source`` holding ``config.json`` and ``model.safetensors``.
        map_location: device to load the weights onto.
        download_kwargs: ``revision``, ``cache_dir``, ``force_download``, ``local_files_only``, ``token``.

    Raises:
        WeightsNotFoundError: a file cannot be found (offline and not cached, wrong name, ...), or the
            two do not fit together (damaged file, weights of another config).
    """
    config_path = resolve_file(source, constants.CONFIG_NAME, subfolder=subfolder, **download_kwargs)
    weights_path = resolve_file(source, constants.SAFETENSORS_SINGLE_FILE, subfolder=subfolder, **download_kwargs)
    try:
        config = from_dict(config_cls, json.loads(Path(config_path).read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:          # JSONDecodeError is a ValueError
        raise WeightsNotFoundError(f"{config_path} is not a valid {what} config: {exc}") from exc
    model = model_cls(config)
    try:
        safetensors.torch.load_model(model, weights_path, strict=True, device=str(map_location))
    except (RuntimeError, safetensors.SafetensorError, OSError) as exc:
        raise WeightsNotFoundError(
            f"the weights in {weights_path} do not fit the {what} described by {config_path} "
            f"(wrong or damaged file): {exc}"
        ) from exc
    return model.eval()


class StrictPretrained:
    """Mixin giving a network ``from_pretrained`` through :func:`load_pretrained`.

    Put it before ``PyTorchModelHubMixin`` in the bases (the Hub mixin still saves and pushes);
    the class sets ``config_class`` (the dataclass of its ``config.json``) and ``network_name``
    (its name in error messages).
    """

    config_class: type
    network_name: str = "network"

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        subfolder: str | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        map_location: str | torch.device = "cpu",
    ):
        """Load a network saved by ``save_pretrained``, from a directory or a Hub repo id, in eval mode.

        Args:
            pretrained_model_name_or_path: a local directory, or a Hub repo id (``"org/name"``) resolved
                through the Hugging Face cache (honours ``HF_HUB_OFFLINE``, ``HF_HOME`` / ``cache_dir``).
            subfolder: folder inside the directory or repo holding ``config.json`` and ``model.safetensors``.
            revision, cache_dir, force_download, local_files_only, token: as in
                :func:`huggingface_hub.hf_hub_download`.
            map_location: device to load the weights onto.

        Raises:
            WeightsNotFoundError: the directory, repo or a file cannot be found (offline and not cached,
                wrong name, ...), or they do not fit together (damaged file, weights of another config).
        """
        return load_pretrained(cls, cls.config_class, pretrained_model_name_or_path, what=cls.network_name,
                               subfolder=subfolder, map_location=map_location, revision=revision,
                               cache_dir=cache_dir, force_download=force_download,
                               local_files_only=local_files_only, token=token)
