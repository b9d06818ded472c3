"""train/diagnose_discriminator.py, run as a subprocess: a fresh discriminator against bicubic and restored frames."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "train" / "diagnose_discriminator.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=REPO)


@pytest.mark.slow
def test_discriminator_learns_bicubic_and_reports_sr(prepare_grid_s1, tmp_path: Path) -> None:
    data = prepare_grid_s1(("bbaf2n", "bbal6n"), "diagnose_d")
    # bicubic faces are blurry: a working discriminator separates them from the truth quickly
    proc = _run("--against", "bicubic", "--data", str(data), "--steps", "120", "--lr", "4e-4", "--log-every", "40",
                "--json", str(tmp_path / "easy.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    easy = json.loads((tmp_path / "easy.json").read_text())
    assert [row["step"] for row in easy["history"]] == [40, 80, 120]
    assert easy["history"][-1]["accuracy"] >= 0.75 and easy["verdict"] == "separates"
    assert easy["history"][-1]["real_logit"] > easy["history"][-1]["fake_logit"]
    assert "real from bicubic" in proc.stdout
    # against the shipped generator the same run reports whatever it finds, with the same fields
    proc = _run("--data", str(data), "--steps", "20", "--log-every", "10", "--json", str(tmp_path / "hard.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    hard = json.loads((tmp_path / "hard.json").read_text())
    assert [row["step"] for row in hard["history"]] == [10, 20]
    assert 0.0 <= hard["history"][-1]["accuracy"] <= 1.0
    assert "real from sr" in proc.stdout
    # no clips there: a one-line error, no traceback
    proc = _run("--data", str(data / "nothing-here"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and proc.stderr.strip()
