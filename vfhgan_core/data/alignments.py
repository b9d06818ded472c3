"""Word alignments of GRID-style clips (``.align`` files).

A GRID ``.align`` file has one ``start end word`` line per word, in units of
1/1000 of a 25 fps video frame (seconds = units / 25000). ``sil`` and ``sp``
mark silence. The lip reader is trained on the words; the audio tests use the
silences to check that speech features line up with the video.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vfhgan_core.errors import MediaError

#: GRID alignment units per second (1000 units per frame at 25 fps).
UNITS_PER_SECOND = 25_000.0
#: tokens that mark silence, not words
SILENCE_TOKENS = frozenset({"sil", "sp"})


@dataclass(frozen=True)
class WordSpan:
    """One aligned token: ``word`` spoken from ``start`` to ``end`` seconds."""

    word: str
    start: float
    end: float

    @property
    def is_silence(self) -> bool:
        return self.word in SILENCE_TOKENS


def parse_align(text: str, source: str = "<text>") -> list[WordSpan]:
    """Parse the text of a ``.align`` file into spans (silences included)."""
    spans: list[WordSpan] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise MediaError(
                f"{source}:{lineno}: expected 'start end word', got {line.strip()!r}"
            )
        try:
            start, end = int(parts[0]), int(parts[1])
        except ValueError:
            raise MediaError(
                f"{source}:{lineno}: start and end must be integers, got {line.strip()!r}"
            ) from None
        if end < start:
            raise MediaError(f"{source}:{lineno}: end {end} is before start {start}")
        spans.append(WordSpan(parts[2], start / UNITS_PER_SECOND, end / UNITS_PER_SECOND))
    return spans


def read_align(path: str | Path) -> list[WordSpan]:
    """Read a ``.align`` file."""
    path = Path(path)
    return parse_align(path.read_text(encoding="utf-8", errors="replace"), str(path))


def words(spans: list[WordSpan]) -> list[WordSpan]:
    """The spoken words only (silence tokens dropped)."""
    return [s for s in spans if not s.is_silence]


def find_align_file(video: str | Path) -> Path | None:
    """The ``.align`` file of a video, if there is one.

    Looked for beside the video (``clip.align``), in an ``align/`` folder beside
    it, and in an ``align/`` folder parallel to the video's folder
    (``.../video/clip.mp4`` -> ``.../align/clip.align``), as GRID is laid out.
    """
    video = Path(video)
    name = video.stem + ".align"
    for candidate in (
        video.with_suffix(".align"),
        video.parent / "align" / name,
        video.parent.parent / "align" / name,
    ):
        if candidate.is_file():
            return candidate
    return None
