"""GRID word alignments: parsing, lookup beside a video, bad files."""
from __future__ import annotations

from pathlib import Path

import pytest

from vfhgan_core.data.alignments import UNITS_PER_SECOND, find_align_file, parse_align, read_align, words
from vfhgan_core.errors import MediaError


def test_real_grid_alignment_is_parsed_in_seconds(data_dir: Path) -> None:
    spans = read_align(data_dir / "grid_s1" / "align" / "bbaf2n.align")
    raw = (data_dir / "grid_s1" / "align" / "bbaf2n.align").read_text().split()
    assert len(spans) == len(raw) // 3
    assert spans[0].word == "sil" and spans[0].is_silence
    assert spans[1].start == pytest.approx(int(raw[3]) / UNITS_PER_SECOND)
    # spans are contiguous and inside a 3 s clip
    for a, b in zip(spans, spans[1:]):
        assert a.end == pytest.approx(b.start)
    assert 2.5 < spans[-1].end <= 3.01
    spoken = [s.word for s in words(spans)]
    assert len(spoken) == 6 and "sil" not in spoken and "sp" not in spoken


def test_every_s1_alignment_uses_the_51_word_vocabulary(data_dir: Path) -> None:
    vocab = set()
    for path in sorted((data_dir / "grid_s1" / "align").glob("*.align")):
        vocab.update(s.word for s in words(read_align(path)))
    assert len(vocab) == 51


def test_align_file_found_in_parallel_folder(data_dir: Path, tmp_path: Path) -> None:
    video = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    assert find_align_file(video) == data_dir / "grid_s1" / "align" / "bbaf2n.align"
    beside = tmp_path / "clip.mp4"
    beside.write_bytes(b"")
    assert find_align_file(beside) is None
    (tmp_path / "clip.align").write_text("0 100 sil\n")
    assert find_align_file(beside) == tmp_path / "clip.align"


@pytest.mark.parametrize("text", ["0 10\n", "a b word\n", "50 10 word\n"])
def test_malformed_alignment_names_the_line(text: str) -> None:
    with pytest.raises(MediaError, match=r"bad.align:1"):
        parse_align(text, "bad.align")
