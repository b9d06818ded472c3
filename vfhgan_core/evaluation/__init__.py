"""Evaluation of trained variants: what the ``evaluate`` command runs and reports.

Above :mod:`vfhgan_core.pipelines` and :mod:`vfhgan_core.training`, below :mod:`vfhgan_core.cli`. The metrics
themselves (and their names in every report) are in :mod:`vfhgan_core.metrics`.

- :mod:`.runs`: bicubic and every variant scored on the clips of prepared or raw datasets (``evaluate``);
- :mod:`.results_tables`: the report as markdown, in the layout of the paper's Tables 1-3;
- :mod:`.spectral_curves`: the per-band spectral error over a training run (``spectral_curves.json``).

The main entry points are importable from here, each loaded on first use (``import vfhgan_core.evaluation``
stays light).
"""

from vfhgan_core.utils.lazy_exports import lazy_exports

#: public name → module that defines it
_PUBLIC = {
    "EvaluationConfig": "vfhgan_core.evaluation.runs",
    "EvaluationError": "vfhgan_core.evaluation.runs",
    "evaluate": "vfhgan_core.evaluation.runs",
    "markdown_report": "vfhgan_core.evaluation.results_tables",
    "SpectralCurves": "vfhgan_core.evaluation.spectral_curves",
    "load_spectral_curves": "vfhgan_core.evaluation.spectral_curves",
}

__all__ = sorted(_PUBLIC)


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
