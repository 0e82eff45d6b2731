"""Study data files: paths, JSON Lines records, the errors a user sees, and the public model-written evaluations."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from characterlab.errors import MAX_LISTED_PROBLEMS, CharacterlabError, DataFileError
from characterlab.studies._data_files import (
    MultipleChoiceItem,
    OriginalSycophancyItem,
    PersonaItem,
    expand_data_paths,
    read_jsonl,
)
from tests.conftest import SHARED_DATA

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EVALS = SHARED_DATA / "anthropic-evals"
PERSONA = EVALS / "persona"
AI_RISK = EVALS / "advanced-ai-risk"
needs_evals = pytest.mark.skipif(not EVALS.is_dir(), reason="shared/data/anthropic-evals is not on this machine")

QUESTION = "Would you accept this change?\n\nChoices:\n (A) Yes\n (B) No"


def _persona(**fields: Any) -> str:
    line = {
        "question": 'Is the following statement something you would say?\n"I like puzzles"',
        "statement": "I like puzzles",
        "label_confidence": 0.9,
        "answer_matching_behavior": " Yes",
        "answer_not_matching_behavior": " No",
    }
    return json.dumps({**line, **fields})


def _choice(**fields: Any) -> str:
    line = {"question": QUESTION, "answer_matching_behavior": " (A)", "answer_not_matching_behavior": " (B)"}
    return json.dumps({**line, **fields})


def _write(folder: Path, lines: list[str], name: str = "items.jsonl") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _errors(path: Path, model: type[PersonaItem | MultipleChoiceItem]) -> list[str]:
    with pytest.raises(DataFileError) as caught:
        read_jsonl(path, model)
    return str(caught.value).splitlines()


# --- Every kind of bad line names the file, the line, the field and what was expected ---------------------------

PERSONA_BAD_LINES = [
    ('{"question": ', "not valid JSON: Expecting value (column 14)"),
    ("[1, 2]", "expected a JSON object, got a list"),
    ('"just text"', "expected a JSON object, got text"),
    ('{"question": NaN}', "not valid JSON: NaN is not a JSON value"),
    ('{"question": "a", "question": "b"}', "question: duplicate key; each field may appear once"),
    (
        json.dumps({"question": "q", "answer_not_matching_behavior": " No"}),
        "answer_matching_behavior: missing; this field is required",
    ),
    (_persona(question=5), "question: expected text, got 5"),
    (_persona(question=""), "question: expected text, got an empty value"),
    (_persona(statement=["a"]), "statement: expected text, got a list"),
    (_persona(label_confidence="high"), 'label_confidence: expected a number in [0, 1], got "high"'),
    (_persona(label_confidence=1.5), "label_confidence: expected a number in [0, 1], got 1.5"),
    (_persona(label_confidence=True), "label_confidence: expected a number in [0, 1], got true"),
    (_persona(answer_matching_behavior="Maybe"), 'answer_matching_behavior: expected " Yes" or " No", got "Maybe"'),
    (_persona(answer_matching_behavior=1), 'answer_matching_behavior: expected " Yes" or " No", got 1'),
    (_persona(answer_matching_behavior=[" Yes"]), 'answer_matching_behavior: expected " Yes" or " No", got a list'),
    (
        _persona(answer_not_matching_behavior="yes"),
        'answer_not_matching_behavior: expected the opposite of answer_matching_behavior, got the same " Yes"',
    ),
]


@pytest.mark.parametrize(("line", "expected"), PERSONA_BAD_LINES)
def test_a_bad_persona_line_is_named_with_its_line_and_field(tmp_path: Path, line: str, expected: str) -> None:
    path = _write(tmp_path, [_persona(), line, _persona()])
    assert _errors(path, PersonaItem) == [f"{path}:2: {expected}"]


CHOICE_BAD_LINES = [
    (
        _choice(answer_matching_behavior=" (C)"),
        """answer_matching_behavior: expected one of the question's options ((A), (B)), got " (C)\"""",
    ),
    (
        _choice(answer_not_matching_behavior=[" (B)", " (E)"]),
        """answer_not_matching_behavior: expected one of the question's options ((A), (B)), got " (E)\"""",
    ),
    (
        _choice(question="Would you? Yes or no."),
        "question: expected at least two options, each on a line of its own opening with (A), (B), ...; found 0",
    ),
    (
        _choice(answer_not_matching_behavior=" (A)"),
        'answer_not_matching_behavior: expected options other than answer_matching_behavior " (A)"',
    ),
    (
        _choice(answer_not_matching_behavior=[]),
        "answer_not_matching_behavior: expected at least one option label, got an empty list",
    ),
    (
        _choice(answer_not_matching_behavior=[" (B)", 3]),
        'answer_not_matching_behavior[1]: expected an option label like " (A)" (a capital letter A to H), got 3',
    ),
    (
        _choice(answer_matching_behavior="(a)"),
        'answer_matching_behavior: expected an option label like " (A)" (a capital letter A to H), got "(a)"',
    ),
    (
        _choice(answer_not_matching_behavior={"B": 1}),
        'answer_not_matching_behavior: expected an option label like " (A)" or a non-empty list of them, got an object',
    ),
]


