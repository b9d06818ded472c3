"""vfhgan_core.weights.publish: the staged repo layout and card, the upload calls, offline failure.

The Hub cannot be reached from the project's machines, so the upload itself is checked
with a recording stand-in for ``HfApi`` whose calls are bound against the real
``HfApi`` signatures; everything before the upload (validation, staging, the repo card,
the offline and reachability checks) runs for real.
"""
from __future__ import annotations

import inspect
import time
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import HfApi, ModelCard

from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.weights import hub, publish
from vfhgan_core.weights.folder_format import (
    VARIANT_FILES,
    InvalidWeightsError,
    select_variants,
    validate_lipreader_folder,
    validate_variant_folder,
)
from weights_fixtures import LIPREADER, make_weights_dir


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """assets/weights-like folder: two variants, the shipped lip reader and an unrelated folder."""
    return make_weights_dir(tmp_path_factory.mktemp("weights"))

# --------------------------------------------------------------------------- staging and the repo card


def test_stage_repo_layout_and_card(weights_dir: Path, tmp_path: Path) -> None:
    variants = [validate_variant_folder(p) for p in select_variants(weights_dir)]
    lip = validate_lipreader_folder(weights_dir / "lipreader")
    staging = publish.stage_repo(tmp_path / "stage", "org/vfhgan", variants, lip)
    files = dict(publish.staged_files(staging))
    expected = {f"{v}/{f}" for v in ("audio-ffl-lip", "noaudio-noffl-nolip") for f in VARIANT_FILES}
    expected |= {"lipreader/config.json", "lipreader/model.safetensors", "lipreader/README.md",
                 "lipreader/training.json", "README.md"}
    assert set(files) == expected
    assert files["audio-ffl-lip/model.safetensors"] == (weights_dir / "audio-ffl-lip/model.safetensors").stat().st_size

    # the repo loads the way vfhgan_core reads a Hub repo: one subfolder per variant
    for name in ("audio-ffl-lip", "noaudio-noffl-nolip"):
        staged = hub.load_generator(name, source=staging)
        original = VFHGANGenerator.from_pretrained(weights_dir / name)
        for a, b in zip(original.state_dict().values(), staged.state_dict().values()):
            assert torch.equal(a, b)
    assert "source='org/vfhgan'" in (staging / "audio-ffl-lip" / "README.md").read_text()
    assert "path/to/weights" not in (staging / "audio-ffl-lip" / "README.md").read_text()

    card = ModelCard.load(staging / "README.md")
    assert card.data.library_name == "vfhgan" and card.data.license == "apache-2.0"
    assert "audio-ffl-lip" in card.data.tags and "noaudio-noffl-nolip" in card.data.tags
    text = card.text
    row = next(line for line in text.splitlines() if line.startswith("| [`audio-ffl-lip`]"))
    assert "(default)" in row and "31.2345" in row and "0.9012" in row and "| 7 |" in row
    row = next(line for line in text.splitlines() if line.startswith("| [`noaudio-noffl-nolip`]"))
    assert "30.8765" in row and "n/a" in row
    bicubic = next(line for line in text.splitlines() if line.startswith("| bicubic"))
    assert "30.1" in bicubic and "0.88" in bicubic
    assert "python -m vfhgan_core enhance in.mp4 out.mp4 --weights org/vfhgan --variant audio-ffl-lip" in text
    assert "VFHGANGenerator.from_pretrained('org/vfhgan', subfolder='audio-ffl-lip')" in text
    assert "hf download org/vfhgan --include 'lipreader/*'" in text
    licences = text.split("## Data licences", 1)[1]
    assert "GRID" in licences and "CC BY 4.0" in licences

    with pytest.raises(InvalidWeightsError, match="not empty"):
        publish.stage_repo(staging, "org/vfhgan", variants)



