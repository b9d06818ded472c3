"""vfhgan_core/weights/model_card.py: the lip reader's card, written from the record of its run.

(The variants' cards and folders are tested with the folder format, tests/weights/test_folder_format.py,
and the repo card with publishing, tests/weights/test_publish.py.)
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from vfhgan_core.weights.model_card import lipreader_card, write_lipreader_card

SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "weights" / "lipreader"


def _record() -> dict:
    return json.loads((SHIPPED / "training.json").read_text(encoding="utf-8"))


def test_the_shipped_card_is_what_the_builder_writes_from_the_shipped_record(tmp_path: Path) -> None:
    path = write_lipreader_card(tmp_path, _record())
    assert path == tmp_path / "README.md"
    assert path.read_text(encoding="utf-8") == (SHIPPED / "README.md").read_text(encoding="utf-8")


def test_the_card_follows_the_record() -> None:
    record = _record()
    card = lipreader_card(record)
    best = record["best"]
    assert f"**{best['accuracy']:.1%}** ({best['count']} words of {len(record['heldout_sentences'])}" in card
    assert "did not lean on the held-out sentences" in card          # best step == last step
    assert card.count("| ") >= 2 + len(best["per_group"])           # the word-group table

    earlier = copy.deepcopy(record)
    earlier["best"]["step"] = record["steps"] // 2
    earlier["last"]["accuracy"] = 0.5
    card = lipreader_card(earlier)
    assert "slightly optimistic" in card and f"* at the last step ({record['steps']}): 50.0%" in card

    unknown = copy.deepcopy(record)
    del unknown["device"]
    unknown["best"] = None
    card = lipreader_card(unknown)
    assert "an unrecorded device" in card and "held-out word accuracy" not in card
    assert "## Model" in card and "CC BY 4.0" in card
