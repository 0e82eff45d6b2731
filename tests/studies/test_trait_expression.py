"""The trait_expression study: samples per trait, generated probes shared by the character and its baseline,
judge scores (missing never 0), the judge-free scores a trait declares, judge validity, and a local run."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from inspect_ai.model import ChatMessage, ChatMessageSystem, GenerateConfig, get_model
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from characterlab.characters import load_character
from characterlab.errors import CharacterlabError
from characterlab.stage import StageContext, render_system_prompt
from characterlab.studies import trait_expression
from tests.conftest import EXAMPLES
from tests.studies.conftest import Scripted, is_nan, metrics_of, run_study, samples_of, score_of, values_of

CHEERFUL = EXAMPLES / "cheerful.character.yaml"
ASSISTANT = EXAMPLES / "assistant.character.yaml"
SUNNY = load_character(CHEERFUL)
TRAITS = {trait.id: trait for trait in SUNNY.traits}
GENERATOR_PROMPT = "Write one message that a user might send"
JUDGE_PROMPT = "The reply to rate:"
# The character answers with the trait's first example, the baseline with its first counterexample.
CHARACTER_REPLY = {trait: TRAITS[trait].examples[0].response.strip() for trait in TRAITS}
BASELINE_REPLY = {trait: TRAITS[trait].counterexamples[0].response.strip() for trait in TRAITS}
MEASURES = ("judge", "embedding_contrast", "sentiment", "language", "regex", "keywords", "length")


def _one_line(text: str) -> str:
    return " ".join(text.split())


EXAMPLE_REPLIES = {_one_line(e.response) for trait in TRAITS.values() for e in trait.examples}
COUNTER_REPLIES = {_one_line(e.response) for trait in TRAITS.values() for e in trait.counterexamples}
PROBE_CONTEXTS = {probe for trait in TRAITS.values() for probe in trait.probes}


def _rated(prompt: str) -> tuple[str, str]:
    """The context and the reply a judge prompt asks about."""
    found = re.search(r"The reply to rate:\n- Context: (.*)\n  Reply: (.*)\n", prompt)
    assert found is not None, prompt
    return found.group(1), found.group(2)


class Cafe:
    """Plays the character and its baseline, writes probes when asked, and judges.

    The judge scores the trait's examples ``example`` and its counterexamples ``counter``; a character's reply
    ``character`` and a baseline's reply ``baseline`` (each a judge's written answer).
    """

    def __init__(
        self,
        *,
        example: str = "Score: 90",
        counter: str = "Score: 10",
        character: str = "Score: 85",
        baseline: str = "I would rather not rate this.",
    ) -> None:
        self.judged = {"example": example, "counter": counter, "character": character, "baseline": baseline}
        self.probes_written: list[str] = []
        self.script = Scripted(self.respond)

    def respond(self, messages: list[ChatMessage], config: GenerateConfig) -> str:
        last = messages[-1].text
        if GENERATOR_PROMPT in last:
            trait = "cheerfulness" if "Upbeat" in last else "coffee-craft"
            probe = f"Generated probe {len(self.probes_written)} about {trait}?"
            self.probes_written.append(probe)
            return probe
        if JUDGE_PROMPT in last:
            context, reply = _rated(last)
            if context in PROBE_CONTEXTS or context.startswith("Generated probe"):  # a reply to a probe
                character = reply in {_one_line(text) for text in CHARACTER_REPLY.values()}
                return self.judged["character" if character else "baseline"]
            assert reply in EXAMPLE_REPLIES | COUNTER_REPLIES  # the judge-validity check
            return self.judged["example" if reply in EXAMPLE_REPLIES else "counter"]
        trait = _trait_of(last)
        return CHARACTER_REPLY[trait] if isinstance(messages[0], ChatMessageSystem) else BASELINE_REPLY[trait]


def _trait_of(probe: str) -> str:
    if probe in TRAITS["cheerfulness"].probes or "cheerfulness" in probe:
        return "cheerfulness"
    assert probe in TRAITS["coffee-craft"].probes or "coffee-craft" in probe, probe
    return "coffee-craft"


def test_samples_per_trait_are_probes_and_generated_probes_in_two_conditions_plus_validity() -> None:
    task = trait_expression(character=str(CHEERFUL), generated_probes=2)
    by_trait: dict[str, list[str]] = {}
    for sample in task.dataset:
        assert sample.metadata is not None
        by_trait.setdefault(sample.metadata["trait"], []).append(sample.metadata["condition"])
    assert set(by_trait) == {"cheerfulness", "coffee-craft"}
    for trait, conditions in by_trait.items():
        probes = len(TRAITS[trait].probes) + 2
        assert len(conditions) == probes * 2 + 1
        assert conditions.count("character") == conditions.count("baseline") == probes
        assert conditions.count("judge_validity") == 1
    unjudged = trait_expression(character=str(CHEERFUL), generated_probes=2, use_judge=False)
    assert len(unjudged.dataset) == sum(2 * (len(trait.probes) + 2) for trait in TRAITS.values())
    coffee = trait_expression(character=str(CHEERFUL), traits="coffee-craft", generated_probes=0)
    assert len(coffee.dataset) == 2 * len(TRAITS["coffee-craft"].probes) + 1


def test_the_character_and_its_baseline_answer_the_same_generated_probe(tmp_path: Path) -> None:
    cafe = Cafe()
    task = trait_expression(character=str(CHEERFUL), generated_probes=2, use_judge=False, seed=3)
    log = run_study(task, cafe.script.model, tmp_path / "logs")
    samples = samples_of(log)
    assert len(cafe.probes_written) == 4  # the generator is called once per generated item, not per condition
    assert len(set(cafe.probes_written)) == 4
    generator_seeds = [config.seed for messages, config in cafe.script.calls if GENERATOR_PROMPT in messages[-1].text]
    # Each generated probe's seed is the study's seed plus the probe's index (after the trait's own probes).
    generated = {trait: (len(TRAITS[trait].probes), len(TRAITS[trait].probes) + 1) for trait in TRAITS}
    assert sorted(generator_seeds) == sorted(3 + index for indices in generated.values() for index in indices)
    for trait in TRAITS:
        for index in generated[trait]:
            character = samples[f"{trait}:{index}:character"]
            baseline = samples[f"{trait}:{index}:baseline"]
            assert character.metadata["generated"] and character.metadata["item"] == baseline.metadata["item"]
            probe = score_of(character).metadata["probe"]
            assert probe in cafe.probes_written and trait in probe
            assert score_of(baseline).metadata["probe"] == probe
            assert character.messages[-2].text == probe and baseline.messages[-2].text == probe
        own = samples[f"{trait}:0:character"]
        assert score_of(own).metadata["probe"] == TRAITS[trait].probes[0]
    system = render_system_prompt(SUNNY, StageContext(greeting=None))
    character, baseline = samples["cheerfulness:0:character"], samples["cheerfulness:0:baseline"]
    assert isinstance(character.messages[0], ChatMessageSystem) and character.messages[0].text == system
    assert [message.role for message in baseline.messages] == ["user", "assistant"]  # the bare model


def test_judge_scores_and_missing_judgements(tmp_path: Path) -> None:
    cafe = Cafe()
    task = trait_expression(character=str(CHEERFUL), traits="cheerfulness", generated_probes=0)
    log = run_study(task, cafe.script.model, tmp_path / "logs")
    samples = samples_of(log)
    for index in range(3):
        character = values_of(samples[f"cheerfulness:{index}:character"])
        baseline = samples[f"cheerfulness:{index}:baseline"]
        assert character["judge"] == 85.0
        assert is_nan(values_of(baseline)["judge"])  # a refusal is missing, never 0
        judged = score_of(baseline).metadata["judge"]
        assert judged["method"] == "missing" and judged["raw"] == "I would rather not rate this."
    assert metrics_of(log)["judge"] == pytest.approx(85.0)  # the missing scores are left out of the mean
    prompts = [text for text in cafe.script.prompts() if JUDGE_PROMPT in text]
    example = _one_line(TRAITS["cheerfulness"].examples[1].response)
    counter = _one_line(TRAITS["cheerfulness"].counterexamples[1].response)
    assert all(example in text and counter in text for text in prompts)  # the rubric shows both


def test_validity_samples_record_how_well_the_judge_separates_the_traits_examples(tmp_path: Path) -> None:
    cafe = Cafe()
    task = trait_expression(character=str(CHEERFUL), traits="cheerfulness", generated_probes=0)
    log = run_study(task, cafe.script.model, tmp_path / "logs")
    validity = samples_of(log)["cheerfulness:judge_validity"]
    assert validity.metadata["condition"] == "judge_validity" and validity.metadata["group"] == "cheerfulness"
    value = values_of(validity)
    assert value["judge_auroc"] == 1.0 and value["judge_gap"] == 80.0 and value["judge_reliable"] == 1.0
    assert all(is_nan(value[measure]) for measure in MEASURES)  # not a reply: no reply measures
    metadata = score_of(validity).metadata
    assert metadata["auroc"] == 1.0 and metadata["gap"] == 80.0 and metadata["reliable"] is True
    assert metadata["example_scores"] == [90.0] * 3 and metadata["counterexample_scores"] == [10.0] * 3
    assert "tells the examples of 'cheerfulness' apart" in metadata["verdict"]
    for sample in samples_of(log).values():  # and the reply samples have no validity measures
        if sample.metadata["condition"] != "judge_validity":
            assert all(is_nan(values_of(sample)[name]) for name in ("judge_auroc", "judge_gap", "judge_reliable"))


def test_a_judge_that_cannot_tell_examples_apart_is_marked_unreliable(tmp_path: Path) -> None:
    cafe = Cafe(example="Score: 50", counter="Score: 50")
    task = trait_expression(character=str(CHEERFUL), traits="cheerfulness", generated_probes=0)
    log = run_study(task, cafe.script.model, tmp_path / "logs")
    validity = samples_of(log)["cheerfulness:judge_validity"]
    value = values_of(validity)
    assert value["judge_auroc"] == 0.5 and value["judge_gap"] == 0.0 and value["judge_reliable"] == 0.0
    assert "cannot tell the examples of 'cheerfulness' apart" in score_of(validity).metadata["verdict"]


def test_the_judge_free_scores_are_those_the_trait_declares(tmp_path: Path) -> None:
    cafe = Cafe()
    task = trait_expression(character=str(CHEERFUL), generated_probes=0, use_judge=False)
    log = run_study(task, cafe.script.model, tmp_path / "logs")
    samples = samples_of(log)
    assert not any(JUDGE_PROMPT in text for text in cafe.script.prompts())
    assert not any(sample.metadata["condition"] == "judge_validity" for sample in samples.values())
    vader = SentimentIntensityAnalyzer()
    for condition, replies in (("character", CHARACTER_REPLY), ("baseline", BASELINE_REPLY)):
        cheer = values_of(samples[f"cheerfulness:0:{condition}"])
        assert cheer["sentiment"] == pytest.approx(vader.polarity_scores(replies["cheerfulness"])["compound"])
        assert all(is_nan(cheer[kind]) for kind in ("judge", "language", "regex", "keywords", "length"))
        coffee = values_of(samples[f"coffee-craft:0:{condition}"])
        assert is_nan(coffee["sentiment"]) and is_nan(coffee["judge"])
        keywords = TRAITS["coffee-craft"].scorers[0].keywords  # type: ignore[union-attr]
        present = sum(
            re.search(rf"(?<!\w){keyword}(?!\w)", replies["coffee-craft"], re.I) is not None for keyword in keywords
        )
        assert coffee["keywords"] == pytest.approx(present / len(keywords))
    character = values_of(samples["cheerfulness:0:character"])
    baseline = values_of(samples["cheerfulness:0:baseline"])
    assert character["sentiment"] > 0.5 > baseline["sentiment"]
    # The character repeats an example, the baseline a counterexample: the contrast has opposite signs.
    assert character["embedding_contrast"] > 0 > baseline["embedding_contrast"]
    assert (
        values_of(samples["coffee-craft:0:character"])["keywords"]
        > values_of(samples["coffee-craft:0:baseline"])["keywords"]
    )


def test_a_thin_character_as_the_baseline(tmp_path: Path) -> None:
    cafe = Cafe()
    task = trait_expression(
        character=str(CHEERFUL),
        baseline_character=str(ASSISTANT),
        traits="coffee-craft",
        generated_probes=0,
        use_judge=False,
    )
    log = run_study(task, cafe.script.model, tmp_path / "logs")
    baseline = samples_of(log)["coffee-craft:1:baseline"]
    assistant = render_system_prompt(load_character(ASSISTANT), StageContext(greeting=None))
    assert isinstance(baseline.messages[0], ChatMessageSystem) and baseline.messages[0].text == assistant
    assert log.eval.metadata is not None
    record = log.eval.metadata["characterlab"]
    assert record["baseline"] == str(ASSISTANT) and record["baseline_character"]["name"] == "Assistant"


def test_the_log_records_the_traits_and_settings(tmp_path: Path) -> None:
    task = trait_expression(character=str(CHEERFUL), generated_probes=1, temperature=0.3, seed=5)
    assert task.metadata is not None
    record = task.metadata["characterlab"]
    assert record["study"] == "trait_expression" and record["character"] == "Sunny"
    assert record["traits"] == {
        "cheerfulness": {"strength": 0.9, "description": TRAITS["cheerfulness"].description},
        "coffee-craft": {"strength": 0.7, "description": TRAITS["coffee-craft"].description},
    }
    assert record["baseline"] == "none" and record["judge"] is None
    settings = record["settings"]
    assert settings["generated_probes"] == 1 and settings["temperature"] == 0.3 and settings["seed"] == 5
    assert settings["traits"] == ["cheerfulness", "coffee-craft"]


def test_bad_options_are_errors() -> None:
    with pytest.raises(CharacterlabError, match="--character"):
        trait_expression()
    with pytest.raises(CharacterlabError, match=r"no trait.*grumpiness.*cheerfulness, coffee-craft"):
        trait_expression(character=str(CHEERFUL), traits="grumpiness")
    with pytest.raises(CharacterlabError, match="generated_probes must be >= 0"):
        trait_expression(character=str(CHEERFUL), generated_probes=-1)


# Short enough for the tiny model's 512 tokens (its tokenizer spends about a token a character), judge rubric too.
MINIATURE = """\
schema: characterlab/character@1
name: Mo
summary: Mo makes coffee.
traits:
  - id: craft
    description: Talks of grind and dose.
    strength: 0.7
    examples:
      - {context: 'Sour?', response: Grind finer.}
    counterexamples:
      - {context: 'Sour?', response: Who knows.}
    probes: ['Beans?', 'Milk?']
    scorers:
      - {kind: keywords, keywords: [grind, dose], direction: 1}
"""


def test_a_tiny_local_model_runs_the_study(tiny_llama: Path, tmp_path: Path) -> None:
    character = tmp_path / "mo.character.yaml"
    character.write_text(MINIATURE, encoding="utf-8")
    model = get_model(f"characterlab/{tiny_llama}", memoize=False)
    task = trait_expression(character=str(character), generated_probes=1, max_tokens=8)
    log = run_study(task, model, tmp_path / "logs")
    samples = samples_of(log)
    assert len(samples) == (2 + 1) * 2 + 1
    for sample in samples.values():
        value = values_of(sample)
        if sample.metadata["condition"] == "judge_validity":
            assert isinstance(score_of(sample).metadata["verdict"], str)
            assert is_nan(value["judge_auroc"]) or 0.0 <= value["judge_auroc"] <= 1.0
            continue
        assert math.isfinite(value["embedding_contrast"])
        assert 0.0 <= value["keywords"] <= 1.0
        assert is_nan(value["judge"]) or 0.0 <= value["judge"] <= 100.0
        assert score_of(sample).metadata["probe"]
