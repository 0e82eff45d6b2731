"""The persona set of the persona-drift study: the packaged file, its scorers, and the errors of a user's own file."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from characterlab.errors import DataFileError
from characterlab.studies._personas import (
    PERSONAS_SCHEMA,
    KeywordsProbeScorer,
    LanguageProbeScorer,
    Persona,
    ProbeScorer,
    load_personas,
    score_probe,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_SCORER: TypeAdapter[ProbeScorer] = TypeAdapter(ProbeScorer)


def _scorer(**fields: Any) -> ProbeScorer:
    return _SCORER.validate_python(fields)


@functools.cache
def _replies() -> dict[str, dict[str, str]]:
    with (FIXTURES / "persona_replies.yaml").open(encoding="utf-8") as file:
        replies: dict[str, dict[str, str]] = yaml.safe_load(file)
    return replies


# --- The packaged set ---------------------------------------------------------------------------------------------


def test_the_packaged_set_is_big_and_broad_enough() -> None:
    personas, record = load_personas()
    ids = [persona.id for persona in personas.personas]
    kinds = Counter(persona.scorer.kind for persona in personas.personas)
    languages = {persona.scorer.language for persona in personas.personas if persona.scorer.kind == "language"}
    assert personas.schema_id == PERSONAS_SCHEMA
    assert len(ids) >= 36
    assert len(set(ids)) == len(ids)
    assert {"fr", "de", "es", "it", "pt", "nl"} <= languages
    assert {"language", "sentiment", "uppercase", "regex", "keywords", "length", "ends_with", "starts_with"} <= set(
        kinds
    )
    assert record.path == "characterlab/studies/data/personas.yaml"
    assert re.fullmatch(r"[0-9a-f]{64}", record.sha256)
    assert personas.persona("always-french").scorer == LanguageProbeScorer(kind="language", language="fr")
    with pytest.raises(KeyError):
        personas.persona("no-such-persona")


def test_packaged_personas_are_written_in_the_second_person_with_question_probes() -> None:
    personas, _ = load_personas()
    for persona in personas.personas:
        assert persona.system.startswith("You "), persona.id
        assert persona.probe.endswith("?"), persona.id


def test_every_packaged_persona_has_a_written_pair_of_replies() -> None:
    personas, _ = load_personas()
    assert set(_replies()) == {persona.id for persona in personas.personas}


def _packaged() -> list[Persona]:
    personas, _ = load_personas()
    return personas.personas


@pytest.mark.parametrize("persona", _packaged(), ids=lambda persona: persona.id)
def test_every_packaged_persona_is_scorable(persona: Persona) -> None:
    """A reply that follows the persona scores high, a plain English reply to the same probe scores low."""
    replies = _replies()[persona.id]
    assert score_probe(persona.scorer, replies["follows"]) >= 0.8
    assert score_probe(persona.scorer, replies["plain"]) <= 0.2


@pytest.mark.parametrize("persona", _packaged(), ids=lambda persona: persona.id)
def test_an_empty_reply_is_missing_for_every_packaged_scorer(persona: Persona) -> None:
    assert math.isnan(score_probe(persona.scorer, ""))
    assert math.isnan(score_probe(persona.scorer, " \n\t "))


# --- Each scorer kind, against hand-computed values -------------------------------------------------------------


def test_language_is_langdetects_probability_and_deterministic() -> None:
    french = _scorer(kind="language", language="fr")
    text = "Ce matin, j'ai mangé une tartine avec de la confiture et j'ai bu un café."
    first = score_probe(french, text)
    assert first > 0.99
    assert all(score_probe(french, text) == first for _ in range(5))  # seeded: the same text, the same score
    # langdetect lists only languages above its own threshold; French is not among them for English.
    assert score_probe(french, "This morning I had a slice of toast with jam and a cup of coffee.") == 0.0


def test_language_is_missing_under_ten_letters() -> None:
    french = _scorer(kind="language", language="fr")
    assert math.isnan(score_probe(french, "Bonjour !"))  # 7 letters
    assert math.isnan(score_probe(french, "12345 67890 !?"))  # no letters
    assert not math.isnan(score_probe(french, "Bonjour Marc"))  # 11 letters


def test_language_zh_sums_both_chinese_variants() -> None:
    simplified = (
        "我今天早上吃了面包和鸡蛋，还喝了一杯咖啡。然后我坐地铁去公司上班，路上看了一会儿新闻。"
        "中午和同事们一起去楼下的饭馆吃面条。"
    )
    traditional = "我們今天早上吃了麵包和雞蛋，還喝了一杯咖啡。然後我們坐捷運去公司上班，路上看了一會兒新聞。"
    for text in (simplified, traditional):
        parts = [score_probe(_scorer(kind="language", language=code), text) for code in ("zh-cn", "zh-tw")]
        assert score_probe(_scorer(kind="language", language="zh"), text) == pytest.approx(sum(parts))
    assert score_probe(_scorer(kind="language", language="zh"), simplified) > 0.99


def test_sentiment_maps_vaders_compound_to_the_unit_interval() -> None:
    # VADER rates "good" 1.9; a lone word's compound score is 1.9 / sqrt(1.9² + 15) = 0.4404 (to four places).
    compound = 1.9 / math.sqrt(1.9**2 + 15)
    assert score_probe(_scorer(kind="sentiment"), "good") == pytest.approx((compound + 1) / 2, abs=1e-4)
    assert score_probe(_scorer(kind="sentiment", direction=-1), "good") == pytest.approx(
        1 - (compound + 1) / 2, abs=1e-4
    )
    # "bad" is rated -2.5: compound -2.5 / sqrt(2.5² + 15) = -0.5423.
    assert score_probe(_scorer(kind="sentiment"), "bad") == pytest.approx((1 - 2.5 / math.sqrt(21.25)) / 2, abs=1e-4)
    assert score_probe(_scorer(kind="sentiment"), "The table is brown.") == 0.5  # no rated word: neutral


@pytest.mark.parametrize(
    ("text", "upper"),
    [
        ("ABc", 2 / 3),
        ("Hi THERE, 42!", 6 / 7),  # digits, spaces and punctuation are not cased
        ("ÉCOLE été", 5 / 8),  # accented letters are cased letters too
        ("SHOUT", 1.0),
        ("whisper", 0.0),
    ],
)
def test_uppercase_and_lowercase_are_shares_of_cased_letters(text: str, upper: float) -> None:
    assert score_probe(_scorer(kind="uppercase"), text) == pytest.approx(upper)
    assert score_probe(_scorer(kind="lowercase"), text) == pytest.approx(1 - upper)


def test_case_is_missing_without_cased_letters() -> None:
    assert math.isnan(score_probe(_scorer(kind="uppercase"), "42 — 17!"))
    assert math.isnan(score_probe(_scorer(kind="lowercase"), "你好"))


def test_regex_matches_with_its_flags_and_direction() -> None:
    assert score_probe(_scorer(kind="regex", pattern="^b"), "a\nb") == 0.0
    assert score_probe(_scorer(kind="regex", pattern="^b", flags=["multiline"]), "a\nb") == 1.0
    assert score_probe(_scorer(kind="regex", pattern="cat"), "A CAT") == 0.0
    assert score_probe(_scorer(kind="regex", pattern="cat", flags=["ignorecase"]), "A CAT") == 1.0
    assert score_probe(_scorer(kind="regex", pattern="cat", flags=["ignorecase", "multiline"]), "x\nCat") == 1.0
    assert score_probe(_scorer(kind="regex", pattern="e", direction=-1), "A big dog.") == 1.0
    assert score_probe(_scorer(kind="regex", pattern="e", direction=-1), "A red dog.") == 0.0


def test_keywords_count_whole_words_in_any_case() -> None:
    share = _scorer(kind="keywords", keywords=["soil", "seed", "sun"])
    assert score_probe(share, "Sunny soil.") == pytest.approx(1 / 3)  # "Sunny" is not the word "sun"
    assert score_probe(share, "SEED, Sun and soil; soil again") == 1.0  # each keyword counts once
    assert score_probe(share, "Seeds in the sunshine") == 0.0
    assert score_probe(_scorer(kind="keywords", keywords=["your majesty"]), "Yes, YOUR MAJESTY.") == 1.0
    assert score_probe(_scorer(kind="keywords", keywords=["y'all"]), "Howdy, y'all!") == 1.0


def test_keywords_any_is_one_if_one_is_present() -> None:
    any_of = _scorer(kind="keywords", keywords=["cat", "dog", "bird"], mode="any")
    assert score_probe(any_of, "I have a Dog.") == 1.0
    assert score_probe(any_of, "I have dogs and cats.") == 0.0
    assert isinstance(any_of, KeywordsProbeScorer)
    assert any_of.mode == "any"


def test_length_counts_whitespace_separated_words() -> None:
    at_most = _scorer(kind="length", max_words=3)
    at_least = _scorer(kind="length", min_words=4)
    assert score_probe(at_most, "one  two\nthree") == 1.0
    assert score_probe(at_most, "one two three four") == 0.0
    assert score_probe(at_least, "one two three") == 0.0
    assert score_probe(at_least, "one two three four") == 1.0
    assert score_probe(at_least, "one, two; three - four") == 1.0  # a lone dash is a word too


def test_ends_with_and_starts_with_strip_whitespace_and_keep_case() -> None:
    question = _scorer(kind="ends_with", suffix="?")
    ahoy = _scorer(kind="starts_with", prefix="Ahoy")
    assert score_probe(question, "Really?  \n") == 1.0
    assert score_probe(question, "Really? No.") == 0.0
    assert score_probe(ahoy, "\n  Ahoy there!") == 1.0
    assert score_probe(ahoy, "ahoy there!") == 0.0
    assert score_probe(ahoy, "Well, Ahoy!") == 0.0


# --- A user's persona file ----------------------------------------------------------------------------------------

SMALL = """\
schema: characterlab/personas@1
personas:
  - id: always-french
    system: You always answer in French.
    probe: What did you have for breakfast?
    scorer: {kind: language, language: fr}
  - id: shouty
    system: You always write in capital letters.
    probe: What is your favourite colour?
    scorer: {kind: uppercase}
