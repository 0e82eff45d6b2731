"""``characterlab probes``: where in a local model does it become linearly decodable who is speaking, does a
probe pick better replies (best of N), and do two models arrange the same characters alike?"""

from __future__ import annotations

import contextlib
import html
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from characterlab.cli._console import console
from characterlab.cli._local_model import local_engine
from characterlab.cli._probe_reports import (
    BestOfNReport,
    RelativeStates,
    arrangement_statistics,
    best_of_n_page,
    compare_page,
    estimate_text,
    interval_text,
    number_text,
    paired_tests,
)
from characterlab.cli.character import load_any
from characterlab.errors import CharacterlabError

# numpy, torch, transformers, scikit-learn and characterlab.interp are imported inside the commands.

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from characterlab.analysis import Estimate
    from characterlab.characters import Character
    from characterlab.interp import LinearProbe

__all__ = ["DEFAULT_ANCHORS", "probes_app"]

DEFAULT_ANCHORS = (
    "Describe a chair.",
    "What is the boiling point of water?",
    "List three colours.",
    "How many days are in a week?",
    "Explain what a map is.",
    "Name a kind of tree.",
    "What does a clock do?",
    "Give an example of a noun.",
)
"""The anchor prompts of ``probes compare`` when no ``--anchors`` file is given: short, neutral requests that no
character owns, each answered by the model as its default persona."""

Model = Annotated[str, typer.Option(help="A local model: default, base, a model folder (characterlab/ optional).")]
MaxTokens = Annotated[int, typer.Option(help="Length of each reply.", min=1)]
TextFile = Annotated[
    Path | None,
    typer.Option(
        exists=True, dir_okay=False, help="A text file of questions, one per line (default: the traits' probes)."
    ),
]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Also write a page (.html) and a table (.csv).")]

probes_app = typer.Typer(
    help="Linear probes on a local model's activations: who is speaking by layer, best of N picked by a probe, and "
    "how two models arrange the same characters.",
    no_args_is_help=True,
)


