"""The corpus of real pasted errors (tests/error_corpus.txt): read, and split into the
part the catalogue's patterns were written against and a held-out part."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).with_name("error_corpus.txt")
HELD_OUT_ONE_IN = 5


@dataclass(frozen=True)
class Paste:
    expected: str  # "key", "key/context" or "none"
    source: str
    text: str

    @property
    def key(self) -> str:
        return self.expected.split("/")[0]

    @property
    def context(self) -> str | None:
        return self.expected.split("/")[1] if "/" in self.expected else None

    @property
    def held_out(self) -> bool:
        digest = hashlib.sha256(f"{self.source}\n{self.text}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % HELD_OUT_ONE_IN == 0

    @property
    def id(self) -> str:
        return f"{self.expected}@{self.source.rsplit('/', 2)[-2]}/{self.source.rsplit('/', 1)[-1]}:{self.text[:30]}"


def load(path: Path = CORPUS) -> list[Paste]:
    pastes, lines = [], path.read_text().split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("=== "):
            i += 1
            continue
        expected = lines[i][4:].strip()
        source = lines[i + 1].removeprefix("source:").strip()
        assert lines[i + 2] == "---", f"line {i + 3} of {path.name}: expected ---"
        j = i + 3
        while j < len(lines) and not lines[j].startswith("=== "):
            j += 1
        text = "\n".join(lines[i + 3:j]).rstrip("\n")
        pastes.append(Paste(expected, source, text))
        i = j
    return pastes
