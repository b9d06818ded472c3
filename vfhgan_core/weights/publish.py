"""Publishing weights folders as one Hugging Face Hub model repo, one subfolder per variant.

The repo is the layout :mod:`vfhgan_core.weights.hub` reads (``--weights REPO_ID --variant NAME``,
``VFHGANGenerator.from_pretrained(REPO_ID, subfolder=NAME)``): the validated folders
(:mod:`vfhgan_core.weights.folder_format`) are staged in a local folder (:func:`stage_repo`) with
the repo-level card (:func:`vfhgan_core.weights.model_card.write_repo_card`), then uploaded in
one commit (:func:`push`) after :func:`check_hub_access` made sure the Hub can be used.
``train/push_to_hub.py`` is the command line.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

from huggingface_hub import constants, get_token
from huggingface_hub.errors import HFValidationError, HTTPError, OfflineModeIsEnabled
from huggingface_hub.utils import validate_repo_id

from vfhgan_core.errors import VFHGANError
from vfhgan_core.weights import hub
from vfhgan_core.weights.folder_format import (
    LIPREADER,
    VARIANT_FILES,
    InvalidWeightsError,
    LipReaderFolder,
    VariantFolder,
)
from vfhgan_core.weights.model_card import write_repo_card

__all__ = ["HubUnavailableError", "check_hub_access", "check_repo_id", "push", "stage_repo", "staged_files"]

log = logging.getLogger(__name__)

#: the placeholder source of a variant card's usage snippet (model_card.write_model_card)
_CARD_PLACEHOLDER = "source='path/to/weights'"


class HubUnavailableError(VFHGANError):
    """The Hub cannot be used now: offline mode, no token, unreachable or the request was refused (exit status 1)."""

    reason = "hub_unavailable"


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` when it is a valid Hub id with a namespace (``user-or-org/name``), else :class:`InvalidWeightsError`."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise InvalidWeightsError(f"{repo_id!r} is not a valid Hub repo id ({exc}); pass one like 'org/vfhgan'") \
            from exc
    if "/" not in repo_id:
        raise InvalidWeightsError(f"repo id {repo_id!r} has no namespace: pass the full id 'user-or-org/{repo_id}' "
                                  "(the model card and the loaders need it)")
    return repo_id


def _copy_files(src: Path, dest: Path, names: Iterable[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)


def stage_repo(
    staging: str | Path,
    repo_id: str,
    variants: Sequence[VariantFolder],
    lipreader: LipReaderFolder | None = None,
    revision: str | None = None,
) -> Path:
    """Lay out the repo in ``staging``: ``<variant>/`` folders, ``lipreader/`` and the repo card.

    ``staging`` must not exist or be empty. Only the files of :data:`VARIANT_FILES` are copied
    from a variant folder; in each variant's card the placeholder source of the usage snippet
    is replaced by ``repo_id``. The lip reader's ``*.json``, ``*.safetensors`` and ``README.md``
    are copied as they are.

    Returns:
        ``staging``.

    Raises:
        InvalidWeightsError: ``staging`` exists and is not an empty folder.
    """
    staging = Path(staging)
    if staging.exists() and (not staging.is_dir() or any(staging.iterdir())):
        raise InvalidWeightsError(f"staging folder {staging} exists and is not empty; pass a new or empty folder")
    staging.mkdir(parents=True, exist_ok=True)
    for v in variants:
        _copy_files(v.path, staging / v.name, VARIANT_FILES)
        card = staging / v.name / "README.md"
        text = card.read_text(encoding="utf-8")
        if _CARD_PLACEHOLDER in text:
            card.write_text(text.replace(_CARD_PLACEHOLDER, f"source={repo_id!r}"), encoding="utf-8")
    if lipreader is not None:
        names = sorted(p.name for p in lipreader.path.iterdir()
                       if p.is_file() and (p.suffix in (".json", ".safetensors") or p.name == "README.md"))
        _copy_files(lipreader.path, staging / LIPREADER, names)
    write_repo_card(staging, repo_id, variants, lipreader, revision)
    return staging


def staged_files(staging: str | Path) -> list[tuple[str, int]]:
    """``(path in repo, size in bytes)`` of every staged file, sorted by path."""
    staging = Path(staging)
    return sorted((p.relative_to(staging).as_posix(), p.stat().st_size) for p in staging.rglob("*") if p.is_file())


def check_hub_access(token: str | None = None) -> None:
    """Fail fast, before any upload, when the Hub cannot be used.

    Checks, in order: offline mode (``HF_HUB_OFFLINE``: no network call at all), a token
    (``token``, ``HF_TOKEN`` or ``hf auth login``), and a short TCP connection to the Hub
    endpoint (:func:`vfhgan_core.weights.hub.hub_reachable`, a few seconds at most).

    Raises:
        HubUnavailableError: which check failed and what to do.
    """
    if constants.HF_HUB_OFFLINE:
        raise HubUnavailableError("offline mode is on (HF_HUB_OFFLINE is set): nothing was uploaded. "
                                  "Unset HF_HUB_OFFLINE to push, or use --dry-run to only build the repo folder")
    if not (token or get_token()):
        raise HubUnavailableError("not logged in to the Hugging Face Hub: run `hf auth login`, set HF_TOKEN, "
                                  "or pass --token (a token with write access)")
    if not hub.hub_reachable():
        raise HubUnavailableError(f"the Hub ({constants.ENDPOINT}) cannot be reached from this machine (no "
                                  f"connection within {hub.CONNECT_TIMEOUT:g} s): nothing was uploaded. Check the "
                                  "network or proxy, or use --dry-run to only build the repo folder")


def push(
    staging: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    api: Any = None,
) -> Any:
    """Create the repo when needed and upload ``staging`` to its root in one commit.

    Each top-level folder of ``staging`` (the variants, ``lipreader``) replaces its namesake in
    the repo: its remote files that are not staged any more are deleted in the same commit.
    Other folders of the repo are left alone; the root ``README.md`` is overwritten.

    Args:
        staging: the folder written by :func:`stage_repo`.
        repo_id: ``user-or-org/name``.
        private: create the repo private (an existing repo keeps its visibility).
        revision: branch to commit to (created from the default branch when missing);
            ``None`` = the default branch.
        commit_message: default ``"Upload VFH-GAN weights: <folders>"``.
        token: Hub token (default: ``HF_TOKEN`` or the saved login).
        api: an :class:`huggingface_hub.HfApi` (default: a new one with ``token``).

    Returns:
        The :class:`huggingface_hub.CommitInfo` of the upload.

    Raises:
        HubUnavailableError: the Hub refused or failed (status, message and what to do).
    """
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token, library_name="vfhgan")
    folders = sorted(p.name for p in Path(staging).iterdir() if p.is_dir())
    message = commit_message or "Upload VFH-GAN weights: " + ", ".join(folders)
    try:
        url = api.create_repo(repo_id, repo_type="model", private=True if private else None, exist_ok=True)
        log.info("repo %s", url)
        if revision and revision != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=str(staging),
            path_in_repo=None,
            commit_message=message,
            repo_type="model",
            revision=revision,
            delete_patterns=[f"{name}/" for name in folders],
        )
    except (OSError, HTTPError, OfflineModeIsEnabled, ValueError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        hint = {401: "the token is missing or invalid: run `hf auth login` or pass --token",
                403: f"the token may not write to {repo_id!r}: use a token with write access to that namespace",
                404: f"{repo_id!r} or branch {revision!r} was not found"}.get(status, "check the network and retry")
        raise HubUnavailableError(f"upload to {repo_id!r} failed ({type(exc).__name__}"
                                  + (f" {status}" if status else "") + f": {exc}); {hint}") from exc
