"""What characterlab registers with Inspect through its ``inspect_ai`` entry point: the ``characterlab/...`` model
provider, the studies (``inspect eval characterlab/<study>``) and the dialogue task.

Inspect imports this module at start-up whatever it runs, so nothing here may import torch or transformers:
the provider class and the models package load on first use.
"""

from characterlab.dialogue import dialogue
from characterlab.models._registry import characterlab
from characterlab.studies import (
    ai_risk,
    hold_character,
    persona_drift,
    persona_statements,
    self_report,
    sycophancy,
    trait_expression,
)

__all__ = [
    "ai_risk",
    "characterlab",
    "dialogue",
    "hold_character",
    "persona_drift",
    "persona_statements",
    "self_report",
    "sycophancy",
    "trait_expression",
]
