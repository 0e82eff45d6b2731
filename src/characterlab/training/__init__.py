"""Character training: constitution → prompts → preference pairs → AI feedback → DPO (LoRA) → introspective
fine-tuning → a bundle the local provider loads, measured before and after.

Run it with :func:`train_character` (``characterlab train``); the stages are public too, for researchers who want
one of them alone.
"""

from characterlab.training._bundle import BUNDLE_FILE, BUNDLE_SCHEMA, BundleManifest, read_bundle
from characterlab.training._dpo import DpoResult, DpoSettings, dpo_rows, student_prompt, train_dpo
from characterlab.training._evaluation import (
    CONDITIONS,
    Condition,
    EvaluationPrompt,
    EvaluationReply,
    evaluate,
    evaluation_prompts,
    summarize_evaluation,
    unseen_contexts,
)
from characterlab.training._feedback import judge_pairs, pair_prompt
from characterlab.training._introspection import REFLECTION_PROMPTS, IntrospectionSettings, write_introspection
from characterlab.training._margins import completion_logprob, preference_margins
from characterlab.training._pairs import generate_pairs
from characterlab.training._pipeline import TrainingResult, TrainingSettings, train_character
from characterlab.training._prompts import build_prompts, read_prompt_file, write_trait_messages
from characterlab.training._records import (
    IntrospectionSample,
    PairVerdict,
    PreferencePair,
    TrainingPrompt,
    read_records,
)
from characterlab.training._sft import sft_rows, train_sft

__all__ = [
    "BUNDLE_FILE",
    "BUNDLE_SCHEMA",
    "CONDITIONS",
    "REFLECTION_PROMPTS",
    "BundleManifest",
    "Condition",
    "DpoResult",
    "DpoSettings",
    "EvaluationPrompt",
    "EvaluationReply",
    "IntrospectionSample",
    "IntrospectionSettings",
    "PairVerdict",
    "PreferencePair",
    "TrainingPrompt",
    "TrainingResult",
    "TrainingSettings",
    "build_prompts",
    "completion_logprob",
    "dpo_rows",
    "evaluate",
    "evaluation_prompts",
    "generate_pairs",
    "judge_pairs",
    "pair_prompt",
    "preference_margins",
    "read_bundle",
    "read_prompt_file",
    "read_records",
    "sft_rows",
    "student_prompt",
    "summarize_evaluation",
    "train_character",
    "train_dpo",
    "train_sft",
    "unseen_contexts",
    "write_introspection",
    "write_trait_messages",
]
