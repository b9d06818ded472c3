"""train/push_to_hub.py: validation of variant folders, the staged repo layout and card, the upload calls, offline failure.

The Hub cannot be reached from the project's machines, so the upload itself is checked
with a recording stand-in for ``HfApi`` whose calls are bound against the real
``HfApi`` signatures; everything before the upload (validation, staging, the repo card,
the offline and reachability checks) runs for real.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import HfApi, ModelCard

from vfhgan_core.experiment import load_experiment
from vfhgan_core.metrics import canonical_metrics
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.weights import hub
from vfhgan_core.weights.model_card import write_weights_folder

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "train" / "push_to_hub.py"
SMOKE = REPO / "train" / "configs" / "smoke.json"
LIPREADER = REPO / "assets" / "weights" / "lipreader"

_spec = importlib.util.spec_from_file_location("push_to_hub", SCRIPT)
push_to_hub = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = push_to_hub  # dataclasses look their module up while the file runs
_spec.loader.exec_module(push_to_hub)

METRICS = {
    "audio-ffl-lip": {"psnr_y": 31.2345, "ssim_y": 0.9012, "erqa": 0.512, "mouth_psnr": 29.5,
                      "temporal_flicker": 1.25, "bicubic/psnr_y": 30.1, "bicubic/ssim_y": 0.88,
                      "bicubic/erqa": 0.41, "bicubic/mouth_psnr": 28.0, "bicubic/temporal_flicker": 1.5},
    "noaudio-noffl-nolip": {"psnr_y": 30.8765, "ssim_y": 0.8954, "erqa": 0.47, "mouth_psnr": 29.1,
                            "temporal_flicker": 1.4, "bicubic/psnr_y": 30.1, "bicubic/ssim_y": 0.88,
                            "bicubic/erqa": 0.41, "bicubic/mouth_psnr": 28.0, "bicubic/temporal_flicker": 1.5},
}


def _write_variant(root: Path, name: str, steps: int) -> Path:
    """A tiny trained-looking variant folder (smoke-sized generator with perturbed weights)."""
    exp = load_experiment(SMOKE)
    if name == "noaudio-noffl-nolip":
        exp = exp.with_overrides(variant=name, generator={"use_audio": False},
                                 losses={"frequency": 0.0, "lip_reading": 0.0})
    torch.manual_seed(steps)
    generator = VFHGANGenerator(exp.generator)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return write_weights_folder(root / name, generator, exp, METRICS[name], {"steps": steps, "device": "cpu"})


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """assets/weights-like folder: two variants, the shipped lip reader and an unrelated folder."""
    root = tmp_path_factory.mktemp("weights")
    _write_variant(root, "audio-ffl-lip", steps=7)
    _write_variant(root, "noaudio-noffl-nolip", steps=9)
    shutil.copytree(LIPREADER, root / "lipreader")
    (root / "notes").mkdir()
    return root


def _copy_variant(weights_dir: Path, tmp_path: Path, name: str = "audio-ffl-lip", as_name: str | None = None) -> Path:
    dest = tmp_path / "w" / (as_name or name)
    shutil.copytree(weights_dir / name, dest)
    return dest


# --------------------------------------------------------------------------- selection and validation


def test_select_variants(weights_dir: Path, tmp_path: Path) -> None:
    everything = push_to_hub.select_variants(weights_dir, ["all"])
    assert [p.name for p in everything] == ["audio-ffl-lip", "noaudio-noffl-nolip"]  # no lipreader, no notes/
    picked = push_to_hub.select_variants(weights_dir, ["noaudio-noffl-nolip", "noaudio-noffl-nolip"])
    assert picked == [weights_dir / "noaudio-noffl-nolip"]
    with pytest.raises(push_to_hub.InvalidWeightsError, match="not a variant name"):
        push_to_hub.select_variants(weights_dir, ["lipreader"])
    with pytest.raises(push_to_hub.InvalidWeightsError, match="no folder .*audio-noffl-lip.*export_weights"):
        push_to_hub.select_variants(weights_dir, ["audio-noffl-lip"])
    with pytest.raises(push_to_hub.InvalidWeightsError, match="either 'all' or variant names"):
        push_to_hub.select_variants(weights_dir, ["all", "audio-ffl-lip"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(push_to_hub.InvalidWeightsError, match="no variant folders"):
        push_to_hub.select_variants(tmp_path / "empty", ["all"])
    with pytest.raises(push_to_hub.InvalidWeightsError, match="does not exist"):
        push_to_hub.select_variants(tmp_path / "missing", ["all"])


def test_validate_reads_what_the_card_needs(weights_dir: Path) -> None:
    v = push_to_hub.validate_variant_folder(weights_dir / "audio-ffl-lip")
    assert v.name == "audio-ffl-lip" and v.experiment.variant == "audio-ffl-lip"
    # the fixture's metrics.json uses the older names (mouth_psnr, temporal_flicker): read as today's
    assert v.metrics == canonical_metrics(METRICS["audio-ffl-lip"]) and v.training["steps"] == 7
    assert v.metrics["mouth_psnr_y"] == 29.5 and v.metrics["bicubic/flicker"] == 1.5
    assert any("GRID" in line and "CC BY 4.0" in line for line in v.licences)   # from the variant's card
    assert v.card_data["library_name"] == "vfhgan"


def _drop_weights(folder: Path) -> None:
    (folder / "model.safetensors").unlink()


def _damage_weights(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def _bad_metrics(folder: Path) -> None:
    (folder / "metrics.json").write_text("{not json")


def _other_generator(folder: Path) -> None:
    exp = json.loads((folder / "experiment.json").read_text())
    exp["generator"]["latent_dim"] = 16
    (folder / "experiment.json").write_text(json.dumps(exp))


@pytest.mark.parametrize("as_name, damage, message", [
    (None, _drop_weights, "missing model.safetensors.*export_weights"),
    (None, _damage_weights, "does not load"),
    (None, _bad_metrics, "cannot read metrics.json"),
    (None, _other_generator, "another generator than config.json"),
    # same architecture, other losses: only experiment.json can tell
    ("audio-noffl-lip", None, "experiment.json says variant 'audio-ffl-lip' but the folder is named 'audio-noffl-lip'"),
    # the name promises no audio branch, the weights have one
    ("noaudio-ffl-lip", None, "named 'noaudio-ffl-lip' but its generator has use_audio=True"),
    ("audio-ffl-lip-noattn", None, "use_attention=True"),
    ("best-model", None, "not a variant name"),
])
def test_validate_rejects_bad_folders(weights_dir: Path, tmp_path: Path, as_name, damage, message) -> None:
    folder = _copy_variant(weights_dir, tmp_path, as_name=as_name)
    if damage is not None:
        damage(folder)
    with pytest.raises(push_to_hub.InvalidWeightsError, match=message):
        push_to_hub.validate_variant_folder(folder)


def test_validate_lipreader(weights_dir: Path, tmp_path: Path) -> None:
    lip = push_to_hub.validate_lipreader_folder(weights_dir / "lipreader")
    assert lip.num_parameters > 100_000 and lip.card_data["library_name"] == "vfhgan"
    broken = tmp_path / "lipreader"
    shutil.copytree(weights_dir / "lipreader", broken)
    (broken / "config.json").unlink()
    with pytest.raises(push_to_hub.InvalidWeightsError, match="missing config.json.*train_lipreader"):
        push_to_hub.validate_lipreader_folder(broken)


# --------------------------------------------------------------------------- staging and the repo card


def test_stage_repo_layout_and_card(weights_dir: Path, tmp_path: Path) -> None:
    variants = [push_to_hub.validate_variant_folder(p) for p in push_to_hub.select_variants(weights_dir)]
    lip = push_to_hub.validate_lipreader_folder(weights_dir / "lipreader")
    staging = push_to_hub.stage_repo(tmp_path / "stage", "org/vfhgan", variants, lip)
    files = dict(push_to_hub.staged_files(staging))
    expected = {f"{v}/{f}" for v in ("audio-ffl-lip", "noaudio-noffl-nolip") for f in push_to_hub.VARIANT_FILES}
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

    with pytest.raises(push_to_hub.InvalidWeightsError, match="not empty"):
        push_to_hub.stage_repo(staging, "org/vfhgan", variants)


# --------------------------------------------------------------------------- upload (recording HfApi stand-in)


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
        self.uploaded = [p for p, _ in push_to_hub.staged_files(kwargs["folder_path"])]
        return huggingface_hub.CommitInfo(commit_url="https://huggingface.co/org/vfhgan/commit/abc",
                                          commit_message=kwargs["commit_message"], commit_description="",
                                          oid="a" * 40)


def test_push_one_commit_to_branch(weights_dir: Path, tmp_path: Path) -> None:
    variants = [push_to_hub.validate_variant_folder(weights_dir / "audio-ffl-lip")]
    lip = push_to_hub.validate_lipreader_folder(weights_dir / "lipreader")
    staging = push_to_hub.stage_repo(tmp_path / "stage", "org/vfhgan", variants, lip, revision="dev")
    api = RecordingApi()
    info = push_to_hub.push(staging, "org/vfhgan", private=True, revision="dev", api=api)
    assert info.commit_url.endswith("/commit/abc")
    assert [m for m, _ in api.calls] == ["create_repo", "create_branch", "upload_folder"]
    create, branch, upload = (kw for _, kw in api.calls)
    assert create == {"repo_id": "org/vfhgan", "repo_type": "model", "private": True, "exist_ok": True}
    assert branch["repo_id"] == "org/vfhgan" and branch["branch"] == "dev" and branch["exist_ok"] is True
    assert upload["repo_id"] == "org/vfhgan" and upload["repo_type"] == "model" and upload["revision"] == "dev"
    assert Path(upload["folder_path"]) == staging and upload["path_in_repo"] is None
    assert upload["delete_patterns"] == ["audio-ffl-lip/", "lipreader/"]   # stale files of the pushed folders only
    assert upload["commit_message"] == "Upload VFH-GAN weights: audio-ffl-lip, lipreader"
    assert sorted(api.uploaded) == sorted(["README.md"] + [f"audio-ffl-lip/{f}" for f in push_to_hub.VARIANT_FILES]
                                          + [f"lipreader/{p.name}" for p in LIPREADER.iterdir()])
    assert "branch `dev`" in (staging / "README.md").read_text()

    # public by default (None: the Hub's default visibility), default branch: no branch creation
    api = RecordingApi()
    push_to_hub.push(staging, "org/vfhgan", commit_message="hello", api=api)
    assert [m for m, _ in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][1]["private"] is None and api.calls[1][1]["revision"] is None
    assert api.calls[1][1]["commit_message"] == "hello"


def test_push_turns_hub_errors_into_a_clear_message(weights_dir: Path, tmp_path: Path) -> None:
    import httpx2

    variants = [push_to_hub.validate_variant_folder(weights_dir / "audio-ffl-lip")]
    staging = push_to_hub.stage_repo(tmp_path / "stage", "org/vfhgan", variants)
    request = httpx2.Request("POST", "https://huggingface.co/api/models/org/vfhgan/commit/main")
    refused = huggingface_hub.errors.HfHubHTTPError("403 Forbidden", response=httpx2.Response(403, request=request))
    with pytest.raises(push_to_hub.HubUnavailableError, match="403.*write access"):
        push_to_hub.push(staging, "org/vfhgan", api=RecordingApi(refused))


# --------------------------------------------------------------------------- checks before the network


def test_hub_access_checks_fail_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(push_to_hub.HubUnavailableError, match="HF_HUB_OFFLINE"):
        push_to_hub.check_hub_access("hf_token")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(push_to_hub.HubUnavailableError, match="not logged in.*hf auth login"):
        push_to_hub.check_hub_access(None)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(push_to_hub.HubUnavailableError, match="cannot be reached"):
        push_to_hub.check_hub_access("hf_token")
    assert time.perf_counter() - t0 < hub.CONNECT_TIMEOUT + 1


# --------------------------------------------------------------------------- command line


def _run(*args: str, offline: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_dry_run_builds_the_repo_folder(weights_dir: Path, tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    # offline mode on: a dry run needs no network at all
    res = _run("org/vfhgan", "--weights-dir", str(weights_dir), "--variants", "audio-ffl-lip",
               "--include-lipreader", "--staging-dir", str(staging), "--dry-run", offline=True)
    assert res.returncode == 0, res.stderr
    assert f"staged org/vfhgan in {staging}" in res.stdout and "nothing uploaded" in res.stdout
    listed = {line.split()[0] for line in res.stdout.splitlines() if line.startswith("  ")}
    assert listed == {p for p, _ in push_to_hub.staged_files(staging)}
    assert "audio-ffl-lip/model.safetensors" in listed and "lipreader/model.safetensors" in listed
    assert not any(p.startswith("noaudio") for p in listed)


def test_cli_bad_folder_exits_2_without_traceback(weights_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "w"
    _copy_variant(weights_dir, tmp_path, as_name="audio-noffl-lip")
    (_copy_variant(weights_dir, tmp_path, name="noaudio-noffl-nolip") / "README.md").unlink()
    staging = tmp_path / "stage"
    res = _run("org/vfhgan", "--weights-dir", str(root), "--staging-dir", str(staging), "--dry-run")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    # every bad folder is reported at once, with what to do
    assert "experiment.json says variant 'audio-ffl-lip'" in res.stderr
    assert "missing README.md" in res.stderr and "export_weights.py" in res.stderr
    assert not staging.exists()


def test_cli_push_offline_fails_fast(weights_dir: Path, tmp_path: Path) -> None:
    staging = tmp_path / "stage"
    t0 = time.perf_counter()
    res = _run("org/vfhgan", "--weights-dir", str(weights_dir), "--token", "hf_dummy", "--staging-dir", str(staging),
               offline=True)
    assert time.perf_counter() - t0 < 10
    assert res.returncode == 1
    assert "HF_HUB_OFFLINE" in res.stderr and "nothing was uploaded" in res.stderr and "Traceback" not in res.stderr
    assert not staging.exists()


def test_cli_rejects_a_repo_id_without_namespace(weights_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert push_to_hub.main(["vfhgan", "--weights-dir", str(weights_dir), "--dry-run"]) == 2
    assert "no namespace" in caplog.text and "user-or-org/vfhgan" in caplog.text
    assert push_to_hub.main(["org/bad name", "--weights-dir", str(weights_dir), "--dry-run"]) == 2
    assert "not a valid Hub repo id" in caplog.text
