"""vfhgan_core.weights.folder_format: selection and validation of the variant and lip-reader folders to publish."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vfhgan_core.metrics import canonical_metrics
from vfhgan_core.weights import folder_format
from weights_fixtures import METRICS, copy_variant, make_weights_dir


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """assets/weights-like folder: two variants, the shipped lip reader and an unrelated folder."""
    return make_weights_dir(tmp_path_factory.mktemp("weights"))


def test_select_variants(weights_dir: Path, tmp_path: Path) -> None:
    everything = folder_format.select_variants(weights_dir, ["all"])
    assert [p.name for p in everything] == ["audio-ffl-lip", "noaudio-noffl-nolip"]  # no lipreader, no notes/
    picked = folder_format.select_variants(weights_dir, ["noaudio-noffl-nolip", "noaudio-noffl-nolip"])
    assert picked == [weights_dir / "noaudio-noffl-nolip"]
    with pytest.raises(folder_format.InvalidWeightsError, match="not a variant name"):
        folder_format.select_variants(weights_dir, ["lipreader"])
    with pytest.raises(folder_format.InvalidWeightsError, match="no folder .*audio-noffl-lip.*export_weights"):
        folder_format.select_variants(weights_dir, ["audio-noffl-lip"])
    with pytest.raises(folder_format.InvalidWeightsError, match="either 'all' or variant names"):
        folder_format.select_variants(weights_dir, ["all", "audio-ffl-lip"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(folder_format.InvalidWeightsError, match="no variant folders"):
        folder_format.select_variants(tmp_path / "empty", ["all"])
    with pytest.raises(folder_format.InvalidWeightsError, match="does not exist"):
        folder_format.select_variants(tmp_path / "missing", ["all"])


def test_validate_reads_what_the_card_needs(weights_dir: Path) -> None:
    v = folder_format.validate_variant_folder(weights_dir / "audio-ffl-lip")
    assert v.name == "audio-ffl-lip" and v.experiment.variant == "audio-ffl-lip"
    # the fixture's metrics.json uses the older names (mouth_psnr, temporal_flicker): read as today's
    assert v.metrics == canonical_metrics(METRICS["audio-ffl-lip"]) and v.training.steps == 7
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
    folder = copy_variant(weights_dir, tmp_path, as_name=as_name)
    if damage is not None:
        damage(folder)
    with pytest.raises(folder_format.InvalidWeightsError, match=message):
        folder_format.validate_variant_folder(folder)


def test_validate_lipreader(weights_dir: Path, tmp_path: Path) -> None:
    lip = folder_format.validate_lipreader_folder(weights_dir / "lipreader")
    assert lip.num_parameters > 100_000 and lip.card_data["library_name"] == "vfhgan"
    broken = tmp_path / "lipreader"
    shutil.copytree(weights_dir / "lipreader", broken)
    (broken / "config.json").unlink()
    with pytest.raises(folder_format.InvalidWeightsError, match="missing config.json.*train_lipreader"):
        folder_format.validate_lipreader_folder(broken)
