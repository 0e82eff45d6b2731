"""Corpus-grounded characters: finding the files, trimming them, splitting and searching the passages."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.characters import Character, CorpusSource, expand_corpus_path, load_corpus, resolve_corpus
from characterlab.errors import CharacterFileError
from tests.conftest import SHARED_DATA

LETTER = """\
Editor's preface: this is about the author, not by them.
BEGIN
Dear friend, the river rose again last night and the mill wheel turned faster than it ever has before.

Short line.
The harvest will be late, and the price of corn will rise with the river; we must plan the storage early.

THE END
licence text that is not the author's
"""


def _character(*sources: CorpusSource) -> Character:
    return Character(name="Writer", corpus=list(sources))


def test_expands_variables_defaults_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = CorpusSource(path="${CL_TEST_DIR:-fallback}/letters.txt")
    monkeypatch.delenv("CL_TEST_DIR", raising=False)
    assert expand_corpus_path(source, tmp_path) == tmp_path / "fallback" / "letters.txt"
    monkeypatch.setenv("CL_TEST_DIR", "/elsewhere")
    assert expand_corpus_path(source, tmp_path) == Path("/elsewhere/letters.txt")


def test_passages_are_trimmed_and_joined(tmp_path: Path) -> None:
    (tmp_path / "letters.txt").write_text(LETTER, encoding="utf-8")
    corpus = load_corpus(_character(CorpusSource(path="*.txt", start_after="BEGIN", end_before="THE END")), tmp_path)
    texts = [p.text for p in corpus.passages]
    assert len(texts) == 2
    assert texts[0].startswith("Dear friend")
    assert texts[1].startswith("Short line. The harvest")  # a heading-length line joins the next paragraph
    assert corpus.passages[0].line == 3
    assert not any("preface" in t or "licence" in t for t in texts)


def test_search_ranks_the_passage_on_topic_first(tmp_path: Path) -> None:
    (tmp_path / "letters.txt").write_text(LETTER, encoding="utf-8")
    corpus = load_corpus(_character(CorpusSource(path=str(tmp_path / "letters.txt"))), tmp_path)
    assert corpus.search("corn harvest price", k=1)[0].text.startswith("Short line. The harvest")
    assert "Dear friend" in corpus.search("mill wheel", k=1)[0].text
    assert corpus.search("zebra") == []


def test_folders_take_their_text_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.md").write_text("x " * 20, encoding="utf-8")
    (tmp_path / "a" / "two.txt").write_text("y " * 20, encoding="utf-8")
    (tmp_path / "a" / "skip.png").write_bytes(b"\x89PNG")
    files = resolve_corpus(_character(CorpusSource(path="a")), tmp_path)
    assert [f.name for _, f in files] == ["one.md", "two.txt"]


def test_missing_corpus_names_the_entry_and_path(tmp_path: Path) -> None:
    (tmp_path / "found.txt").write_text("words", encoding="utf-8")
    with pytest.raises(CharacterFileError, match=r"corpus\[1\]\.path: no file found at .*nowhere"):
        resolve_corpus(_character(CorpusSource(path="."), CorpusSource(path="nowhere/*.txt")), tmp_path)


def test_missing_marker_is_reported(tmp_path: Path) -> None:
    (tmp_path / "letters.txt").write_text(LETTER, encoding="utf-8")
    with pytest.raises(CharacterFileError, match="marker 'NOPE' not found"):
        load_corpus(_character(CorpusSource(path="letters.txt", start_after="NOPE")), tmp_path)


LINCOLN = SHARED_DATA / "lincoln" / "papers-and-writings-of-abraham-lincoln.txt"


@pytest.mark.skipif(not LINCOLN.exists(), reason="the shared Lincoln corpus is not on this machine")
def test_real_corpus_of_lincolns_writings() -> None:
    corpus = load_corpus(
        _character(CorpusSource(path=str(LINCOLN), end_before="*** END OF THIS PROJECT GUTENBERG EBOOK")),
        LINCOLN.parent,
    )
    assert len(corpus.passages) > 2000
    assert corpus.word_count > 400_000
    best = corpus.search("house divided against itself cannot stand", k=3)
    assert any("divided against itself" in passage.text for passage in best)