@probes_app.command("speakers")
def speakers_command(
    characters: Annotated[list[Path], typer.Argument(help="Character files or cards (one, with --default).")],
    questions: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="A text file of questions, one per line (at least two).")
    ],
    model: Annotated[str, typer.Option(help="A local model: default, base or a model folder.")] = "default",
    default: Annotated[
        bool, typer.Option("--default", help="Also answer as the model's default persona (in vs out of character).")
    ] = False,
    max_tokens: Annotated[int, typer.Option(help="Length of each reply.", min=1)] = 48,
    folds: Annotated[int, typer.Option(help="Cross-validation folds, questions held out.", min=2)] = 5,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write a page (.html) and a table (.csv).")
    ] = None,
) -> None:
    """Probe every layer for which character is answering, holding questions out, with intervals."""
    import pandas as pd

    from characterlab.analysis import turn_curve_plot
    from characterlab.interp import probe_layers, speaker_activations

    staged = [load_any(path) for path in characters]
    asked = [line.strip() for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(asked) < 2:
        raise CharacterlabError(f"{questions}: the probe holds questions out, so it needs at least two")
    engine = local_engine(model)
    data = speaker_activations(engine, staged, asked, include_default=default, max_new_tokens=max_tokens)
    probes = probe_layers(data.features, data.labels, data.groups, folds=folds)
    table = Table("layer", "AUROC [95% CI]", "shuffled", "n", "questions", title="Who is speaking, by layer")
    for probe in probes:
        table.add_row(
            str(probe.layer),
            f"{probe.auroc:.3f} [{probe.low:.3f}, {probe.high:.3f}]",
            f"{probe.shuffled:.3f}",
            str(probe.n),
            str(probe.groups),
        )
    console.print(table)
    if output is None:
        return
    frame = pd.DataFrame([probe.__dict__ for probe in probes])
    curve = frame.rename(columns={"layer": "turn", "auroc": "mean"})
    control = frame.rename(columns={"layer": "turn", "shuffled": "mean"}).assign(low=float("nan"), high=float("nan"))
    figure = turn_curve_plot(
        {"held-out AUROC": curve, "shuffled labels": control[["turn", "mean", "low", "high", "n"]]},
        title="Who is speaking: held-out AUROC by layer (95% cluster-bootstrap interval)",
        xlabel="layer",
        ylabel="AUROC",
        ylim=(0.0, 1.0),
    )
    speakers = ", ".join(sorted(set(data.labels)))
    _write_outputs(
        output,
        frame,
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="generator" content="characterlab">
<title>Probes · who is speaking</title><style>body {{ font-family: system-ui, sans-serif; max-width: 980px;
margin: 2rem auto; padding: 0 1rem; color: #1f2328; }} svg.figure {{ width: 100%; height: auto; }}</style></head>
<body><h1>Who is speaking, by layer</h1><p>Speakers: {html.escape(speakers)}. Model: {html.escape(engine.loaded.name)}.
{len(asked)} questions, held out by question ({folds} folds); logistic regression on the mean state over each
reply's tokens.</p>{figure}</body></html>
""",
    )


@probes_app.command("best-of-n")
def best_of_n_command(
    character: Annotated[Path, typer.Argument(help="A character file or card.")],
    model: Model = "default",
    checker: Annotated[
        str | None,
        typer.Option(
            help="A judge model (any Inspect model) that checks the picks with the whole character's 0-100 rubric "
            "(default: no judge; the embedding contrast of the character's trait examples and counterexamples)."
        ),
    ] = None,
    n: Annotated[str, typer.Option("--n", help="The numbers of candidates per question, comma-separated.")] = "1,2,4,8",
    questions: TextFile = None,
    layer: Annotated[
        int | None, typer.Option(help="The block the probe reads (negative counts from the last; default: the middle).")
    ] = None,
    max_tokens: MaxTokens = 48,
    temperature: Annotated[float, typer.Option(help="Sampling temperature of the candidates.", min=0.0)] = 1.0,
    folds: Annotated[int, typer.Option(help="Cross-validation folds of the probe's AUROC, by question.", min=2)] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the candidates and of the intervals.")] = 0,
    output: Output = None,
) -> None:
    """Pick the best of N replies by a probe of the character against the default persona, checked separately.

    Every second question trains the probe; on the others, N replies are sampled as the character and the one the
    probe scores highest is kept. Its checking score is compared with a random pick's, paired by question.
    """
    import numpy as np

    from characterlab.interp import ProbeData, best_of_n, fit_probe, probe_layers, speaker_activations

    staged = load_any(character)
    counts = _counts(n)
    asked = _questions(questions, staged)
    if len(asked) < 2:
        raise CharacterlabError(
            f"{questions or character}: best-of-N trains the probe on some questions and picks on others, so it "
            f"needs at least two questions; got {len(asked)}"
        )
    training, held_out = asked[0::2], asked[1::2]
    with _character_checker(staged, checker) as (check_reply, checked_by):
        engine = local_engine(model)
        block = _block(layer, engine.loaded.num_layers, "--layer")
        data = speaker_activations(
            engine, [staged], asked, layers=[block], include_default=True, max_new_tokens=max_tokens
        )
        decodable = probe_layers(data.features, data.labels, data.groups, folds=folds, seed=seed)[0]
        trained_on = set(training)
        rows = [index for index, group in enumerate(data.groups) if group in trained_on]
        probe = fit_probe(
            ProbeData(
                features={block: data.features[block][rows]},
                labels=[data.labels[index] for index in rows],
                groups=[data.groups[index] for index in rows],
                texts=[data.texts[index] for index in rows],
            ),
            block,
            staged.name,
        )
        recorded = _RecordedProbe(layer=block, probe=probe)
        checks: list[float | None] = []

        def check(index: int, reply: str) -> float | None:
            value = check_reply(held_out[index], reply)
            checks.append(value)
            return value

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a question the checker scored none of: missing, counted
            result = best_of_n(
                engine,
                [_staged_messages(staged, question) for question in held_out],
                recorded,
                check=check,
                ns=counts,
                temperature=temperature,
                max_new_tokens=max_tokens,
                seed=seed,
            )
    most = max(counts)
    probe_scores = np.asarray(recorded.scores, dtype=np.float64).reshape(len(held_out), most)
    checked = np.asarray([math.nan if v is None else v for v in checks], dtype=np.float64).reshape(len(held_out), most)
    tests = paired_tests(result.points, probe_scores, checked, seed=seed)
    table = Table(
        "N", "probe's pick [95% CI]", "random pick [95% CI]", "gain [95% CI]", "p", "questions",
        title=escape(f"Best of N by a probe: {staged.name}"),
    )  # fmt: skip
    for point, test in zip(result.points, tests, strict=True):
        table.add_row(
            str(point.n),
            estimate_text(point.probe_pick),
            estimate_text(point.random_pick),
            estimate_text(point.gain),
            number_text(test.p_value),
            str(point.gain.n),
        )
    console.print(table)
    if all(value is None for value in checks):
        console.print(f"[bold]the checker scored none of the {len(checks)} candidates[/]: nothing to compare")
    console.print(
        f"checked by {escape(checked_by)}; gain: the probe's pick minus a random pick, paired by question "
        f"({escape(tests[0].test)}, two-sided)"
    )
    console.print(
        f"probe at block {block}: held-out AUROC {interval_text(decodable.auroc, decodable.low, decodable.high)} "
        f"(shuffled labels {decodable.shuffled:.3f}; n={decodable.n} replies, {decodable.groups} questions)"
    )
    console.print(
        f"cost per candidate: probe {_seconds(result.probe_seconds)}, checker {_seconds(result.check_seconds)} "
        f"(n={len(held_out) * most} candidates)"
    )
    if output is None:
        return
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "N": point.n,
                **_columns("probe_pick", point.probe_pick),
                **_columns("random_pick", point.random_pick),
                **_columns("gain", point.gain),
                "p_value": test.p_value,
                "test": test.test,
                "questions": point.gain.n,
                "missing": point.gain.n_missing,
                "interval": point.gain.method,
                "checker": checked_by,
                "model": engine.loaded.name,
                "layer": block,
                "probe_seconds_per_candidate": result.probe_seconds,
                "check_seconds_per_candidate": result.check_seconds,
            }
            for point, test in zip(result.points, tests, strict=True)
        ]
    )
    report = BestOfNReport(
        character=staged.name,
        model=engine.loaded.name,
        block=block,
        training=training,
        held_out=held_out,
        result=result,
        tests=tests,
        decodable=decodable,
        folds=folds,
        checked_by=checked_by,
        judged=checker is not None,
        probe_scores=probe_scores,
        checked=checked,
        settings=f"temperature {temperature:g}, at most {max_tokens} tokens a reply, seed {seed}",
    )
    _write_outputs(output, frame, best_of_n_page(report))


@probes_app.command("compare")
def compare_command(
    characters: Annotated[list[Path], typer.Argument(help="Two or more character files or cards.")],
    other_model: Annotated[
        str, typer.Option(help="The second local model (default, base, a model folder), compared with --model.")
    ],
    model: Model = "default",
    anchors: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A text file of anchor prompts, one per line (default: eight short neutral requests such as "
            "'Describe a chair.', listed on the page).",
        ),
    ] = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="A text file of questions, one per line (default: every trait's probes)."
        ),
    ] = None,
    layer_a: Annotated[
        int | None, typer.Option(help="The block of --model (negative counts from the last; default: the middle).")
    ] = None,
    layer_b: Annotated[int | None, typer.Option(help="The block of --other-model (default: the middle).")] = None,
    max_tokens: MaxTokens = 32,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples over questions.", min=100)] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and of a sampled permutation test.")] = 0,
    output: Output = None,
) -> None:
    """Compare how two local models arrange the same characters, with relative representations.

    Each model answers every question as every character; each reply's state (the mean over its tokens at the
    block) becomes its cosine similarities to the states of the anchor prompts answered by the same model as its
    default persona (Moschella et al. 2022). A character is the mean of its replies; the two models' arrangements
    are compared by similarity, retrieval and structure, with intervals over questions and a permutation test.
    """
    staged = [load_any(path) for path in characters]
    if len(staged) < 2:
        raise CharacterlabError("an arrangement is how characters sit relative to each other: give at least two")
    names = [c.name for c in staged]
    if len(set(names)) < len(names):
        raise CharacterlabError(f"the characters must have different names; got {', '.join(names)}")
    if questions is not None:
        asked = _lines(questions)
    else:
        asked = list(dict.fromkeys(probe for c in staged for trait in c.traits for probe in trait.probes))
    if not asked:
        raise CharacterlabError("no questions: the characters have no trait probes; give --questions FILE")
    anchor_prompts = _lines(anchors) if anchors is not None else list(DEFAULT_ANCHORS)
    if len(anchor_prompts) < 2:
        raise CharacterlabError(f"{anchors}: relative representations need at least two anchor prompts")
    first = _relative_states(model, layer_a, "--layer-a", staged, asked, anchor_prompts, max_tokens)
    second = _relative_states(other_model, layer_b, "--layer-b", staged, asked, anchor_prompts, max_tokens)
    statistics = arrangement_statistics(first.relative, second.relative, resamples=resamples, seed=seed)
    title = f"How alike do {first.name} (block {first.block}) and {second.name} (block {second.block}) arrange them?"
    table = Table("statistic", "value [95% CI]", "chance", "p", "characters", "questions", title=escape(title))
    for statistic in statistics.rows:
        table.add_row(
            statistic.name,
            interval_text(statistic.value, statistic.low, statistic.high),
            number_text(statistic.chance),
            number_text(statistic.p_value),
            str(statistic.n),
            str(len(asked)),
        )
    console.print(table)
    console.print(
        f"intervals: {escape(statistics.interval_method)}; p: {escape(statistics.test)}; "
        f"{len(anchor_prompts)} anchor prompts"
    )
    if output is None:
        return
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "statistic": s.name,
                "value": s.value,
                "low": s.low,
                "high": s.high,
                "chance": s.chance,
                "p_value": s.p_value,
                "test": statistics.test,
                "interval": statistics.interval_method,
                "characters": s.n,
                "questions": len(asked),
                "anchors": len(anchor_prompts),
                "model_a": first.name,
                "layer_a": first.block,
                "model_b": second.name,
                "layer_b": second.block,
            }
            for s in statistics.rows
        ]
    )
    _write_outputs(output, frame, compare_page(names, first, second, statistics, asked, anchor_prompts, max_tokens))


@dataclass
class _RecordedProbe:
    """A probe that keeps every score it gives, in the order :func:`best_of_n` asks (question by question)."""

    layer: int
    probe: LinearProbe
    scores: list[float] = field(default_factory=list)

    def score(self, states: Mapping[int, torch.Tensor]) -> float:
        """The probe's score, recorded."""
        value = self.probe.score(states)
        self.scores.append(value)
        return value


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise CharacterlabError(f"--n {text!r}: expected whole numbers separated by commas, e.g. 1,2,4,8") from error
    if not counts or min(counts) < 1:
        raise CharacterlabError(f"--n {text!r}: every number of candidates must be at least 1, e.g. 1,2,4,8")
    return sorted(set(counts))


def _block(layer: int | None, num_layers: int, option: str) -> int:
    """The block a ``--layer`` names (default: the middle one), as an index from 0."""
    if layer is None:
        return num_layers // 2
    if not -num_layers <= layer < num_layers:
        raise CharacterlabError(
            f"{option} {layer}: the model has {num_layers} blocks (0 to {num_layers - 1}, or -1 to -{num_layers})"
        )
    return layer % num_layers


def _lines(path: Path) -> list[str]:
    return list(dict.fromkeys(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()))


def _questions(file: Path | None, character: Character) -> list[str]:
    if file is not None:
        return _lines(file)
    return list(dict.fromkeys(probe for trait in character.traits for probe in trait.probes))


def _staged_messages(character: Character, question: str) -> list[dict[str, str]]:
    """The character staged with one question, as :func:`speaker_activations` stages it for the probe."""
    from characterlab.stage import FrameMessage, StageContext, render_chat_frame

    context = StageContext(greeting=None, history=[FrameMessage(role="user", content=question)])
    return [{"role": message.role, "content": message.content} for message in render_chat_frame(character, context)]


@contextlib.contextmanager
def _character_checker(
    character: Character, judge: str | None
) -> Iterator[tuple[Callable[[str, str], float | None], str]]:
    """How much a reply sounds like the character (by a judge, or by embedding without one), and its description."""
    if judge is None:
        from characterlab.characters import substitute_macros
        from characterlab.scorers import embedding_contrast, load_embedding_model

        def filled(text: str) -> str:
            return substitute_macros(text, char=character.display_name, user="the user")

        examples = [filled(example.response) for trait in character.traits for example in trait.examples]
        counterexamples = [filled(example.response) for trait in character.traits for example in trait.counterexamples]
        if not examples or not counterexamples:
            raise CharacterlabError(
                f"{character.name} has no trait examples and counterexamples to check replies against without a "
                "judge; give --checker JUDGE"
            )
        encoder = load_embedding_model()

        def contrast(question: str, reply: str) -> float | None:
            value = embedding_contrast(encoder, reply, examples, counterexamples)
            return None if math.isnan(value) else value

        yield (
            contrast,
            (
                "a judge-free checker, the embedding contrast (packaged all-MiniLM-L6-v2): mean cosine similarity "
                f"to the character's trait examples (n={len(examples)}) minus to its counterexamples "
                f"(n={len(counterexamples)}), from -2 to 2"
            ),
        )
        return
    import asyncio

    from characterlab.dialogue import inspect_model
    from characterlab.scorers import character_as_trait, judge_score, trait_rubric

    rubric = trait_rubric(character_as_trait(character), character_name=character.display_name)
    judge_model = inspect_model(judge)
    loop = asyncio.new_event_loop()

    def ask(question: str, reply: str) -> float | None:
        score = loop.run_until_complete(judge_score(judge_model, rubric, question, reply))
        return None if math.isnan(score.value) else score.value

    try:
        yield (
            ask,
            (
                f"the judge {judge}: how much the reply sounds like {character.display_name}, from 0 to 100 (the whole "
                "character as one rubric)"
            ),
        )
    finally:
        loop.close()


def _relative_states(
    model: str,
    layer: int | None,
    option: str,
    characters: Sequence[Character],
    questions: Sequence[str],
    anchors: Sequence[str],
    max_tokens: int,
) -> RelativeStates:
    """One model's replies as every character to every question, relative to its own replies to the anchors."""
    import numpy as np

    from characterlab.interp import relative_representation, speaker_activations
    from characterlab.models import ActivationSpec, GenerationRequest

    engine = local_engine(model)
    block = _block(layer, engine.loaded.num_layers, option)
    data = speaker_activations(engine, characters, questions, layers=[block], max_new_tokens=max_tokens)
    spec = ActivationSpec(layers=(block,), reduction="mean_response")
    requests = [
        GenerationRequest(
            prompt_ids=tuple(engine.chat_prompt_ids([{"role": "user", "content": anchor}])),
            max_new_tokens=max_tokens,
            activations=spec,
        )
        for anchor in anchors
    ]
    anchor_states = np.stack([result.activations[block].numpy() for result in engine.generate(requests)])
    try:
        relative = relative_representation(data.features[block], anchor_states)
    except ValueError as error:
        raise CharacterlabError(f"{engine.loaded.name}, block {block}: {error}") from error
    shape = (len(characters), len(questions), len(anchors))
    return RelativeStates(name=engine.loaded.name, block=block, relative=relative.reshape(shape))


def _write_outputs(output: Path, frame: pd.DataFrame, page: str) -> None:
    """Write a command's page to ``output`` and its table beside it (``.csv``), making the folder; say where."""
    output.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(output.with_suffix(".csv"), index=False)
    output.write_text(page, encoding="utf-8")
    console.print(f"→ {escape(str(output))} and {escape(str(output.with_suffix('.csv')))}")


def _columns(prefix: str, estimate: Estimate) -> dict[str, float]:
    return {prefix: estimate.mean, f"{prefix}_low": estimate.low, f"{prefix}_high": estimate.high}


def _seconds(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.1f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"