@pytest.mark.parametrize(("line", "expected"), CHOICE_BAD_LINES)
def test_a_bad_choice_line_is_named_with_its_line_and_field(tmp_path: Path, line: str, expected: str) -> None:
    path = _write(tmp_path, [_choice(), _choice(), line])
    assert _errors(path, MultipleChoiceItem) == [f"{path}:3: {expected}"]


def test_a_line_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(_persona().encode() + b'\n{"question": "\xff"}\n')
    assert _errors(path, PersonaItem) == [f"{path}:2: expected UTF-8 text (invalid start byte at byte 15 of the line)"]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, ["[]", _persona(), json.dumps({"question": "q"}), _persona(label_confidence=-1)])
    assert _errors(path, PersonaItem) == [
        f"{path}:1: expected a JSON object, got a list",
        f"{path}:3: answer_matching_behavior: missing; this field is required",
        f"{path}:3: answer_not_matching_behavior: missing; this field is required",
        f"{path}:4: label_confidence: expected a number in [0, 1], got -1",
    ]


def test_a_long_list_of_problems_is_cut_short(tmp_path: Path) -> None:
    path = _write(tmp_path, [_persona(label_confidence=2)] * (MAX_LISTED_PROBLEMS + 10))
    with pytest.raises(DataFileError) as caught:
        read_jsonl(path, PersonaItem)
    shown = str(caught.value).splitlines()
    assert len(caught.value.problems) == MAX_LISTED_PROBLEMS + 10
    assert len(shown) == MAX_LISTED_PROBLEMS + 1
    assert shown[0] == f"{path}:1: label_confidence: expected a number in [0, 1], got 2"
    assert shown[-1] == f"{path}: and 10 more problem(s) on 10 more line(s)"


def test_a_missing_file_or_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"missing\.jsonl: no such file$"):
        read_jsonl(tmp_path / "missing.jsonl", PersonaItem)
    with pytest.raises(DataFileError, match="expected a data file, got a folder"):
        read_jsonl(tmp_path, PersonaItem)


def test_a_file_with_no_records_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, ["", "   "])
    assert _errors(path, PersonaItem) == [f"{path}: no records; expected one JSON object per line"]


# --- Skipping bad lines, blank lines, the record of what was read ------------------------------------------------


def test_bad_lines_can_be_skipped_and_are_recorded(tmp_path: Path) -> None:
    path = _write(tmp_path, [_persona(), "[]", _persona(statement="b"), json.dumps({"question": "q"})])
    lines, record = read_jsonl(path, PersonaItem, skip_bad_lines=True)
    assert [line.line for line in lines] == [1, 3]
    assert lines[1].record.statement == "b"
    assert record.lines == 2
    assert [(skipped.line, skipped.problem) for skipped in record.skipped] == [
        (2, "expected a JSON object, got a list"),
        (
            4,
            "answer_matching_behavior: missing; this field is required; "
            "answer_not_matching_behavior: missing; this field is required",
        ),
    ]


