"""Where trioagent keeps files of its own on this machine.

This module imports nothing of ours: every layer may import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


def user_cache_dir(env: Mapping[str, str]) -> Path:
    """The user's trioagent cache directory (not created).

    Args:
        env: the environment to read ``XDG_CACHE_HOME`` and ``HOME`` from.

    Returns:
        ``$XDG_CACHE_HOME/trioagent``, else ``$HOME/.cache/trioagent`` (with the home
        directory of the user when ``HOME`` is not set).
    """
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "trioagent"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".cache" / "trioagent"
