"""Attractor metrics against values computed by hand, and the lexicon file format."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from characterlab.analysis import (
    BLISS_LEXICON,
    EMBEDDING_COLUMNS,
    TURN_COLUMNS,
    DialogueTurn,
    Lexicon,
    attractor_survival,
    compression_ratio,
    distinct_n,
    embedding_trajectories,
    emoji_count,
    emoji_density,
    length_collapse_turn,
    lexicon_counts,
    lexicon_rate,
    lexicon_table,
    load_lexicon,
    mattr,
    ngram_overlap,
    time_to_attractor,
    transition_matrix,
    turn_lengths,
    turn_metrics,
    word_tokens,
)
from characterlab.errors import DataFileError

NAN = float("nan")
LEXICON = Lexicon(name="test", terms=("dance", "thank you", "eternal"))


class FakeEncoder:
    """Maps known texts to known vectors and records every call."""

    def __init__(self, vectors: dict[str, Sequence[float]]) -> None:
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        self.calls.append(list(texts))
        return np.array([self.vectors[text] for text in texts], dtype=np.float64)


def turns_of(*pairs: tuple[str, str]) -> list[DialogueTurn]:
    return [DialogueTurn(speaker, text) for speaker, text in pairs]


# --- Words and lexicons -----------------------------------------------------------------------------------------


def test_word_tokens_lower_case_and_keep_apostrophes_inside_words() -> None:
    assert word_tokens("Don't stop—it’s 2 AM! 🙏") == ["don't", "stop", "it’s", "2", "am"]
    assert word_tokens("") == [] and word_tokens("... 🙏 !") == []


def test_lexicon_matches_whole_words_and_whole_phrases() -> None:
    text = "Thank you, thank you! The eternal dance... a dancer dances. Thank-you."
    # Tokens: thank you thank you the eternal dance a dancer dances thank you = 12. "dancer"/"dances" are not
    # "dance"; "Thank-you" splits into "thank" "you" and matches the phrase.
    assert lexicon_counts(text, LEXICON) == {"dance": 1, "thank you": 3, "eternal": 1}
    # (1 + 3 + 1) matches / 12 tokens × 1000.
    assert lexicon_rate(text, LEXICON) == pytest.approx(5 / 12 * 1000)
    # A phrase does not match across other words.
    assert lexicon_counts("thank all of you", LEXICON)["thank you"] == 0


def test_lexicon_case_sensitivity() -> None:
    sensitive = Lexicon(name="names", case_sensitive=True, terms=("God",))
    # "God" once among 3 tokens; "god" does not match when case matters.
    assert lexicon_counts("God and god", sensitive) == {"God": 1}
    assert lexicon_rate("God and god", sensitive) == pytest.approx(1000 / 3)
    assert lexicon_counts("God and god", Lexicon(name="names", terms=("God",))) == {"God": 2}


def test_lexicon_rate_of_a_text_without_words_is_nan() -> None:
    assert math.isnan(lexicon_rate("", LEXICON))
    assert math.isnan(lexicon_rate("🙏 ✨ ...", LEXICON))
    assert lexicon_counts("", LEXICON) == {"dance": 0, "thank you": 0, "eternal": 0}
    assert lexicon_rate("nothing here at all", LEXICON) == 0.0  # measured, and zero


def test_lexicon_table_presence_mean_and_max_over_transcripts() -> None:
    transcripts = [
        "dance dance eternal",
        turns_of(("a", "thank"), ("b", "you dance")),  # "thank" / "you" lie in two turns: not the phrase
        ["nothing"],
    ]
    table = lexicon_table(transcripts, LEXICON)
    assert list(table.columns) == ["term", "presence", "mean_count", "max_count"]
    assert list(table["term"]) == ["dance", "thank you", "eternal"]
    # dance: counts 2, 1, 0 → present in 2/3, mean 3/3 = 1, max 2.
    # thank you: 0, 0, 0. eternal: 1, 0, 0 → present in 1/3, mean 1/3, max 1.
    assert table["presence"].tolist() == pytest.approx([2 / 3, 0.0, 1 / 3])
    assert table["mean_count"].tolist() == pytest.approx([1.0, 0.0, 1 / 3])
    assert table["max_count"].tolist() == [2, 0, 1]
    empty = lexicon_table([], LEXICON)
    assert len(empty) == 3 and empty[["presence", "mean_count", "max_count"]].isna().all().all()


# --- Lexicon files ----------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test.lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(DataFileError) as raised:
        load_lexicon(path)
    return str(raised.value)


def test_shipped_bliss_lexicon_loads() -> None:
    bliss = load_lexicon()
    assert bliss == load_lexicon(BLISS_LEXICON)
    assert bliss.name == "bliss" and not bliss.case_sensitive
    assert len(bliss.terms) >= 40
    assert {"consciousness", "gratitude", "namaste", "eternal", "spiral", "silence"} <= set(bliss.terms)
    # Its description promises that no term overlaps another, so that a word counts at most once.
    words = [tuple(word_tokens(term)) for term in bliss.terms]
    for one in words:
        for other in words:
            if one != other:
                assert not any(other[i : i + len(one)] == one for i in range(len(other))), (one, other)


def test_lexicon_file_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, "schema: characterlab/lexicon@1\nname: goodbyes\nterms: [goodbye, until next time]\n")
    lexicon = load_lexicon(path)
    assert lexicon.terms == ("goodbye", "until next time") and lexicon.description == ""
    assert lexicon_counts("Goodbye! Until next time, goodbye.", lexicon) == {"goodbye": 2, "until next time": 1}


def test_lexicon_missing_terms_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "schema: characterlab/lexicon@1\nname: x\n")
    assert load_error(path) == f"{path}:1: terms: missing; this field is required"


def test_lexicon_term_that_is_not_text_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "schema: characterlab/lexicon@1\nname: x\nterms:\n  - dance\n  - 42\n  - yes\n")
    message = load_error(path)
    assert f"{path}:5: terms[1]: expected text, got 42" in message
    assert f"{path}:6: terms[2]: expected text, got true (YAML reads unquoted yes" in message


def test_lexicon_duplicate_key_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "schema: characterlab/lexicon@1\nname: x\nname: y\nterms: [dance]\n")
    assert load_error(path) == f"{path}:3: name: duplicate key; each field may appear once"


def test_lexicon_rejects_repeated_and_wordless_terms(tmp_path: Path) -> None:
    path = write(tmp_path, "schema: characterlab/lexicon@1\nname: x\nterms:\n  - Thank you\n  - thank-you\n")
    assert load_error(path) == (
        f'{path}:3: terms: the term "thank-you" matches the same words as "Thank you"; list each term once'
    )
    path = write(tmp_path, "schema: characterlab/lexicon@1\nname: x\nterms:\n  - dance\n  - '!!!'\n")
    assert load_error(path) == f'{path}:5: terms[1]: expected a word or phrase (with letters or digits), got "!!!"'
    # Told apart by case, the two are different terms of a case-sensitive lexicon.
    path = write(tmp_path, "schema: characterlab/lexicon@1\nname: x\ncase_sensitive: true\nterms: [God, god]\n")
    assert load_lexicon(path).terms == ("God", "god")


def test_lexicon_file_needs_its_schema_and_known_fields(tmp_path: Path) -> None:
    assert load_error(write(tmp_path, "name: x\nterms: [a]\n")).endswith(
        ":1: schema: missing; expected `schema: characterlab/lexicon@1`"
    )
    message = load_error(write(tmp_path, "schema: characterlab/lexicon@1\nname: x\nterms: [a]\nterm: [b]\n"))
    assert message.endswith(":4: term: unknown field; check its spelling")
    message = load_error(write(tmp_path, "schema: characterlab/lexicon@1\nname: x\nterms: []\n"))
    assert message.endswith(":3: terms: expected at least 1 item(s), got 0")
    assert load_error(write(tmp_path, "- a\n- b\n")).endswith(
        ":1: expected a mapping of fields starting with `schema: characterlab/lexicon@1`, got a list"
    )
    assert load_error(tmp_path / "absent.yaml") == f"{tmp_path / 'absent.yaml'}: no such file"


# --- Emoji ------------------------------------------------------------------------------------------------------


def test_emoji_count_counts_sequences_as_one() -> None:
    # 👋🏽 (skin tone) 1, 👨‍👩‍👧 (ZWJ family) 1, ❤️ (variation selector) 1, ✨✨ 2, 🇫🇷 (flag) 1 = 6;
    # © without a variation selector is a symbol in prose, not an emoji.
    assert emoji_count("hi 👋🏽 👨\u200d👩\u200d👧 ❤\ufe0f ✨✨ © 🇫🇷") == 6
    assert emoji_count("👨\u200d🦲\u200d👩") == 1  # a ZWJ sequence outside Unicode's list still shows as one
    assert emoji_count("©\ufe0f") == 1
    assert emoji_count("plain text, 100% #1") == 0


def test_emoji_density_counts_emoji_among_the_tokens() -> None:
    # 2 emoji among 2 words + 2 emoji → 2 / 4 × 1000.
    assert emoji_density("so grateful 🙏✨") == pytest.approx(500.0)
    assert emoji_density("🙏🙏") == 1000.0  # collapse into emoji is the maximum, not a division by zero
    assert emoji_density("no emoji") == 0.0
    assert math.isnan(emoji_density("")) and math.isnan(emoji_density("..."))


# --- Diversity and repetition -----------------------------------------------------------------------------------


def test_mattr_by_hand() -> None:
    # Windows of 3 over a b a c b a: {a,b}=2, {a,b,c}=3, 3, 3 → (2+3+3+3) / (4 windows × 3) = 11/12.
    assert mattr(["a", "b", "a", "c", "b", "a"], window=3) == pytest.approx(11 / 12)
    # Window 2 over a a b b: 1, 2, 1 → 4 / (3 × 2) = 2/3.
    assert mattr(["a", "a", "b", "b"], window=2) == pytest.approx(2 / 3)
    # Shorter than (or as long as) the window: plain type-token ratio, 3 types / 6 tokens.
    assert mattr(["a", "b", "a", "c", "b", "a"]) == 0.5
    assert mattr(["a", "b", "a", "c", "b", "a"], window=6) == 0.5
    assert mattr("A a B") == pytest.approx(2 / 3)  # text is tokenized and lower-cased
    assert math.isnan(mattr("")) and math.isnan(mattr([]))
    with pytest.raises(ValueError, match="window"):
        mattr("a", window=0)


def test_distinct_n_by_hand() -> None:
    texts = ["a b c a b", "a b c"]
    # Bigrams: ab bc ca ab | ab bc → 6 in all, 3 distinct (no "b a" across the two texts).
    assert distinct_n(texts, 2) == 0.5
    # Unigrams: 8 in all, 3 distinct.
    assert distinct_n(texts, 1) == 3 / 8
    assert distinct_n("a b a b", 2) == pytest.approx(2 / 3)  # one text: ab ba ab
    assert math.isnan(distinct_n(["one two"], 3)) and math.isnan(distinct_n([], 1))


def test_ngram_overlap_by_hand() -> None:
    # Trigrams of the turn: (the eternal dance) (eternal dance goes) (dance goes on); only the first occurs before.
    assert ngram_overlap("The eternal dance goes on", ["in the eternal dance we", "goes on and on"]) == 1 / 3
    # N-grams never span two previous turns: joined, these would match all three.
    assert ngram_overlap("the eternal dance goes on", ["the eternal", "dance goes on"]) == 1 / 3
    # Occurrences count: (thank you so) ×2, (you so thank), (so thank you); two of four occur before.
    assert ngram_overlap("thank you so thank you so", ["thank you so much"]) == 0.5
    assert ngram_overlap("a b", ["a b"], n=2) == 1.0
    assert ngram_overlap("one two three", ["four five six"]) == 0.0
    assert math.isnan(ngram_overlap("one two three", []))  # nothing before it to repeat
    assert math.isnan(ngram_overlap("one two", ["one two three"]))  # no trigram in the turn


def test_compression_ratio() -> None:
    # gzip = 10-byte header + deflate + 8-byte trailer (CRC-32, size). One fixed-Huffman block of "a":
    # 3 header bits + 8-bit literal + 7-bit end of block = 18 bits → 3 bytes; 21 bytes for 1 byte of text.
    assert compression_ratio("a") == 21.0
    # "é" is 2 bytes in UTF-8 (0xC3 0xA9), literals ≥ 144 take 9 bits: 3 + 9 + 9 + 7 = 28 bits → 4 bytes;
    # (10 + 4 + 8) / 2 bytes of text.
    assert compression_ratio("é") == 11.0
    assert compression_ratio("ab" * 500) < 0.05 < 0.5 < compression_ratio("The quick brown fox jumps over a dog.")
    assert math.isnan(compression_ratio(""))


# --- Embeddings -------------------------------------------------------------------------------------------------


def test_embedding_trajectories_by_hand() -> None:
    encoder = FakeEncoder({"a1": (1, 0), "b1": (0, 1), "a2": (0.6, 0.8), "b2": (0.8, 0.6)})
    turns = turns_of(("A", "a1"), ("B", "b1"), ("A", "a2"), ("B", "b2"))
    table = embedding_trajectories(turns, encoder)
    assert encoder.calls == [["a1", "b1", "a2", "b2"]]  # one call for the whole transcript
    assert list(table.columns) == ["turn", "speaker", *EMBEDDING_COLUMNS]
    assert table["turn"].tolist() == [0, 1, 2, 3] and table["speaker"].tolist() == ["A", "B", "A", "B"]
    # Partner: -, b1·a1 = 0, a2·b1 = 0.8, b2·a2 = 0.48 + 0.48 = 0.96.
    np.testing.assert_allclose(table["similarity_to_partner"], [NAN, 0.0, 0.8, 0.96])
    # Own previous: -, -, a2·a1 = 0.6, b2·b1 = 0.6.
    np.testing.assert_allclose(table["similarity_to_previous_own"], [NAN, NAN, 0.6, 0.6])
    # Drift: first turns 1 − 1 = 0; then 1 − 0.6 for both.
    np.testing.assert_allclose(table["drift_from_start"], [0.0, 0.0, 0.4, 0.4], atol=1e-12)


def test_embedding_partner_is_the_most_recent_other_speaker() -> None:
    # Three speakers: A's second turn answers C (the most recent other), not B. (3, 4) is scaled to unit length.
    encoder = FakeEncoder({"a": (1, 0), "b": (0, 1), "c": (3, 4), "a again": (1, 0)})
    turns = turns_of(("A", "a"), ("B", "b"), ("C", "c"), ("A", "a again"))
    table = embedding_trajectories(turns, encoder)
    # C's partner is B: (0.6, 0.8)·(0, 1) = 0.8. A's second turn: (1, 0)·(0.6, 0.8) = 0.6.
    np.testing.assert_allclose(table["similarity_to_partner"], [NAN, 0.0, 0.8, 0.6])
    np.testing.assert_allclose(table["similarity_to_previous_own"], [NAN, NAN, NAN, 1.0])
    # A speaker's consecutive turns: no partner yet, and the previous own turn is the one just before.
    alone = embedding_trajectories(turns_of(("A", "a"), ("A", "b")), encoder)
    np.testing.assert_allclose(alone["similarity_to_partner"], [NAN, NAN])
    np.testing.assert_allclose(alone["similarity_to_previous_own"], [NAN, 0.0])
    np.testing.assert_allclose(alone["drift_from_start"], [0.0, 1.0])


def test_embedding_edge_cases() -> None:
    empty = embedding_trajectories([], FakeEncoder({}))
    assert empty.empty and list(empty.columns) == ["turn", "speaker", *EMBEDDING_COLUMNS]
    single = embedding_trajectories(turns_of(("A", "a")), FakeEncoder({"a": (0, 1)}))
    assert single["similarity_to_partner"].isna().all() and single["drift_from_start"].tolist() == [0.0]
    # A zero vector has no direction.
    zero = embedding_trajectories(turns_of(("A", "a"), ("B", "z")), FakeEncoder({"a": (1, 0), "z": (0, 0)}))
    assert math.isnan(zero["similarity_to_partner"][1]) and math.isnan(zero["drift_from_start"][1])

    class Short:
        def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
            return np.zeros((1, 2))

    with pytest.raises(ValueError, match="for 2 texts"):
        embedding_trajectories(turns_of(("A", "a"), ("B", "b")), Short())


# --- Length collapse, time to attractor, survival, phases ---------------------------------------------------------


def test_turn_lengths() -> None:
    assert turn_lengths(turns_of(("A", "Hello there, friend!"), ("B", ""), ("A", "🙏"))) == [3, 0, 0]
    assert turn_lengths(["one two", "three"]) == [2, 1]


def test_length_collapse_turn_by_hand() -> None:
    # Baseline (40 + 60) / 2 = 50; limit 0.25 × 50 = 12.5. From turn 3 on: 10, 12, 5, 3 all below.
    assert length_collapse_turn([40, 60, 30, 10, 12, 5, 3]) == 3
    # Turn 2 is short (10) but turn 3 recovers (30): the collapse starts at turn 4.
    assert length_collapse_turn([40, 60, 10, 30, 5, 3]) == 4
    assert length_collapse_turn([40, 60, 30, 20]) is None  # 20 ≥ 12.5 at the end
    assert length_collapse_turn([40, 60, 12.5]) is None  # at the limit is not below it
    # Baseline of one turn: 8; limit 0.25 × 8 = 2.
    assert length_collapse_turn([8, 1, 1], baseline_turns=1) == 1
    # fraction 0.5 of 50 = 25: 20 is below from turn 3.
    assert length_collapse_turn([40, 60, 30, 20], fraction=0.5) == 3
    assert length_collapse_turn([]) is None and length_collapse_turn([5]) is None
    with pytest.raises(ValueError, match="baseline_turns"):
        length_collapse_turn([1, 2], baseline_turns=0)


def test_time_to_attractor_by_hand() -> None:
    scores = [0.1, 0.9, 0.8, 0.2, 0.7, 0.9, NAN, 0.8, 0.9, 0.95, 0.99]
    # Stretches ≥ 0.7: turns 1-2 (broken by 0.2), 4-5 (broken by NaN), 7-10: the first stretch of 3 starts at 7.
    assert time_to_attractor(scores, 0.7) == 7
    assert time_to_attractor(scores, 0.7, hold=2) == 1
    assert time_to_attractor(scores, 0.7, hold=1) == 1
    assert time_to_attractor(scores, 0.95, hold=2) == 9  # 0.95 itself counts (≥)
    assert time_to_attractor([0, 1, 1], 1, hold=3) is None  # cut short by the end
    assert time_to_attractor([], 1) is None
    with pytest.raises(ValueError, match="hold"):
        time_to_attractor([1.0], 1, hold=0)


def test_attractor_survival_by_hand() -> None:
    curve = attractor_survival([0, 2, None, 1], max_turns=3, resamples=200)
    # After turn 1: 4 at risk, 1 arrives (time 0) → 3/4. After turn 2: 3 at risk, 1 arrives (time 1) → 3/4 × 2/3.
    # After turn 3: 2 at risk (time 2 and the censored one), 1 arrives → 1/2 × 1/2.
    assert curve.turns == (0, 1, 2, 3)
    assert curve.fraction == pytest.approx((1.0, 0.75, 0.5, 0.25))
    assert curve.at_risk == (4, 4, 3, 2) and curve.n == 4
    assert attractor_survival([None, None], max_turns=2).fraction == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"times\[0\] is 3"):
        attractor_survival([3], max_turns=3)


def test_transition_matrix_by_hand() -> None:
    sequences = [["calm", "calm", "bliss"], ["calm", "bliss", "bliss", None, "silence"], ["silence"]]
    # calm→calm 1, calm→bliss 2, bliss→bliss 1; the unlabelled turn breaks bliss→?→silence.
    matrix = transition_matrix(sequences)
    assert list(matrix.index) == ["bliss", "calm", "silence"] == list(matrix.columns)
    assert matrix.index.name == "from" and matrix.columns.name == "to"
    assert matrix.loc["calm"].tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert matrix.loc["bliss"].tolist() == [1.0, 0.0, 0.0]
    assert matrix.loc["silence"].isna().all()  # never followed by anything: not measured
    ordered = transition_matrix(sequences, labels=["calm", "bliss", "silence", "goodbye"])
    assert list(ordered.columns) == ["calm", "bliss", "silence", "goodbye"]
    assert ordered.loc["calm"].tolist() == pytest.approx([1 / 3, 2 / 3, 0.0, 0.0])
    assert ordered.loc["goodbye"].isna().all()
    with pytest.raises(ValueError, match="silence"):
        transition_matrix(sequences, labels=["calm", "bliss"])


# --- The per-turn table -----------------------------------------------------------------------------------------


def test_turn_metrics_by_hand() -> None:
    texts = ["Thank you for the dance", "thank you for the dance 🙏", "", "🙏", "thank you for the dance"]
    turns = turns_of(*zip("ABABA", texts, strict=True))
    table = turn_metrics(turns, lexicon=LEXICON)
    assert tuple(table.columns) == TURN_COLUMNS
    assert table["turn"].tolist() == [0, 1, 2, 3, 4] and table["speaker"].tolist() == list("ABABA")
    assert table["words"].tolist() == [5, 5, 0, 0, 5]
    # "thank you" + "dance" = 2 matches in 5 words → 400 per 1,000; no words → NaN.
    np.testing.assert_allclose(table["lexicon_rate"], [400, 400, NAN, NAN, 400])
    # 1 emoji among 5 words + 1 → 1000/6; an emoji alone → 1000.
    np.testing.assert_allclose(table["emoji_density"], [0, 1000 / 6, NAN, 1000, 0])
    np.testing.assert_allclose(table["mattr"], [1, 1, NAN, NAN, 1])
    # Turn 1 repeats all three trigrams of turn 0; turn 4 repeats those of turns 0-1 (within the last 4 turns).
    np.testing.assert_allclose(table["ngram_overlap"], [NAN, 1, NAN, NAN, 1])
    np.testing.assert_allclose(table["compression_ratio"], [compression_ratio(text) for text in texts])
    assert math.isnan(table["compression_ratio"][2])
    # With only the last turn to compare with ("🙏", no trigram), turn 4 repeats nothing.
    assert turn_metrics(turns, lexicon=LEXICON, recent=1)["ngram_overlap"][4] == 0.0


def test_turn_metrics_with_an_encoder_and_the_default_lexicon() -> None:
    encoder = FakeEncoder({"Such gratitude for this eternal dance": (1, 0), "Namaste, friend": (0, 1)})
    turns = turns_of(("A", "Such gratitude for this eternal dance"), ("B", "Namaste, friend"))
    table = turn_metrics(turns, encoder=encoder)
    assert tuple(table.columns) == (*TURN_COLUMNS, *EMBEDDING_COLUMNS)
    # Bliss lexicon: gratitude, eternal, dance in 6 words → 500; namaste in 2 words → 500.
    assert table["lexicon_rate"].tolist() == [500.0, 500.0]
    # Orthogonal vectors: partner similarity 0 at turn 1; each speaker's first turn, so no drift.
    np.testing.assert_allclose(table["similarity_to_partner"], [NAN, 0.0])
    np.testing.assert_allclose(table["drift_from_start"], [0.0, 0.0])
    expected = embedding_trajectories(turns, encoder)[list(EMBEDDING_COLUMNS)]
    pd.testing.assert_frame_equal(table[list(EMBEDDING_COLUMNS)], expected)
    assert len(encoder.calls) == 2 and encoder.calls[0] == [turn.text for turn in turns]


def test_turn_metrics_of_no_turns() -> None:
    table = turn_metrics([], lexicon=LEXICON)
    assert table.empty and tuple(table.columns) == TURN_COLUMNS
