"""The trained variants the UI offers, and how they are described to users (no heavy imports)."""
from __future__ import annotations

from vfhgan_core.weights.variants import parse_variant, variant_name

#: every switch combination the UI offers (attention on, as in the paper's full model)
ALL_VARIANTS: tuple[str, ...] = tuple(
    variant_name(a, f, l) for a in (True, False) for f in (True, False) for l in (True, False)
)


def describe_variant(name: str) -> str:
    """Plain words for a variant name: ``audio-ffl-lip`` → ``audio on, frequency loss on, lip loss on``."""
    s = parse_variant(name)
    words = [f"audio {'on' if s['audio'] else 'off'}", f"frequency loss {'on' if s['frequency_loss'] else 'off'}",
             f"lip loss {'on' if s['lip_loss'] else 'off'}"]
    if not s["attention"]:
        words.append("no attention")
    if s["real_world"]:
        words.append("trained on degraded video")
    return ", ".join(words)
