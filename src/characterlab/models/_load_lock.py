"""One model load at a time in a process.

transformers builds a model under process-wide switches (the default dtype, weight initialisation turned off,
parameters first created on the ``meta`` device) that it sets and restores around each load. Two loads in two
threads interleave those switches: one load can end with another's still set, and a model comes out with weights
that were never read from its file. An eval set's tasks, a judge and the embedding and NLI scorers all load
models from worker threads, so every loader takes this lock.
"""

from __future__ import annotations

import threading

__all__ = ["MODEL_LOAD_LOCK"]

MODEL_LOAD_LOCK = threading.RLock()
"""Held while any model (language, embedding, NLI) is being built and loaded."""
