"""Write a trained generator as a variant weights folder (``assets/weights/<variant>/``).

The source is a run folder of ``train/train_vfhgan.py`` (its ``final/`` folder, or the
newest checkpoint when the run has not finished), one of its checkpoints
(``checkpoints/checkpoint-N``: the EMA generator saved with it) or a ``final/`` folder.
The result holds the float32 generator (``config.json`` + ``model.safetensors``),
``experiment.json``, ``metrics.json`` and a model card, and loads with
``vfhgan_core.weights.hub.load_generator(variant, source=OUT)``.

Usage::

    python train/export_weights.py runs/audio-ffl-lip --out assets/weights
    python train/export_weights.py runs/audio-ffl-lip/checkpoints/checkpoint-0002000 --out assets/weights
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from vfhgan_core.errors import VFHGANError, WeightsNotFoundError
from vfhgan_core.evaluation.spectral_curves import SPECTRAL_CURVES_FILE, SpectralCurves
from vfhgan_core.experiment import load_experiment
from vfhgan_core.models.generator import VFHGANGenerator
from vfhgan_core.training.checkpoints import list_checkpoints
from vfhgan_core.weights.folder_format import write_weights_folder
from vfhgan_core.weights.run_record import RunRecord

log = logging.getLogger("export_weights")


def find_export_source(source: Path) -> tuple[Path, Path, dict, RunRecord]:
    """``(generator folder, experiment.json, metrics, run record)`` of a run, checkpoint or final folder."""
    if (source / "final" / "model.safetensors").is_file():
        source = source / "final"
    elif (source / "checkpoints").is_dir():
        ckpts = list_checkpoints(source / "checkpoints")
        if not ckpts:
            raise WeightsNotFoundError(f"{source} has neither final/ nor a checkpoint to export")
        source = ckpts[-1]
    if (source / "ema_generator" / "model.safetensors").is_file():      # a checkpoint
        state = json.loads((source / "trainer_state.json").read_text()) if (source / "trainer_state.json").is_file() else {}
        record = RunRecord.from_dict(state.get("extra", {})).replace(steps=state.get("step"))
        return source / "ema_generator", source / "experiment.json", state.get("metrics", {}), record
    if (source / "model.safetensors").is_file() and (source / "experiment.json").is_file():   # final/ or an export
        metrics_path = source / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        return source, source / "experiment.json", metrics, RunRecord.read(source) or RunRecord()
    raise WeightsNotFoundError(f"{source} is not a run folder, checkpoint or final/ folder of train_vfhgan.py")


def export(source: str | Path, out_root: str | Path, variant: str | None = None) -> Path:
    """Export ``source`` to ``out_root/<variant>/`` and return that folder."""
    folder, exp_path, metrics, record = find_export_source(Path(source))
    exp = load_experiment(exp_path)
    if variant is not None and variant != exp.variant:
        exp = exp.with_overrides(variant=variant)
    if not exp.is_variant:
        raise VFHGANError(f"{exp.variant!r} is not a variant name like 'audio-ffl-lip' (a pretrain run?); "
                          "pass --variant NAME to export it under a variant name that matches its switches")
    generator = VFHGANGenerator.from_pretrained(folder)
    if generator.config != exp.generator:
        raise VFHGANError(f"{folder} holds a generator that differs from the one in {exp_path}")
    dest = write_weights_folder(Path(out_root) / exp.variant, generator, exp, metrics, record)
    curves = _spectral_curves(folder)
    if curves is not None:
        curves.save(dest)
    return dest


def _spectral_curves(folder: Path) -> SpectralCurves | None:
    """The run's spectral curves: a checkpoint keeps them in trainer_state.json, final/ beside the weights."""
    if (folder / SPECTRAL_CURVES_FILE).is_file():
        return SpectralCurves.load(folder)
    state_path = folder.parent / "trainer_state.json"          # folder is a checkpoint's ema_generator/
    if folder.name == "ema_generator" and state_path.is_file():
        saved = json.loads(state_path.read_text()).get("spectral_curves")
        return SpectralCurves.from_dict(saved) if saved else None
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="run folder, checkpoint folder or final/ folder")
    p.add_argument("--out", type=Path, default=Path("assets/weights"), help="weights root (default assets/weights)")
    p.add_argument("--variant", help="variant name (default: the run's)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        dest = export(args.source, args.out, args.variant)
    except VFHGANError as exc:
        log.error("%s", exc)
        return 2
    log.info("exported to %s", dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