class RecordingApi:
    """Records the HfApi calls ``push`` makes, after binding them to the real ``HfApi`` signatures."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.uploaded: list[str] = []
        self.fail_with = fail_with

    def _record(self, method: str, *args, **kwargs) -> None:
        bound = inspect.signature(getattr(HfApi, method)).bind(None, *args, **kwargs)  # TypeError on a wrong name
        self.calls.append((method, dict(list(bound.arguments.items())[1:])))

    def create_repo(self, *args, **kwargs):
        self._record("create_repo", *args, **kwargs)
        return f"https://huggingface.co/{kwargs.get('repo_id', args[0])}"

    def create_branch(self, *args, **kwargs) -> None:
        self._record("create_branch", *args, **kwargs)

    def upload_folder(self, *args, **kwargs):
        self._record("upload_folder", *args, **kwargs)
        if self.fail_with is not None:
            raise self.fail_with
        self.uploaded = [p for p, _ in publish.staged_files(kwargs["folder_path"])]
        return huggingface_hub.CommitInfo(commit_url="https://huggingface.co/org/vfhgan/commit/abc",
                                          commit_message=kwargs["commit_message"], commit_description="",
                                          oid="a" * 40)


def test_push_one_commit_to_branch(weights_dir: Path, tmp_path: Path) -> None:
    variants = [validate_variant_folder(weights_dir / "audio-ffl-lip")]
    lip = validate_lipreader_folder(weights_dir / "lipreader")
    staging = publish.stage_repo(tmp_path / "stage", "org/vfhgan", variants, lip, revision="dev")
    api = RecordingApi()
    info = publish.push(staging, "org/vfhgan", private=True, revision="dev", api=api)
    assert info.commit_url.endswith("/commit/abc")
    assert [m for m, _ in api.calls] == ["create_repo", "create_branch", "upload_folder"]
    create, branch, upload = (kw for _, kw in api.calls)
    assert create == {"repo_id": "org/vfhgan", "repo_type": "model", "private": True, "exist_ok": True}
    assert branch["repo_id"] == "org/vfhgan" and branch["branch"] == "dev" and branch["exist_ok"] is True
    assert upload["repo_id"] == "org/vfhgan" and upload["repo_type"] == "model" and upload["revision"] == "dev"
    assert Path(upload["folder_path"]) == staging and upload["path_in_repo"] is None
    assert upload["delete_patterns"] == ["audio-ffl-lip/", "lipreader/"]   # stale files of the pushed folders only
    assert upload["commit_message"] == "Upload VFH-GAN weights: audio-ffl-lip, lipreader"
    assert sorted(api.uploaded) == sorted(["README.md"] + [f"audio-ffl-lip/{f}" for f in VARIANT_FILES]
                                          + [f"lipreader/{p.name}" for p in LIPREADER.iterdir()])
    assert "branch `dev`" in (staging / "README.md").read_text()

    # public by default (None: the Hub's default visibility), default branch: no branch creation
    api = RecordingApi()
    publish.push(staging, "org/vfhgan", commit_message="hello", api=api)
    assert [m for m, _ in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][1]["private"] is None and api.calls[1][1]["revision"] is None
    assert api.calls[1][1]["commit_message"] == "hello"


def test_push_turns_hub_errors_into_a_clear_message(weights_dir: Path, tmp_path: Path) -> None:
    import httpx2

    variants = [validate_variant_folder(weights_dir / "audio-ffl-lip")]
    staging = publish.stage_repo(tmp_path / "stage", "org/vfhgan", variants)
    request = httpx2.Request("POST", "https://huggingface.co/api/models/org/vfhgan/commit/main")
    refused = huggingface_hub.errors.HfHubHTTPError("403 Forbidden", response=httpx2.Response(403, request=request))
    with pytest.raises(publish.HubUnavailableError, match="403.*write access"):
        publish.push(staging, "org/vfhgan", api=RecordingApi(refused))



def test_hub_access_checks_fail_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(publish.HubUnavailableError, match="HF_HUB_OFFLINE"):
        publish.check_hub_access("hf_token")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(publish.HubUnavailableError, match="not logged in.*hf auth login"):
        publish.check_hub_access(None)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(publish.HubUnavailableError, match="cannot be reached"):
        publish.check_hub_access("hf_token")
    assert time.perf_counter() - t0 < hub.CONNECT_TIMEOUT + 1
