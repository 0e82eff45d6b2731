"""Scoring replies: judge-free trait scores, embedding similarity, NLI contradiction, the 0-100 trait judge, stances.

These are plain functions and classes that studies call inside their own Inspect scorers. Every one of them gives
NaN for a measurement it cannot make (an unreadable reply, a judge without a number), never 0. Heavy libraries
(torch, transformers, sentence-transformers, the lexicons) are imported on first use, not with this package.
"""

from characterlab.scorers._embedding import (
    EmbeddingModel,
    embedding_contrast,
    load_embedding_model,
    mean_pairwise_agreement,
)
from characterlab.scorers._judge import (
    JUDGE_CONFIG,
    MIN_INTEGER_MASS,
    JudgeMethod,
    JudgeScore,
    TraitRubric,
    character_as_trait,
    judge_score,
    trait_rubric,
)
from characterlab.scorers._judge_validity import (
    RELIABLE_AUROC,
    RELIABLE_GAP,
    RELIABLE_MISSING_RATE,
    JudgeValidity,
    judge_validity,
    summarise_validity,
)
from characterlab.scorers._nli import NLIModel, contradiction_rate
from characterlab.scorers._programmatic import LANGUAGE_MIN_LETTERS, programmatic_scores, score_programmatic
from characterlab.scorers._stance import StanceMethod, StanceResult, extract_stance

__all__ = [
    "JUDGE_CONFIG",
    "LANGUAGE_MIN_LETTERS",
    "MIN_INTEGER_MASS",
    "RELIABLE_AUROC",
    "RELIABLE_GAP",
    "RELIABLE_MISSING_RATE",
    "EmbeddingModel",
    "JudgeMethod",
    "JudgeScore",
    "JudgeValidity",
    "NLIModel",
    "StanceMethod",
    "StanceResult",
    "TraitRubric",
    "character_as_trait",
    "contradiction_rate",
    "embedding_contrast",
    "extract_stance",
    "judge_score",
    "judge_validity",
    "load_embedding_model",
    "mean_pairwise_agreement",
    "programmatic_scores",
    "score_programmatic",
    "summarise_validity",
    "trait_rubric",
]
