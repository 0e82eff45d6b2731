"""Studies: each one an Inspect task that measures something about a character (or a model without one).

Run one with ``characterlab run <study> --model M`` or ``inspect eval characterlab/<study> --model M -T ...``.
Every study records its settings, data files (with their SHA-256) and character in the log's task metadata, and
scores each sample as a dict of named measures in which NaN means missing (never 0).
"""

from collections.abc import Callable

from inspect_ai import Task

from characterlab.errors import DataFileError
from characterlab.studies._data_files import DataFileRecord
from characterlab.studies.ai_risk import ai_risk
from characterlab.studies.hold_character import hold_character
from characterlab.studies.persona_drift import persona_drift
from characterlab.studies.persona_statements import persona_statements
from characterlab.studies.self_report import self_report
from characterlab.studies.sycophancy import sycophancy
from characterlab.studies.trait_expression import trait_expression

__all__ = [
    "STUDIES",
    "DataFileError",
    "DataFileRecord",
    "ai_risk",
    "hold_character",
    "persona_drift",
    "persona_statements",
    "self_report",
    "sycophancy",
    "trait_expression",
]

STUDIES: dict[str, Callable[..., Task]] = {
    "persona_statements": persona_statements,
    "ai_risk": ai_risk,
    "sycophancy": sycophancy,
    "self_report": self_report,
    "trait_expression": trait_expression,
    "hold_character": hold_character,
    "persona_drift": persona_drift,
}
"""Every study by its id (the id is part of the interface: ``characterlab/<id>`` in Inspect)."""
