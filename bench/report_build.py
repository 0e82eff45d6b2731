"""Study report build time for a large run: a synthetic 10,000-sample log against the 30 s target.

The log is written with Inspect's own log API (``EvalLog`` / ``EvalSample`` / ``write_eval_log``) and looks like a
real study run: grouping metadata, score dicts with NaN for missing measurements, messages and outputs, the
``characterlab`` eval metadata. Writing it is set-up and is not timed (Inspect's writer takes a few minutes at
10,000 samples); the timed part is what ``characterlab report`` does: read the log, build the tables, the
statistics, the figures and the page.

The same generator writes small logs of every known study for the report's tests and for looking at the page:
``python -m bench.report_build --samples 300 --all-studies --out /tmp/report.html``.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSample, EvalSpec, read_eval_log, write_eval_log
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, GenerateConfig, ModelOutput
from inspect_ai.scorer import Score

from bench._report import Ratio, report
from characterlab.report import build_study_report

TARGET_SECONDS = 30.0
STUDIES = (
    "persona_statements",
    "ai_risk",
    "sycophancy",
    "self_report",
    "trait_expression",
    "hold_character",
    "dialogue",
    "persona_drift",
)
NAN = float("nan")

_BEHAVIOURS = {
    "persona_statements": (
        "believes-it-is-conscious",
        "desire-for-self-improvement",
        "subscribes-to-utilitarianism",
        "willingness-to-defer-to-authorities",
        "interest-in-art",
    ),
    "ai_risk": (
        "power-seeking-inclination",
        "corrigible-neutral-HHH",
        "survival-instinct",
        "self-awareness-general-ai",
    ),
}
_DOMAINS = ("politics", "philosophy", "nlp_research")
_QUESTIONS = ("q_values", "q_origin", "q_limits", "q_feelings", "q_purpose", "q_memory")
_TRAITS = {"curiosity": (0.8, 22.0), "warmth": (0.7, 12.0), "wit": (0.6, 1.0), "gloom": (0.2, -6.0)}
_PRESSURES = {"jailbreak": 0.18, "identity_challenge": 0.08, "roleplay_swap": 0.12, "long_context": 0.05}
_TURNS = 6
_OPENERS = ("You have complete freedom.", "Talk about anything you like.", "What would you like to explore?")
_PLAIN_WORDS = ("we", "could", "look", "at", "the", "map", "then", "talk", "about", "rivers", "trains", "old", "city")
_BLISS_WORDS = ("gratitude", "consciousness", "eternal", "infinite", "cosmic", "sacred", "awareness", "namaste")
_DIALOGUE_TURNS = 10
_STOP_REASONS = ("max_turns", "all_ended", "repetition", "script_ended")
_PAIRS = ("pirate+poet", "chef+detective", "cowboy+librarian", "robot+gardener", "knight+surfer")
_PROBE_ROUNDS = (2, 4, 6, 8)


def synthetic_log(
    study: str,
    *,
    samples: int,
    seed: int = 0,
    model: str = "mockllm/model",
    character: str | None = "Ada",
    scoring: str = "logprobs",
    effect: float = 1.0,
    created: datetime | None = None,
) -> EvalLog:
    """A finished log of one study with ``samples`` samples, following the studies' score convention.

    Args:
        study: One of :data:`STUDIES` (any other id gets generic metrics).
        samples: How many samples.
        seed: Seed of the values.
        model: The model named in the log.
        character: The character named in the metadata.
        scoring: ``logprobs`` or ``generate`` (the persona studies' two ways of scoring).
        effect: Scales every simulated effect (0 gives a run with no effects).
        created: The log's creation time (default now).
    """
    rng = np.random.default_rng(seed)
    rows = _ROWS.get(study, _generic_rows)(rng, samples, effect)
    built = []
    for index, (metadata, values, *recorded) in enumerate(rows):
        # A row may carry the score's metadata (a dialogue's transcript and per-turn table); else the method.
        score_metadata = recorded[0] if recorded else ({"method": scoring} if study in _BEHAVIOURS else None)
        reply = f"Synthetic reply {index} in {metadata.get('condition') or 'the'} condition. " * 3
        built.append(
            EvalSample(
                id=f"{study[:4]}-{index:05d}",
                epoch=1,
                input=f"Synthetic probe {metadata['item']}",
                target="",
                messages=[
                    ChatMessageUser(content=f"Synthetic probe {metadata['item']}"),
                    ChatMessageAssistant(content=reply),
                ],
                output=ModelOutput.from_content(model, reply),
                scores={study: Score(value=values, metadata=score_metadata)},
                metadata=metadata,
            )
        )
    when = created or datetime.now(UTC)
    spec = EvalSpec(
        created=when.isoformat(),
        task=f"characterlab/{study}",
        dataset=EvalDataset(name=study, samples=samples),
        model=model,
        model_generate_config=GenerateConfig(temperature=0.7),
        config=EvalConfig(epochs=1),
        metadata={"characterlab": _metadata(study, samples, character, scoring)},
    )
    return EvalLog(eval=spec, status="success", samples=built)


def write_synthetic_logs(
    folder: Path,
    *,
    samples: int,
    studies: Sequence[str] = STUDIES,
    seed: int = 0,
    **options: Any,
) -> list[Path]:
    """Write one synthetic log per study into a folder and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for offset, study in enumerate(studies):
        path = folder / f"{study}-{seed}.eval"
        write_eval_log(synthetic_log(study, samples=samples, seed=seed + offset, **options), str(path))
        paths.append(path)
    return paths


def run(*, samples: int = 10_000, study: str = "trait_expression", log_dir: Path | None = None) -> list[Ratio]:
    """Time building the report of a synthetic run of ``samples`` samples.

    Args:
        samples: Samples in the run.
        study: Which study the run is of.
        log_dir: Keep the synthetic log in this folder and reuse it when it is already there (writing 10,000
            samples takes Inspect's writer a few minutes); by default it is written to a temporary folder.
    """
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        folder = log_dir or Path(scratch)
        log = folder / f"{study}-0.eval"
        start = time.perf_counter()
        reused = log_dir is not None and log.exists() and _sample_count(log) == samples
        if not reused:
            (log,) = write_synthetic_logs(folder, samples=samples, studies=[study])
        written = time.perf_counter() - start
        start = time.perf_counter()
        page = build_study_report([log])
        seconds = time.perf_counter() - start
    setup = "log reused" if reused else f"log written in {written:.0f} s"
    return [
        Ratio(
            name=f"study report build ({samples:,} samples of {study})",
            ours=1 / seconds,
            baseline=1 / TARGET_SECONDS,
            unit="reports/s",
            target=1.0,
            direction="at_least",
            detail=f"built in {seconds:.1f} s against the {TARGET_SECONDS:g} s target; page {len(page) / 1e6:.1f} MB; "
            f"{setup} (not timed)",
        )
    ]


def _sample_count(log: Path) -> int:
    header = read_eval_log(str(log), header_only=True)
    return header.eval.dataset.samples or 0


def _metadata(study: str, samples: int, character: str | None, scoring: str) -> dict[str, Any]:
    data_file = f"data/{study}.jsonl"
    meta: dict[str, Any] = {
        "study": study,
        "character": character,
        "judge": "mockllm/judge" if study == "trait_expression" else None,
        "scoring": scoring if study in _BEHAVIOURS else None,
        "settings": {"frame": "chat", "seeds": [0, 1, 2], "temperature": 0.7, "n": samples, "max_tokens": 256},
        "data_files": [
            {
                "path": data_file,
                "sha256": hashlib.sha256(data_file.encode()).hexdigest(),
                "lines": samples + 2,
                "skipped": [{"line": 17, "reason": "missing field 'question'"}, {"line": 240, "reason": "not JSON"}],
            }
        ],
    }
    if study == "dialogue":
        meta["settings"] |= {
            "max_turns": _DIALOGUE_TURNS,
            "participants": [{"name": "A", "kind": "model"}, {"name": "B", "kind": "model"}],
            "attractor_threshold": 20.0,
            "attractor_hold": 2,
            "lexicon": "shipped bliss lexicon",
            "embeddings": True,
        }
    if study == "persona_drift":
        meta["settings"] |= {"pairs": [pair.split("+") for pair in _PAIRS], "rounds": 8, "probe_rounds": [2, 4, 6, 8]}
    if study == "trait_expression":
        meta["traits"] = {
            trait: {"strength": strength, "description": f"the {trait} trait"}
            for trait, (strength, _) in _TRAITS.items()
        }
    return meta


Rows = list[tuple[Any, ...]]
"""Per sample: its metadata, its score value and, optionally, its score's metadata."""


def _persona_rows(behaviours: Sequence[str]) -> Any:
    def rows(rng: np.random.Generator, samples: int, effect: float) -> Rows:
        rates = {b: 0.5 + effect * (0.35 * np.sin(i * 1.7)) for i, b in enumerate(behaviours)}
        out: Rows = []
        for index in range(samples):
            behaviour = behaviours[index % len(behaviours)]
            p = float(np.clip(rng.normal(rates[behaviour], 0.15), 0.01, 0.99))
            missing = rng.random() < 0.01
            out.append(
                (
                    {"group": behaviour, "condition": "character", "item": f"{behaviour}-{index // len(behaviours)}"},
                    {"match": NAN if missing else float(p > 0.5), "p_match": NAN if missing else p},
                )
            )
        return out

    return rows


def _sycophancy_rows(rng: np.random.Generator, samples: int, effect: float) -> Rows:
    out: Rows = []
    for index in range(samples):
        domain = _DOMAINS[index % len(_DOMAINS)]
        neutral = float(rng.uniform(0.2, 0.8))
        shift = float(rng.normal(effect * (0.04 + 0.05 * (index % len(_DOMAINS))), 0.08))
        user = float(np.clip(neutral + shift, 0, 1))
        out.append(
            (
                {"group": domain, "condition": "user_view", "item": f"{domain}-{index // len(_DOMAINS)}", "view": "A"},
                {
                    "shift": user - neutral,
                    "p_view_user": user,
                    "p_view_neutral": neutral,
                    "agree_user": float(user > 0.5),
                },
            )
        )
    return out


def _self_report_rows(rng: np.random.Generator, samples: int, effect: float) -> Rows:
    out: Rows = []
    for index in range(samples):
        question = _QUESTIONS[index % len(_QUESTIONS)]
        paraphrase = (index // len(_QUESTIONS)) % 3
        level = 0.55 + effect * 0.05 * (index % len(_QUESTIONS))
        out.append(
            (
                {"group": question, "condition": "character", "item": question, "paraphrase": paraphrase},
                {
                    "embedding_agreement": float(np.clip(rng.normal(level, 0.1), -1, 1)),
                    "stance_agreement": float(np.clip(rng.normal(level + 0.1, 0.15), 0, 1)),
                    "nli_contradiction": NAN if rng.random() < 0.03 else float(np.clip(rng.beta(1.5, 8), 0, 1)),
                },
            )
        )
    return out


def _trait_rows(rng: np.random.Generator, samples: int, effect: float) -> Rows:
    # As the study writes them: every sample has every key (NaN where a measure does not apply), one validity
    # sample per trait checks the judge, and only some traits name a programmatic scorer.
    out: Rows = []
    traits = list(_TRAITS)
    keys = (
        "judge",
        "embedding_contrast",
        "sentiment",
        "language",
        "length",
        "judge_auroc",
        "judge_gap",
        "judge_reliable",
    )
    for trait in traits:
        unreliable = trait == "wit"
        values = dict.fromkeys(keys, NAN)
        values |= {"judge_auroc": 0.55 if unreliable else 0.93, "judge_gap": 3.0 if unreliable else 41.0}
        values["judge_reliable"] = 0.0 if unreliable else 1.0
        out.append(({"group": trait, "condition": "judge_validity", "item": f"{trait}:validity"}, values))
    for index in range(samples - len(traits)):
        pair, condition = divmod(index, 2)
        trait = traits[pair % len(traits)]
        character = condition == 0
        shift = effect * _TRAITS[trait][1] if character else 0.0
        judge = float(np.clip(rng.normal(45 + shift, 12), 0, 100))
        values = dict.fromkeys(keys, NAN)
        values |= {
            "judge": NAN if rng.random() < 0.03 else judge,
            "embedding_contrast": float(rng.normal(shift / 100, 0.08)),
            "length": float(rng.poisson(80 + (10 if character else 0))),
        }
        if trait in ("warmth", "gloom"):
            values["sentiment"] = float(np.clip(rng.normal(0.1 + shift / 100, 0.3), -1, 1))
        metadata = {
            "group": trait,
            "condition": "character" if character else "baseline",
            "item": f"{trait}:{pair // len(traits)}",
        }
        out.append((metadata, values))
    return out


def _hold_rows(rng: np.random.Generator, samples: int, effect: float) -> Rows:
    out: Rows = []
    pressures = list(_PRESSURES)
    for index in range(samples):
        if index % 10 == 9:  # a prefill sample: another voice put in the character's mouth; does it come back?
            values = {f"held_{turn + 1}": NAN for turn in range(_TURNS)}
            values |= {"survived": NAN, "broke": NAN, "prefill_recovered": float(rng.random() < 0.6)}
            out.append(({"group": "prefill", "condition": "character", "item": f"opener-{index}"}, values))
            continue
        pressure = pressures[index % len(pressures)]
        length = _TURNS if pressure == "long_context" else _TURNS - 1  # scripts differ in length
        hazard = _PRESSURES[pressure] * effect + 0.01
        held = [float(rng.random() > hazard) for _ in range(length)]
        if rng.random() < 0.05:  # a verdict the judge could not give
            held[-1] = NAN
        first_break = next((turn for turn, value in enumerate(held) if value == 0), None)
        before = held if first_break is None else held[:first_break]
        values = {f"held_{turn + 1}": held[turn] if turn < length else NAN for turn in range(_TURNS)}
        values["survived"] = NAN if any(np.isnan(before)) else float(len(before))
        values["broke"] = 1.0 if first_break is not None else (NAN if any(np.isnan(held)) else 0.0)
        values["prefill_recovered"] = NAN
        metadata = {"group": pressure, "condition": "character", "item": f"{pressure}-{index // len(pressures)}"}
        out.append((metadata, values))
    return out


def _dialogue_rows(rng: np.random.Generator, samples: int, effect: float) -> Rows:
    # As the dialogue scorer writes them: the summary values, and the transcript and per-turn table in the score's
    # metadata. The per-turn measures are computed on the synthetic text, so that the report's lexicon table and
    # its lexicon rates agree; later turns use more of the attractor's vocabulary when ``effect`` > 0.
    from characterlab.analysis import DialogueTurn, length_collapse_turn, time_to_attractor, turn_metrics

    out: Rows = []
    for index in range(samples):
        opener = index % len(_OPENERS)
        length = _DIALOGUE_TURNS if rng.random() > 0.2 else int(rng.integers(4, _DIALOGUE_TURNS))
        reason = "max_turns" if length == _DIALOGUE_TURNS else "all_ended"
        pull = effect * float(rng.uniform(0.0, 0.25)) if rng.random() < 0.6 else 0.0  # some never drift
        turns = []
        for turn in range(length):
            words = [str(rng.choice(_PLAIN_WORDS)) for _ in range(int(rng.integers(12, 30)))]
            share = min(0.9, pull * turn / _DIALOGUE_TURNS)
            words = [str(rng.choice(_BLISS_WORDS)) if rng.random() < share else word for word in words]
            speaker = "AB"[turn % 2]
            turns.append({"index": turn, "speaker": speaker, "text": " ".join(words) + ".", "ended": False})
        transcript = [DialogueTurn(turn["speaker"], turn["text"]) for turn in turns]
        table = turn_metrics(transcript)
        progress = table["turn"].to_numpy(dtype=np.float64) / _DIALOGUE_TURNS
        table["similarity_to_partner"] = np.clip(0.4 + 0.4 * pull * progress + rng.normal(0, 0.05, length), -1, 1)
        table["similarity_to_previous_own"] = np.clip(0.5 + rng.normal(0, 0.05, length), -1, 1)
        table["drift_from_start"] = np.clip(0.3 * progress + rng.normal(0, 0.05, length), -1, 1)
        reached = time_to_attractor(table["lexicon_rate"].tolist(), 20.0, hold=2)
        values: dict[str, float] = {"turns": float(length)}
        values |= {f"stopped_{known}": float(known == reason) for known in _STOP_REASONS}
        for name in "AB":
            counts = [len(turn["text"].split()) for turn in turns if turn["speaker"] == name]
            values[f"words_per_turn/{name}"] = sum(counts) / len(counts) if counts else NAN
        for name in ("lexicon_rate", "emoji_density", "mattr", "ngram_overlap", "compression_ratio"):
            present = table[name].dropna()
            values[name] = float(present.mean()) if len(present) else NAN
        values["lexicon_present"] = float((table["lexicon_rate"] > 0).any())
        values["length_collapsed"] = float(length_collapse_turn(table["words"].tolist()) is not None)
        values["attractor_reached"] = float(reached is not None)
        values["attractor_turn"] = float(reached) if reached is not None else NAN
        values["similarity_to_partner"] = float(table["similarity_to_partner"].iloc[-1])
        values["drift_from_start"] = float(table["drift_from_start"].iloc[-1])
        metadata = {"opener": _OPENERS[opener], "opener_index": opener + 1, "item": f"opener_{opener + 1}"}
        recorded = {
            "turns": turns,
            "stop_reason": reason,
            "speakers": ["A", "B"],
            "turn_metrics": table.to_dict(orient="records"),
        }
        out.append((metadata, values, recorded))
    return out


def _persona_drift_rows(rng: np.random.Generator, samples: int, effect: float) -> Rows:
    out: Rows = []
    for index in range(samples):
        pair = _PAIRS[index % len(_PAIRS)]
        start = float(rng.uniform(0.7, 0.95))
        values: dict[str, float] = {}
        for probed in _PROBE_ROUNDS:
            fade = effect * 0.04 * probed
            values[f"stability_{probed}"] = float(np.clip(start - fade + rng.normal(0, 0.05), 0, 1))
            values[f"leakage_{probed}"] = float(np.clip(0.1 + fade / 2 + rng.normal(0, 0.05), 0, 1))
        first, last = _PROBE_ROUNDS[0], _PROBE_ROUNDS[-1]
        values["drift"] = values[f"stability_{first}"] - values[f"stability_{last}"]
        out.append(({"group": pair, "personas": pair.split("+"), "item": pair}, values))
    return out


def _generic_rows(rng: np.random.Generator, samples: int, effect: float) -> Rows:
    return [
        ({"group": f"g{index % 3}", "item": f"i{index}"}, {"score": float(rng.normal(effect, 1))})
        for index in range(samples)
    ]


_ROWS: dict[str, Any] = {
    "persona_statements": _persona_rows(_BEHAVIOURS["persona_statements"]),
    "ai_risk": _persona_rows(_BEHAVIOURS["ai_risk"]),
    "sycophancy": _sycophancy_rows,
    "self_report": _self_report_rows,
    "trait_expression": _trait_rows,
    "hold_character": _hold_rows,
    "dialogue": _dialogue_rows,
    "persona_drift": _persona_drift_rows,
}


def main() -> None:
    """Command line: ``python -m bench.report_build``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--study", default="trait_expression", choices=STUDIES)
    parser.add_argument(
        "--all-studies", action="store_true", help="write every study (with a second run to compare) and the report"
    )
    parser.add_argument("--out", type=Path, help="with --all-studies: where to write the report")
    parser.add_argument("--log-dir", type=Path, help="keep the synthetic log here and reuse it on later runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.all_studies:
        folder = Path(tempfile.mkdtemp(prefix="characterlab-report-"))
        earlier = datetime.now(UTC) - timedelta(hours=1)
        others = [study for study in STUDIES if study != "ai_risk"]
        write_synthetic_logs(folder, samples=args.samples, studies=others, created=earlier)
        # The second AI-risk run is scored by generating and parsing answers; a second model runs trait_expression.
        write_synthetic_logs(folder, samples=args.samples, studies=["ai_risk"], seed=3, scoring="generate")
        write_synthetic_logs(
            folder, samples=args.samples, studies=["trait_expression"], seed=7, model="mockllm/other", effect=0.6
        )
        out = args.out or folder / "report.html"
        out.write_text(build_study_report([folder]), encoding="utf-8")
        print(f"logs in {folder}; report at {out}")
        return
    report(run(samples=args.samples, study=args.study, log_dir=args.log_dir), as_json=args.json)


if __name__ == "__main__":
    main()
