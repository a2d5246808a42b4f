"""The todo tools: a task list the agent keeps for itself, one per conversation.

The list lives in the conversation's tool state (``ctx.state_for("todo")``), never on
the toolset, so it is committed with the turn or dropped with it, and two conversations
never see each other's todos. The state is plain JSON-like data, so cloning a session
(a deep copy) copies it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from trioagent.chat import ToolResult, ToolSpec

from ._common import (
    ArgumentError,
    BuiltinToolset,
    object_list_arg,
    schema,
    str_arg,
    str_list_arg,
    to_json,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._common import Handler
    from .base import ToolContext

STATE_KEY: Final = "todo"
STATUSES: Final = ("pending", "in-progress", "completed")

_STATUS_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": list(STATUSES),
    "description": "New status (pending, in-progress, completed)",
}

TODO_TOOLS: Final = (
    ToolSpec(
        name="create_todo",
        description="Create a new todo item with a description",
        parameters=schema(
            {"description": {"type": "string", "description": "Description of the todo item"}},
            required=("description",),
        ),
    ),
    ToolSpec(
        name="create_todos",
        description="Create a list of new todo items with descriptions",
        parameters=schema(
            {
                "descriptions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Descriptions of the todo items",
                }
            },
            required=("descriptions",),
        ),
    ),
    ToolSpec(
        name="update_todos",
        description="Update the status of one or more todo item(s)",
        parameters=schema(
            {
                "updates": {
                    "type": "array",
                    "description": "List of todo updates",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "description": "ID of the todo item"},
                            "status": _STATUS_SCHEMA,
                        },
                        "required": ["id", "status"],
                    },
                }
            },
            required=("updates",),
        ),
    ),
    ToolSpec(name="list_todos", description="List all current todos with their status"),
)


class TodoToolset(BuiltinToolset):
    """create_todo, create_todos, update_todos and list_todos over the conversation's list."""

    def tools(self) -> list[ToolSpec]:
        return list(TODO_TOOLS)

    def _handlers(self) -> Mapping[str, Handler]:
        return {
            "create_todo": self._create_todo,
            "create_todos": self._create_todos,
            "update_todos": self._update_todos,
            "list_todos": self._list_todos,
        }

    async def _create_todo(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        state = _state(ctx)
        created = _add(state, str_arg(arguments, "description"))
        return _result(state, created=created)

    async def _create_todos(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        descriptions = str_list_arg(arguments, "descriptions")
        state = _state(ctx)
        created = [_add(state, description) for description in descriptions]
        return _result(state, created=created)

    async def _update_todos(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        updates = [
            (str_arg(u, "id"), _status(str_arg(u, "status")))
            for u in object_list_arg(arguments, "updates")
        ]
        state = _state(ctx)
        by_id = {item["id"]: item for item in state["items"]}
        updated: list[dict[str, str]] = []
        not_found: list[str] = []
        for todo_id, status in updates:
            item = by_id.get(todo_id)
            if item is None:
                not_found.append(todo_id)
                continue
            item["status"] = status
            updated.append({"id": todo_id, "status": status})
        result = _result(state, updated=updated, not_found=not_found)
        if not_found and not updated:
            return ToolResult.error(result.content)
        return result

    async def _list_todos(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return _result(_state(ctx), key="todos")


def _state(ctx: ToolContext) -> dict[str, Any]:
    state = ctx.state_for(STATE_KEY)
    state.setdefault("next_id", 1)
    state.setdefault("items", [])
    return state


def _add(state: dict[str, Any], description: str) -> dict[str, str]:
    item = {"id": f"todo_{state['next_id']}", "description": description, "status": "pending"}
    state["next_id"] += 1
    state["items"].append(item)
    return dict(item)


def _status(value: str) -> str:
    status = value.strip().lower().replace("_", "-").replace(" ", "-")
    if status not in STATUSES:
        raise ArgumentError(f"status {value!r} is not one of {', '.join(STATUSES)}")
    return status


def _result(state: dict[str, Any], *, key: str = "all_todos", **fields: object) -> ToolResult:
    body: dict[str, object] = {name: value for name, value in fields.items() if value}
    body[key] = state["items"]
    reminder = _reminder(state["items"])
    if reminder:
        body["reminder"] = reminder
    return ToolResult(to_json(body))


def _reminder(items: list[dict[str, str]]) -> str:
    """A nudge listing the todos not completed yet, so the agent finishes them."""
    open_items = [item for item in items if item["status"] != "completed"]
    if not open_items:
        return ""
    listed = "; ".join(f"[{i['id']}] ({i['status']}) {i['description']}" for i in open_items)
    return f"These todos are not completed yet and must be completed: {listed}"
