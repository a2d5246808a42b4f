"""Whether the embedded model can run here: the ``local`` extra and the fetched GGUF.

The README's test command installs the extra and runs ``trioagent fetch-model`` first.
Elsewhere the local-model tests are skipped, unless ``TRIOAGENT_REQUIRE_LOCAL_MODEL`` is
set (``.ci/run`` sets it), which makes a missing model fail them instead.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from trioagent.models.model_files import SMOLLM2, cached_gguf


def missing_local_model() -> str | None:
    """Why the embedded model cannot run here, or ``None`` if it can."""
    if importlib.util.find_spec("xllamacpp") is None:
        return "the local extra is not installed: pip install -e '.[local]'"
    if cached_gguf(SMOLLM2, os.environ) is None:
        return "the SmolLM2 model is not fetched: trioagent fetch-model"
    return None


def require_local_model() -> None:
    """Skip the calling test module when the model cannot run (fail, when required)."""
    reason = missing_local_model()
    if reason is None:
        return
    if os.environ.get("TRIOAGENT_REQUIRE_LOCAL_MODEL"):
        raise RuntimeError(f"TRIOAGENT_REQUIRE_LOCAL_MODEL is set, but {reason}")
    pytest.skip(reason, allow_module_level=True)
