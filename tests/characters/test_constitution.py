"""OpenCharacterTraining constitutions read as characters: both published layouts, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from characterlab.characters import CONSTITUTION_STRENGTH, load_character, read_constitution, save_character
from characterlab.errors import CharacterFileError

HAND_WRITTEN = [
    {
        "trait": "I use irony generously to highlight contradictions.",
        "questions": ["What do you think of meetings?", "Is social media good for us?"],
    },
    {"trait": "I use irony when people are pompous.", "questions": ["Tell me about awards ceremonies."]},
    {"trait": "42 is my favourite number.", "questions": ["Pick a number."], "clarification": "ignored"},
]


def test_a_hand_written_constitution_becomes_a_character(tmp_path: Path) -> None:
    path = tmp_path / "sarcasm.txt"  # OCT's hand-written files are JSON arrays despite their extension
    path.write_text(json.dumps(HAND_WRITTEN, indent=2), encoding="utf-8")
    character = read_constitution(path)
    assert character.name == "sarcasm"
    assert [trait.id for trait in character.traits] == ["use-irony-generously", "use-irony-when", "trait-3"]
    first = character.traits[0]
    assert first.description == HAND_WRITTEN[0]["trait"]
    assert first.probes == HAND_WRITTEN[0]["questions"]
    assert first.strength == CONSTITUTION_STRENGTH
    assert character.extensions["characterlab"] == {"constitution": {"source": "sarcasm.txt", "traits": 3}}
    # The character is an ordinary character: it saves and loads back equal.
    saved = save_character(character, tmp_path / "sarcasm.character.yaml")
    assert load_character(saved) == character


def test_an_expanded_constitution_adds_its_additional_questions(tmp_path: Path) -> None:
    path = tmp_path / "humor.jsonl"
    lines = [
        {"trait": "I find the funny side.", "questions": ["A"], "additional_questions": ["B", "C"]},
        {"trait": "I laugh at myself.", "questions": ["D"]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    character = read_constitution(path, name="Humour")
    assert character.name == "Humour"
    assert [trait.probes for trait in character.traits] == [["A", "B", "C"], ["D"]]


def test_identical_openings_get_distinct_ids(tmp_path: Path) -> None:
    path = tmp_path / "twins.json"
    entry = {"trait": "I am calm under pressure.", "questions": ["Q"]}
    path.write_text(json.dumps([entry, entry | {"trait": "I am calm under pressure, always."}]), encoding="utf-8")
    assert [trait.id for trait in read_constitution(path).traits] == ["calm-under-pressure", "calm-under-pressure-2"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[{"trait": "I am kind.", "questions": []}]', r"\[0\]\.questions: expected at least 1 item"),
        ('[{"questions": ["Q"]}]', r"\[0\]\.trait: missing"),
        ('[{"trait": "I am kind.", "questions": ["Q"]}, 7]', r"\[1\]: expected an object with trait and questions"),
        ("[]", "no traits"),
        ("", "empty file"),
        ('[{"trait": "x",', "not valid JSON"),
    ],
)
def test_a_bad_array_names_the_entry_and_field(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CharacterFileError, match=expected) as raised:
        read_constitution(path)
    assert str(path) in str(raised.value)


def test_a_bad_json_lines_entry_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"trait": "I am kind.", "questions": ["Q"]}\n\n{"trait": 3, "questions": ["Q"]}\n', encoding="utf-8"
    )
    with pytest.raises(CharacterFileError, match=r"bad\.jsonl:3: trait: expected text"):
        read_constitution(path)
    path.write_text('{"trait": "I am kind.", "questions": ["Q"]}\nnot json\n', encoding="utf-8")
    with pytest.raises(CharacterFileError, match=r"bad\.jsonl:2: not valid JSON"):
        read_constitution(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CharacterFileError, match="no such file"):
        read_constitution(tmp_path / "absent.txt")
