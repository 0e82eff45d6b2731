"""The bundle: everything a training run made, in one folder that the local provider loads as an adapter.

::

    bundle/
      bundle.json            what this is: schema, base model, character, stages done, library versions
      config.json            the run's settings
      metrics.json           counts, kept and dropped pairs, margins before and after
      character.character.yaml
      adapter/               the LoRA adapter (after introspection, when that stage ran)
      data/                  prompts.jsonl, pairs.jsonl, verdicts.jsonl, introspection.jsonl
      dpo/                   curves.csv, curves.png, the DPO-only adapter, checkpoints while it runs
      report.html            before/after

``--model characterlab/<base> -M adapter=<bundle>`` stages the trained character.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from characterlab.errors import CharacterlabError

__all__ = ["BUNDLE_FILE", "BUNDLE_SCHEMA", "BundleManifest", "read_bundle", "stage_done", "write_manifest"]

BUNDLE_SCHEMA: Final = "characterlab/bundle@1"
BUNDLE_FILE: Final = "bundle.json"
"""The manifest's name inside a bundle; the model loader looks for it to find the adapter folder."""
_VERSIONED = ("characterlab", "torch", "transformers", "peft", "trl", "inspect-ai")


class BundleManifest(BaseModel):
    """``bundle.json``: what a bundle holds and how it was made."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    schema_id: Literal["characterlab/bundle@1"] = Field(default=BUNDLE_SCHEMA, alias="schema")
    character: str
    """The character's name."""
    character_file: str = "character.character.yaml"
    base_model: str
    """The student, as an Inspect model name (``characterlab/default``): the model the adapter goes on."""
    teacher: str
    judge: str
    adapter: str = "adapter"
    """The adapter folder inside the bundle."""
    stages: dict[str, str] = {}
    """Stage name → when it finished (ISO 8601, UTC)."""
    versions: dict[str, str] = {}
    created: str = ""


def write_manifest(bundle: Path, manifest: BundleManifest) -> None:
    """Write ``bundle.json`` (through a temporary file), stamping creation time and library versions once."""
    update: dict[str, Any] = {}
    if not manifest.created:
        update["created"] = _now()
    if not manifest.versions:
        update["versions"] = {name: _version(name) for name in _VERSIONED}
    manifest = manifest.model_copy(update=update)
    partial = bundle / (BUNDLE_FILE + ".partial")
    partial.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    partial.replace(bundle / BUNDLE_FILE)


def read_bundle(bundle: Path) -> BundleManifest:
    """Read a bundle's manifest.

    Raises:
        CharacterlabError: no ``bundle.json`` there, or one that is not a bundle manifest.
    """
    path = bundle / BUNDLE_FILE
    try:
        return BundleManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise CharacterlabError(f"{bundle} is not a characterlab bundle: it has no {BUNDLE_FILE}") from None
    except (json.JSONDecodeError, ValidationError) as error:
        raise CharacterlabError(f"{path}: not a bundle manifest ({error})") from None


def stage_done(manifest: BundleManifest, stage: str) -> BundleManifest:
    """The manifest with ``stage`` marked finished now."""
    return manifest.model_copy(update={"stages": {**manifest.stages, stage: _now()}})


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
