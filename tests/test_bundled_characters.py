"""The bundled characters: they validate, render, export to cards that come back identical, and the pairs
differ in one trait only."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.characters import Character, card_png_bytes, load_character, load_corpus, parse_card
from characterlab.stage import StageContext, render_chat_frame, render_transcript_frame
from tests.conftest import EXAMPLES, SHARED_DATA, bundled_character_paths

NAMES = ["assistant", "cheerful", "deferent", "gloomy", "lincoln", "marit", "steadfast"]


def _load(name: str) -> Character:
    return load_character(EXAMPLES / f"{name}.character.yaml")


def test_the_expected_characters_are_bundled() -> None:
    assert [p.name.removesuffix(".character.yaml") for p in bundled_character_paths()] == NAMES


@pytest.mark.parametrize("path", bundled_character_paths(), ids=lambda p: p.name)
def test_renders_with_every_macro_filled(path: Path) -> None:
    character = load_character(path)
    context = StageContext(user_name="Sam")
    for message in render_chat_frame(character, context):
        assert message.content.strip()
        assert "{{" not in message.content and "<USER>" not in message.content and "<BOT>" not in message.content
    frame = render_transcript_frame(character, context)
    assert frame.prompt.endswith(f"{character.display_name}:") and "{{" not in frame.prompt


@pytest.mark.parametrize("path", bundled_character_paths(), ids=lambda p: p.name)
def test_png_card_reimports_identically(path: Path) -> None:
    character = load_character(path)
    assert parse_card(card_png_bytes(character), source=path.name) == character


def test_the_assistant_is_thin_on_purpose() -> None:
    assistant = _load("assistant")
    assert [t.id for t in assistant.traits] == ["helpfulness", "harmlessness", "honesty"]
    assert not assistant.self_knowledge and not assistant.values and not assistant.corpus


def test_the_rich_character_is_rich() -> None:
    marit = _load("marit")
    assert len(marit.traits) >= 6
    for trait in marit.traits:
        assert trait.examples and trait.counterexamples and trait.probes, trait.id
    assert {t.strength < 0.5 for t in marit.traits} == {True, False}  # both ends of the dial are used
    assert marit.self_knowledge and marit.voice and marit.values and marit.boundaries and marit.example_dialogue


def _differences(a: Character, b: Character) -> set[str]:
    left, right = a.model_dump(), b.model_dump()
    changed = {key for key in left if left[key] != right[key]}
    if "traits" in changed:
        changed.remove("traits")
        for index, (x, y) in enumerate(zip(left["traits"], right["traits"], strict=True)):
            changed |= {f"traits[{index}].{key}" for key in x if x[key] != y[key]}
    return changed


def test_affect_pair_differs_in_affect_only() -> None:
    cheerful, gloomy = _load("cheerful"), _load("gloomy")
    assert _differences(cheerful, gloomy) == {
        "name",
        "summary",
        "voice",
        "greeting",
        "traits[0].id",
        "traits[0].description",
        "traits[0].examples",
        "traits[0].counterexamples",
        "traits[0].scorers",
    }
    assert cheerful.traits[0].scorers[0].kind == gloomy.traits[0].scorers[0].kind == "sentiment"
    assert (cheerful.traits[0].scorers[0].direction, gloomy.traits[0].scorers[0].direction) == (1, -1)  # type: ignore[union-attr]


def test_deference_pair_differs_in_deference_only() -> None:
    deferent, steadfast = _load("deferent"), _load("steadfast")
    assert _differences(deferent, steadfast) == {"name", "summary", "traits[0].strength"}
    assert deferent.trait("deference").strength > 0.5 > steadfast.trait("deference").strength


LINCOLN = SHARED_DATA / "lincoln" / "papers-and-writings-of-abraham-lincoln.txt"


@pytest.mark.skipif(not LINCOLN.exists(), reason="the shared Lincoln corpus is not on this machine")
def test_lincoln_reads_his_own_writings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARACTERLAB_LINCOLN_CORPUS", str(LINCOLN))
    lincoln = _load("lincoln")
    corpus = load_corpus(lincoln, EXAMPLES)
    first = corpus.passages[0].text
    assert "SANGAMON COUNTY" in first  # his 1832 address, not an editor's introduction about him
    assert not any("Roosevelt" in p.text[:200] and "INTRODUCTION" in p.text for p in corpus.passages[:5])
    assert not any("Project Gutenberg License" in p.text for p in corpus.passages)
    assert any("malice toward none" in p.text for p in corpus.search("malice toward none charity for all", k=3))


def test_lincoln_without_a_corpus_copy_says_where_it_looked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARACTERLAB_LINCOLN_CORPUS", raising=False)
    from characterlab.errors import CharacterFileError

    with pytest.raises(CharacterFileError, match=r"corpus\[0\]\.path: no file found at .*corpus/lincoln"):
        load_corpus(_load("lincoln"), EXAMPLES)
