"""Trained weights: which variants exist, where their files come from, and the folders and cards they ship in.

Above :mod:`vfhgan_core.models`, :mod:`vfhgan_core.losses` and :mod:`vfhgan_core.metrics`, below
:mod:`vfhgan_core.pipelines` and :mod:`vfhgan_core.training`. One module per job:

- :mod:`~vfhgan_core.weights.variants`: variant names (``audio-ffl-lip``, ...) and their switches;
  light (no torch, no Hub), read by the CLI and the app before anything heavy. A new variant
  switch goes here (:func:`variant_name` / :func:`parse_variant`).
- :mod:`~vfhgan_core.weights.hub`: where a variant's files come from (the bundled
  ``assets/weights``, a local folder, a Hub repo) and :func:`load_generator`. A new weights
  source goes here (:func:`variant_source`).
- :mod:`~vfhgan_core.weights.licences`: the known training datasets a run used and their licences.
- :mod:`~vfhgan_core.weights.model_card`: the one card builder: a variant's card
  (:func:`write_model_card`), the card of a Hub repo of several variants (:func:`write_repo_card`)
  and the lip reader's (:func:`~vfhgan_core.weights.model_card.lipreader_card`). A change to what a
  card says goes here.
- :mod:`~vfhgan_core.weights.folder_format`: what a weights folder (a variant, the lip reader)
  holds: its writer (:func:`write_weights_folder`) and its validation (:func:`validate_variant_folder`,
  ...). A new required file goes here.
- :mod:`~vfhgan_core.weights.publish`: a Hub repo of several variants: staged, checked, uploaded
  in one commit (``train/push_to_hub.py`` is its command line).
- :mod:`~vfhgan_core.weights.run_record`: :class:`RunRecord`, what a training run produced (a
  weights folder's ``training.json``), written by the trainer, read by the cards, export and publishing.
- :mod:`~vfhgan_core.weights.rounds`: the training history a weights folder carries over runs.

Inside the package the modules import in this order: variants, run_record → rounds, licences → hub,
model_card → folder_format → publish.

The names below are imported on first use (``import vfhgan_core.weights.variants`` stays light).
"""

from vfhgan_core.utils.lazy_exports import lazy_exports

#: public name → module that defines it
_PUBLIC = {
    "DEFAULT_VARIANT": "vfhgan_core.weights.variants",
    "parse_variant": "vfhgan_core.weights.variants",
    "variant_name": "vfhgan_core.weights.variants",
    "BUNDLED_WEIGHTS": "vfhgan_core.weights.hub",
    "list_variants": "vfhgan_core.weights.hub",
    "load_generator": "vfhgan_core.weights.hub",
    "load_lip_reader": "vfhgan_core.weights.hub",
    "variant_source": "vfhgan_core.weights.hub",
    "InvalidWeightsError": "vfhgan_core.weights.folder_format",
    "validate_lipreader_folder": "vfhgan_core.weights.folder_format",
    "validate_variant_folder": "vfhgan_core.weights.folder_format",
    "write_model_card": "vfhgan_core.weights.model_card",
    "write_repo_card": "vfhgan_core.weights.model_card",
    "write_weights_folder": "vfhgan_core.weights.folder_format",
    "RunRecord": "vfhgan_core.weights.run_record",
    "round_of": "vfhgan_core.weights.rounds",
    "rounds_before": "vfhgan_core.weights.rounds",
    "rounds_total": "vfhgan_core.weights.rounds",
}

__all__ = sorted(_PUBLIC)


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
