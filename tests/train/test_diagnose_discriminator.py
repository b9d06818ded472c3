"""train/diagnose_discriminator.py: a fresh discriminator against bicubic and restored frames."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location("diagnose_discriminator", REPO / "train" / "diagnose_discriminator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_discriminator_learns_bicubic_and_reports_sr(prepare_grid_s1, capsys: pytest.CaptureFixture) -> None:
    data = prepare_grid_s1(("bbaf2n", "bbal6n"), "diagnose_d")
    script = _load_script()
    # bicubic faces are blurry: a working discriminator separates them from the truth quickly
    easy = script.main(["--against", "bicubic", "--data", str(data), "--steps", "120", "--lr", "4e-4",
                        "--log-every", "40"])
    assert [row["step"] for row in easy["history"]] == [40, 80, 120]
    assert easy["history"][-1]["accuracy"] >= 0.75 and easy["verdict"] == "separates"
    assert easy["history"][-1]["real_logit"] > easy["history"][-1]["fake_logit"]
    # against the shipped generator the same run reports whatever it finds, with the same fields
    hard = script.main(["--data", str(data), "--steps", "20", "--log-every", "10"])
    assert [row["step"] for row in hard["history"]] == [10, 20]
    assert 0.0 <= hard["history"][-1]["accuracy"] <= 1.0
    out = capsys.readouterr().out
    assert "real from bicubic" in out and "real from sr" in out
    with pytest.raises(SystemExit):
        script.main(["--data", str(data / "nothing-here")])
