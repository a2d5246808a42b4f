"""``trioagent chat``: the chat on the terminal, with Ctrl-C handled."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Final, TextIO

import trio

from ._client import ChatClient
from ._options import ChatOptions
from ._screen import Screen

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

INTERRUPTED: Final = 130
"""The exit status after Ctrl-C, as shells report SIGINT."""


async def chat_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """``trioagent chat``: run the chat on the terminal; return the exit status."""
    return await run_chat(ChatOptions.from_args(args, env), no_color="NO_COLOR" in env)


async def run_chat(
    options: ChatOptions,
    *,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    no_color: bool = False,
) -> int:
    """Chat until the user leaves.

    Args:
        options: where to connect and as whom.
        stdin: the user's lines; the prompt is shown only when it is a terminal.
        out: where answers stream.
        err: where notes, tool activity and errors go (dim when it is a terminal).
        no_color: never dim (``NO_COLOR`` is set).

    Returns:
        0 when the user left (``/quit``, end of input), 1 when the first hello failed,
        130 after Ctrl-C at the prompt or a second one during a turn.

    Raises:
        ChatConnectionError: the server could not be reached, refused the API key, or
            closed the connection.
    """
    screen = Screen(out=out, err=err, dim=err.isatty() and not no_color)
    client = ChatClient(options=options, screen=screen, stdin=stdin)
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            # Started before connecting, so that Ctrl-C also stops a slow connect.
            nursery.start_soon(client.watch_interrupts, signals, nursery.cancel_scope)
            status = await client.run()
            nursery.cancel_scope.cancel()
    if client.interrupted:
        if client.tty:
            err.write("\n")  # after the terminal's "^C"
        return INTERRUPTED
    return status
