"""The message for a model that cannot be loaded, from a folder or from the Hugging Face Hub.

Every loader (language models, embedding models, NLI models) takes a folder or a hub id, and a failure has the
same two causes: a folder that lacks files, or a hub id that cannot be fetched (mostly because the machine is
offline). Saying which of the two happened, and what to do instead, spares the user a transformers traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from characterlab.errors import ModelLoadError

__all__ = ["load_failure"]


def load_failure(what: str, name: str, error: Exception, *, folder_needs: str, instead: str) -> ModelLoadError:
    """Build the error for a model that failed to load.

    Args:
        what: What was being loaded, e.g. ``"the embedding model"`` or ``"the tokenizer of 'default'"``.
        name: The folder or hub id as the user gave it.
        error: What the loading library raised.
        folder_needs: What a folder must hold (said when ``name`` is a folder).
        instead: What to do instead (said when ``name`` was looked up on the hub).
    """
    reason = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
    if Path(name).expanduser().exists():
        return ModelLoadError(f"cannot load {what} from the folder {name}: {reason}. {folder_needs}")
    offline = any(
        os.environ.get(variable, "0") not in ("", "0") for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    where = (
        "offline mode is set (HF_HUB_OFFLINE), so only models already in the local hub cache can be loaded"
        if offline
        else "the Hugging Face Hub may be unreachable from here"
    )
    return ModelLoadError(
        f"cannot load {what} {name!r}: it is not a local folder, so it was looked up as a Hugging Face Hub id, and "
        f"that failed ({where}): {reason}. {instead}"
    )