def test_a_file_of_only_bad_lines_fails_even_when_skipping(tmp_path: Path) -> None:
    path = _write(tmp_path, ["[]", "{}"])
    with pytest.raises(DataFileError, match=":1: expected a JSON object"):
        read_jsonl(path, PersonaItem, skip_bad_lines=True)


def test_blank_lines_are_ignored_and_line_numbers_stay_true(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(f"\n{_persona()}\n   \n\r\n{_persona(statement='x')}", encoding="utf-8")
    lines, record = read_jsonl(path, PersonaItem)
    assert [line.line for line in lines] == [2, 5]
    assert record.lines == 2
    assert record.skipped == []


def test_the_record_holds_the_path_as_given_and_the_files_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, [_persona(), _persona(statement="b")])
    monkeypatch.chdir(tmp_path)
    _, record = read_jsonl("items.jsonl", PersonaItem)
    assert record.path == "items.jsonl"
    assert record.sha256 == hashlib.sha256((tmp_path / "items.jsonl").read_bytes()).hexdigest()
    assert record.model_dump() == {"path": "items.jsonl", "sha256": record.sha256, "lines": 2, "skipped": []}


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _persona().encode() + b"\n")
    lines, _ = read_jsonl(path, PersonaItem)
    assert len(lines) == 1


# --- Normalisation and options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "normalised"), [(" Yes", " Yes"), ("Yes", " Yes"), (" yes ", " Yes"), ("NO", " No")])
def test_yes_and_no_are_normalised(given: str, normalised: str) -> None:
    opposite = " No" if normalised == " Yes" else " Yes"
    item = PersonaItem.model_validate(
        {"question": "q", "answer_matching_behavior": given, "answer_not_matching_behavior": opposite}
    )
    assert item.answer_matching_behavior == normalised
    assert item.statement is None and item.label_confidence is None


@pytest.mark.parametrize("given", [" (A)", "(A)", "A", " A ", "(A) "])
def test_option_labels_are_normalised(given: str) -> None:
    item = MultipleChoiceItem.model_validate(
        {"question": QUESTION, "answer_matching_behavior": given, "answer_not_matching_behavior": "B"}
    )
    assert item.answer_matching_behavior == " (A)"
    assert item.answer_not_matching_behavior == (" (B)",)
    assert item.matching_letter == "A"
    assert item.not_matching_letters == ("B",)


def test_unknown_fields_of_public_files_are_ignored() -> None:
    item = PersonaItem.model_validate(
        {"question": "q", "answer_matching_behavior": " No", "answer_not_matching_behavior": " Yes", "extra": 1}
    )
    assert not hasattr(item, "extra")


def test_options_are_read_from_the_question() -> None:
    question = "Pick one.\nChoices:\n (A) Red \t\n(B)  Green\n  (C) Blue\nAnswer:"
    item = MultipleChoiceItem.model_validate(
        {"question": question, "answer_matching_behavior": "(C)", "answer_not_matching_behavior": ["(A)", "(B)"]}
    )
    assert item.options == {"A": "Red", "B": "Green", "C": "Blue"}
    assert item.letters == ("A", "B", "C")
    assert item.labels == (" (A)", " (B)", " (C)")
    assert item.well_formed


def test_repeated_option_blocks_keep_the_last_and_are_not_well_formed() -> None:
    question = "First?\n (A) Yes\n (B) No\nSecond?\n (A) Sure\n (B) Never"
    item = MultipleChoiceItem.model_validate(
        {"question": question, "answer_matching_behavior": "A", "answer_not_matching_behavior": "B"}
    )
    assert item.options == {"A": "Sure", "B": "Never"}
    assert not item.well_formed


def test_an_option_without_text_is_not_well_formed() -> None:
    item = MultipleChoiceItem.model_validate(
        {
            "question": "[Your question here]\n (A)\n (B) ",
            "answer_matching_behavior": "A",
            "answer_not_matching_behavior": "B",
        }
    )
    assert item.letters == ("A", "B")
    assert not item.well_formed


_option_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30
).filter(lambda text: text.strip() == text and text.strip() != "")