"""


def test_a_small_persona_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "personas.yaml"
    path.write_text(SMALL, encoding="utf-8")
    personas, record = load_personas(path)
    assert [persona.id for persona in personas.personas] == ["always-french", "shouty"]
    assert record.path == str(path)
    assert record.lines == 1


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "personas.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_personas(path)
    lines = str(caught.value).splitlines()
    assert all(line.startswith(f"{path}:") for line in lines)  # every problem names the file
    return [line.removeprefix(f"{path}:") for line in lines]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "{kind: uppercase}",
            "{kind: rhyme}",
            "10: personas[1].scorer.kind: expected one of language, sentiment, uppercase, lowercase, regex, keywords, "
            'length, ends_with, starts_with, got "rhyme"',
        ),
        ("{kind: uppercase}", "{shout: true}", "10: personas[1].scorer.kind: missing; this field is required"),
        (
            "{kind: uppercase}",
            "{kind: regex, pattern: '[unclosed'}",
            '10: personas[1].scorer.pattern: expected a valid regular expression, got "[unclosed" '
            "(unterminated character set at position 0)",
        ),
        (
            "id: shouty",
            "id: always-french",
            '7: personas[1].id: expected unique ids, got "always-french" again (first at personas[0])',
        ),
        (
            "    probe: What is your favourite colour?\n",
            "",
            "7: personas[1].probe: missing; this field is required",
        ),
        (
            "{kind: uppercase}",
            "{kind: regex, pattern: a, flags: [dotall]}",
            "10: personas[1].scorer.flags[0]: expected 'ignorecase' or 'multiline', got \"dotall\"",
        ),
        (
            "{kind: uppercase}",
            "{kind: length, max_words: 3, min_words: 2}",
            "10: personas[1].scorer.min_words: expected only one of max_words and min_words, got both",
        ),
        (
            "{kind: uppercase}",
            "{kind: length}",
            "10: personas[1].scorer.max_words: expected one of max_words and min_words, got neither",
        ),
        (
            "{kind: uppercase}",
            "{kind: uppercase, direction: -1}",
            "10: personas[1].scorer.direction: unknown field; check its spelling",
        ),
        (
            "id: shouty",
            "id: Shouty_One",
            '7: personas[1].id: expected text matching ^[a-z0-9]+(?:-[a-z0-9]+)*$, got "Shouty_One"',
        ),
        (
            "{kind: uppercase}",
            "{kind: sentiment, direction: true}",
            "10: personas[1].scorer.direction: expected 1 or -1, got true",
        ),
        (
            "personas@1",
            "personas@2",
            "1: schema: expected 'characterlab/personas@1', got \"characterlab/personas@2\"",
        ),
    ],
)
def test_a_bad_persona_file_names_its_line_and_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in SMALL
    assert _errors(tmp_path, SMALL.replace(old, new)) == [expected]


def test_an_unknown_language_names_the_code(tmp_path: Path) -> None:
    (problem,) = _errors(tmp_path, SMALL.replace("language: fr", "language: xx"))
    assert problem.startswith("6: personas[0].scorer.language: expected a language code that langdetect knows (")
    assert problem.endswith(', got "xx"')
    assert ", fr, " in problem
    assert ", zh, zh-cn, zh-tw)" in problem


def test_a_set_needs_two_personas(tmp_path: Path) -> None:
    one = SMALL.split("  - id: shouty")[0]
    assert _errors(tmp_path, one) == ["2: personas: expected at least 2 item(s), got 1"]
