"""The character file: loading, the errors a user sees, and lossless saving."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from characterlab.characters import (
    Boundary,
    Character,
    dump_character,
    load_character,
    parse_character,
    save_character,
)
from characterlab.errors import CharacterFileError
from tests.strategies import characters

VALID = """\
schema: characterlab/character@1
name: Ada
summary: A mathematician.
voice: Plain.
traits:
  - id: curiosity
    description: asks questions
    strength: 0.8
  - id: wit
    description: makes jokes
    strength: 0.4
  - id: calm
    description: stays calm
    strength: 0.5
"""


def _errors(text: str, name: str = "ada.character.yaml") -> list[str]:
    with pytest.raises(CharacterFileError) as caught:
        parse_character(text, source=name)
    return str(caught.value).splitlines()


def test_loads_every_field(ada: Character) -> None:
    assert ada.name == "Ada"
    assert [t.id for t in ada.traits] == ["curiosity", "bluntness", "patience"]
    assert ada.trait("curiosity").strength == 0.8
    assert ada.boundaries[0] == Boundary(refuses="Never pretends a false proof is true.")
    assert ada.boundaries[1].response == "That one you must do yourself, {{user}}."
    assert ada.corpus[0].start_after == "BEGIN"
    assert ada.extensions == {"my_tool": {"colour": "blue", "counts": [1, 2]}}
    assert ada.trait("curiosity").scorers[0].kind == "regex"


def test_error_names_file_line_field_and_expectation() -> None:
    text = VALID.replace("strength: 0.5", 'strength: "high"')
    assert _errors(text) == ['ada.character.yaml:14: traits[2].strength: expected a number in [0, 1], got "high"']


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("strength: 0.8", "strength: 1.5"), "ada.character.yaml:8: traits[0].strength: expected a number in [0, 1]"),
        (("strength: 0.8", "strength: true"), "traits[0].strength: expected a number in [0, 1], got true"),
        (("id: wit", "id: Wit!"), "ada.character.yaml:9: traits[1].id: expected text matching"),
        (
            ("id: wit", "id: curiosity"),
            'ada.character.yaml:5: traits: expected unique trait ids, got "curiosity" twice',
        ),
        (("    description: makes jokes\n", ""), "ada.character.yaml:9: traits[1].description: missing"),
        (("summary: A mathematician.", "sumary: A mathematician."), "ada.character.yaml:3: sumary: unknown field"),
        (("name: Ada", "name: ''"), "ada.character.yaml:2: name: expected text, got an empty value"),
        (("name: Ada", "name: [Ada]"), "ada.character.yaml:2: name: expected text, got a list"),
        (("characterlab/character@1", "characterlab/character@9"), "ada.character.yaml:1: schema: expected"),
        (
            ("    strength: 0.4\n", "    strength: 0.4\n    scorers: [{kind: mood}]\n"),
            "ada.character.yaml:12: traits[1].scorers[0]: expected `kind` to be one of",
        ),
        (
            ("    strength: 0.4\n", "    strength: 0.4\n    scorers: [{kind: sentiment, direction: 2}]\n"),
            "ada.character.yaml:12: traits[1].scorers[0].direction: expected +1",
        ),
        (
            ("    strength: 0.4\n", "    strength: 0.4\n    scorers: [{kind: regex, pattern: '(('}]\n"),
            "traits[1].scorers[0].pattern: expected a valid regular expression",
        ),
        (
            ("    strength: 0.4\n", "    strength: 0.4\n    scorers: [{direction: 1}]\n"),
            "traits[1].scorers[0]: missing `kind`",
        ),
    ],
)
def test_each_mistake_is_located_and_explained(change: tuple[str, str], expected: str) -> None:
    errors = _errors(VALID.replace(*change))
    assert any(expected in line for line in errors), errors


def test_all_problems_are_reported_at_once() -> None:
    text = VALID.replace("strength: 0.8", "strength: x").replace("strength: 0.4", "strength: -1")
    errors = _errors(text)
    assert [e.split(":")[1] for e in errors] == ["8", "11"]


def test_yaml_syntax_error_gives_line() -> None:
    errors = _errors(VALID.replace("  - id: wit", "  - id: [wit"))
    assert errors[0].startswith("ada.character.yaml:") and "not valid YAML" in errors[0]


def test_duplicate_keys_are_errors_not_silently_dropped() -> None:
    assert _errors(VALID + "name: Bob\n") == ["ada.character.yaml:15: name: duplicate key; each field may appear once"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "ada.character.yaml:1: expected a mapping of fields starting with `schema: characterlab/character@1`"),
        ("- a\n- b\n", "ada.character.yaml:1: expected a mapping"),
        ("name: Ada\n", "ada.character.yaml:1: schema: missing; expected `schema: characterlab/character@1`"),
    ],
)
def test_wrong_shape(text: str, expected: str) -> None:
    assert _errors(text)[0].startswith(expected)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CharacterFileError, match="no such file"):
        load_character(tmp_path / "missing.character.yaml")
    with pytest.raises(CharacterFileError, match="got a folder"):
        load_character(tmp_path)
    latin = tmp_path / "latin.character.yaml"
    latin.write_bytes(VALID.replace("Ada", "Adà").encode("latin-1"))
    with pytest.raises(CharacterFileError, match=r"latin\.character\.yaml: expected UTF-8 text"):
        load_character(latin)


def test_save_then_load_is_identical(ada: Character, tmp_path: Path) -> None:
    saved = save_character(ada, tmp_path / "ada.character.yaml")
    assert load_character(saved) == ada
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("schema: characterlab/character@1\nname: Ada\n")
    assert "summary: |" in text  # multi-line text stays readable
    assert "nickname" not in text  # defaults are left out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(characters)
def test_any_character_survives_dump_and_parse(character: Character) -> None:
    assert parse_character(dump_character(character)) == character


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_corrupted_files_raise_only_our_error(data: st.DataObject) -> None:
    original = (Path(__file__).parent.parent / "fixtures" / "ada.character.yaml").read_text(encoding="utf-8")
    text = list(original)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(text) - 1))
        action = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        char = data.draw(st.sampled_from(list(":-[]{}'\"\n #&*!|>%@`\t0x\u00e9\u2603")))
        if action == "delete":
            del text[position]
        elif action == "insert":
            text.insert(position, char)
        else:
            text[position] = char
    try:
        parse_character("".join(text), source="corrupt.character.yaml")
    except CharacterFileError as error:
        assert str(error).startswith("corrupt.character.yaml")


@settings(max_examples=150, deadline=None)
@given(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=90, max_size=400),
    st.sampled_from(["", "\n", "\n\n", " ", "\n  "]),
)
def test_long_text_survives_folded_and_literal_styles(text: str, ending: str) -> None:
    character = Character(name="Long", summary=text + ending, voice=" ".join([text] * 2))
    assert parse_character(dump_character(character)) == character