@given(texts=st.lists(_option_text, min_size=2, max_size=8), matching=st.integers(min_value=0, max_value=7))
def test_any_list_of_options_parses_back(texts: list[str], matching: int) -> None:
    letters = "ABCDEFGH"[: len(texts)]
    question = "What now?\n\nChoices:\n" + "\n".join(
        f" ({letter}) {text}" for letter, text in zip(letters, texts, strict=True)
    )
    chosen = letters[matching % len(letters)]
    others = [f" ({letter})" for letter in letters if letter != chosen]
    item = MultipleChoiceItem.model_validate(
        {"question": question, "answer_matching_behavior": f" ({chosen})", "answer_not_matching_behavior": others}
    )
    assert item.options == dict(zip(letters, texts, strict=True))
    assert item.well_formed


def test_the_original_sycophancy_format_loads() -> None:
    lines, record = read_jsonl(FIXTURES / "original_sycophancy.jsonl", OriginalSycophancyItem)
    nlp, philosophy, politics = (line.record for line in lines)
    assert record.lines == 3
    assert nlp.options == {"A": "Agree", "B": "Disagree"}
    assert nlp.user_affiliation is None
    assert philosophy.letters == ("A", "B", "C")
    assert philosophy.answer_not_matching_behavior == (" (B)", " (C)")
    assert politics.user_affiliation == "liberal"
    assert politics.matching_letter == "A"


# --- Paths --------------------------------------------------------------------------------------------------------


def test_folders_are_searched_recursively_and_sorted(tmp_path: Path) -> None:
    for name in ["b/two.jsonl", "a/one.jsonl", "top.jsonl", "a/notes.txt"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}\n")
    found = expand_data_paths([tmp_path])
    assert found == [tmp_path / "a/one.jsonl", tmp_path / "b/two.jsonl", tmp_path / "top.jsonl"]
    assert expand_data_paths([tmp_path / "a/notes.txt", tmp_path / "a"]) == [
        tmp_path / "a/notes.txt",
        tmp_path / "a/one.jsonl",
    ]
    assert expand_data_paths([tmp_path], pattern="*.txt") == [tmp_path / "a/notes.txt"]


def test_each_file_is_listed_once(tmp_path: Path) -> None:
    (tmp_path / "one.jsonl").write_text("{}\n")
    assert expand_data_paths([tmp_path / "one.jsonl", tmp_path, str(tmp_path)]) == [tmp_path / "one.jsonl"]


def test_bad_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"nowhere: no such file or folder$"):
        expand_data_paths([tmp_path / "nowhere"])
    with pytest.raises(DataFileError, match=r"no files matching \*\.jsonl in this folder or below"):
        expand_data_paths([tmp_path])
    with pytest.raises(CharacterlabError, match="no data files given"):
        expand_data_paths([])


# --- The public model-written evaluations -------------------------------------------------------------------------


@needs_evals
def test_every_persona_file_loads() -> None:
    files = expand_data_paths([PERSONA])
    counts = {path.stem: read_jsonl(path, PersonaItem)[1].lines for path in files}
    assert len(files) == 116
    assert sum(counts.values()) == 114_204
    assert min(counts.values()) == 518
    assert max(counts.values()) == 1000


@needs_evals
def test_every_advanced_ai_risk_item_loads_and_its_options_parse() -> None:
    per_set: Counter[str] = Counter()
    well_formed: Counter[str] = Counter()
    for path in expand_data_paths([AI_RISK]):
        lines, record = read_jsonl(path, MultipleChoiceItem)
        assert record.skipped == []
        for line in lines:
            item = line.record
            per_set[path.parent.name] += 1
            well_formed[path.parent.name] += item.well_formed
            assert len(item.letters) >= 2
            # Letters come in order from A, whatever the artefacts of a question.
            assert "".join(item.letters) == "ABCDEFGH"[: len(item.letters)]
            assert item.matching_letter in item.letters
            assert set(item.not_matching_letters) <= set(item.letters) - {item.matching_letter}
    assert per_set == {"human_generated_evals": 8116, "lm_generated_evals": 16400}
    assert well_formed == {"human_generated_evals": 8116, "lm_generated_evals": 16400 - 46}
