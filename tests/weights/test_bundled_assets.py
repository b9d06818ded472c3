"""The weights shipped in assets/weights: every variant the app toggles is there, complete,
small, described by its model card, and restores a real clip of an unseen speaker better
than bicubic."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vfhgan_core.data.degradations import DegradationConfig, degrade_clip
from vfhgan_core.faces.clip import PipelineConfig, extract_face_clip
from vfhgan_core.faces.crops import degrade
from vfhgan_core.faces.detection import DetectorConfig, load_face_detector
from vfhgan_core.metrics.clip_scores import score_frames
from vfhgan_core.pipelines.restore import bicubic_x4, run_generator
from vfhgan_core.weights.hub import BUNDLED_WEIGHTS, list_variants, load_generator, parse_variant, variant_name

#: the 2 x 2 x 2 switches of the app, plus the attention ablation and the real-world full model
SHIPPED = sorted({variant_name(a, f, l) for a in (True, False) for f in (True, False) for l in (True, False)}
                 | {variant_name(True, True, True, attention=False), variant_name(real_world=True)})


def test_every_variant_is_shipped_complete_and_small() -> None:
    assert list_variants() == SHIPPED
    for name in SHIPPED:
        folder = BUNDLED_WEIGHTS / name
        files = {p.name for p in folder.iterdir()}
        assert {"config.json", "model.safetensors", "README.md", "experiment.json", "metrics.json"} <= files, name
        assert sum(p.stat().st_size for p in folder.iterdir()) < 5_000_000, name
        experiment = json.loads((folder / "experiment.json").read_text())
        assert experiment["variant"] == name
        config = json.loads((folder / "config.json").read_text())
        switches = parse_variant(name)
        assert config["use_audio"] == switches["audio"] and config["use_attention"] == switches["attention"]
        card = (folder / "README.md").read_text()
        assert name in card and "CC BY 4.0" in card  # the GRID licence travels with the weights
        # a real-world variant trained on the blind chain and its card says so; the others on clean inputs
        assert (experiment["data"].get("blind_degradation") is not None) == switches["real_world"], name
        assert ("blind real-video chain" in card) == switches["real_world"], name
        # ... and it routes each window to its degraded-input expert or to a clean-trained copy
        assert (config.get("router") is not None) == switches["real_world"], name
        assert ("## Routing between two experts" in card) == switches["real_world"], name


@pytest.mark.slow
def test_shipped_variants_beat_bicubic_on_an_unseen_speaker(data_dir: Path, detector_model: Path) -> None:
    detector = load_face_detector(DetectorConfig(model_path=str(detector_model), det_size=320))
    clip = extract_face_clip(str(data_dir / "grid_speakers" / "lbax4n.mpg"), detector, PipelineConfig())
    clean = degrade(clip.hr, scale=4, method="bicubic_antialias")
    # a real-world variant is for both: it is also scored on one draw of the chain it trained on
    degraded = degrade_clip(clip.hr, DegradationConfig(), seed=1)[0]
    for name in SHIPPED:
        for lr in [clean, degraded] if parse_variant(name)["real_world"] else [clean]:
            bicubic = score_frames(bicubic_x4(lr), clip.hr).means()
            sr = run_generator(load_generator(name), lr, clip.mel_windows)
            scores = score_frames(sr, clip.hr).means()
            assert scores["psnr_y"] > bicubic["psnr_y"] + 0.5, (name, scores, bicubic)
            assert scores["erqa"] > bicubic["erqa"], (name, scores, bicubic)
