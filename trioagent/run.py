"""``trioagent run``: one agent in the terminal."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, TextIO

import trio

from .chat import Message
from .errors import TrioagentError, describe, unwrap
from .runtime import (
    AnswerDelta,
    Session,
    ToolFinished,
    ToolStarted,
    TurnFinished,
    open_pool,
    open_team,
    run_turn,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from .config import AgentFile
    from .runtime import RuntimeEvent, RuntimePool
    from .tools import Safety

PROMPT = "> "
HELP = """\
Type a message and press Enter; the answer streams below it. Ctrl-C while the agent
answers cancels that turn (the conversation stays as it was before it); Ctrl-C or
Ctrl-D at the prompt quits.
Commands:
  /help   this text
  /reset  forget the conversation so far
  /exit   quit (also /quit)"""


async def run_command(file: AgentFile, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run one turn with ``args.message``, or a prompt loop without it; return exit status."""
    from pathlib import Path

    name = args.agent or file.default_agent
    working_dir = (args.working_dir or Path.cwd()).resolve()
    safety: Safety = "standard" if args.safety is None else args.safety
    async with (
        open_team(file, working_dir=working_dir, env=env, safety=safety) as team,
        open_pool(team, max_idle=1) as pool,
    ):
        session = Session()
        if args.message is not None:
            await run_one(pool, name, session, args.message)
            return 0
        welcome = file.agents[name].welcome_message
        if welcome:
            print(welcome, file=sys.stderr)
        print("Type /help for help.", file=sys.stderr)
        while True:
            line = await trio.to_thread.run_sync(_read_line, abandon_on_cancel=True)
            if line is None:
                return 0
            command = line.strip()
            if command in ("/exit", "/quit"):
                return 0
            if command == "/help":
                print(HELP, file=sys.stderr)
            elif command == "/reset":
                session = Session()
                print("[the conversation was forgotten]", file=sys.stderr)
            elif command.startswith("/"):
                print(f"unknown command {command.split()[0]}: type /help", file=sys.stderr)
            elif command:
                try:
                    await run_cancellable(pool, name, session, line)
                except* TrioagentError as group:
                    print(f"trioagent: error: {describe(unwrap(group))}", file=sys.stderr)


async def run_cancellable(pool: RuntimePool, agent: str, session: Session, text: str) -> None:
    """`run_one`, cancelled by Ctrl-C (SIGINT) while it runs: the turn stops and
    ``session`` stays as it was."""
    with trio.CancelScope() as turn_scope:
        async with trio.open_nursery() as nursery:

            async def cancel_on_ctrl_c(task_status: trio.TaskStatus[None]) -> None:
                with trio.open_signal_receiver(signal.SIGINT) as signals:
                    task_status.started()
                    async for _ in signals:
                        turn_scope.cancel()
                        return

            await nursery.start(cancel_on_ctrl_c)
            await run_one(pool, agent, session, text)
            nursery.cancel_scope.cancel()
    if turn_scope.cancelled_caught:
        print(
            "\n[cancelled: the conversation is as it was before this message]",
            file=sys.stderr,
            flush=True,
        )


def _read_line() -> str | None:
    try:
        return input(PROMPT)
    except EOFError:
        return None


async def run_one(
    pool: RuntimePool,
    agent: str,
    session: Session,
    text: str,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> None:
    """Run one turn on a clone of ``session``; keep the clone only if the turn finished."""
    turn = session.clone()
    turn.messages.append(Message.user(text))
    send, receive = trio.open_memory_channel["RuntimeEvent"](0)
    async with pool.borrow(agent) as runtime, trio.open_nursery() as nursery:
        nursery.start_soon(run_turn, runtime, turn, send)
        async with receive:
            async for event in receive:
                _print_event(event, out, err)
    session.messages[:] = turn.messages
    session.usage = turn.usage
    session.tool_state = turn.tool_state


def _print_event(event: RuntimeEvent, out: TextIO, err: TextIO) -> None:
    if isinstance(event, AnswerDelta):
        out.write(event.text)
        out.flush()
    elif isinstance(event, ToolStarted):
        print(f"\n[tool] {event.name}({_short(event.arguments)})", file=err, flush=True)
    elif isinstance(event, ToolFinished):
        status = "failed" if event.is_error else "done"
        print(f"[tool] {event.name} {status}: {_short(event.result)}", file=err, flush=True)
    elif isinstance(event, TurnFinished):
        out.write("\n")
        out.flush()
        if event.reason == "length":
            print("[stopped: the agent reached its iteration or token limit]", file=err)
        elif event.client_tool_calls:
            print("[stopped: the model asked for tools this agent does not have]", file=err)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
