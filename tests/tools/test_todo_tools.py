from __future__ import annotations

import copy
import json
from pathlib import Path

import trio

from trioagent.tools import TodoToolset, ToolContext


async def test_create_update_and_list_todos(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        todos = TodoToolset()
        created = await todos.call("create_todos", {"descriptions": ["plan", "build"]}, ctx)
        one = await todos.call("create_todo", {"description": "ship"}, ctx)
        updated = await todos.call(
            "update_todos",
            {
                "updates": [
                    {"id": "todo_1", "status": "in_progress"},
                    {"id": "todo_2", "status": "completed"},
                ]
            },
            ctx,
        )
        listed = await todos.call("list_todos", {}, ctx)
    assert [t["id"] for t in json.loads(created.content)["created"]] == ["todo_1", "todo_2"]
    assert json.loads(one.content)["created"]["id"] == "todo_3"
    assert not updated.is_error
    body = json.loads(listed.content)
    assert [(t["id"], t["status"]) for t in body["todos"]] == [
        ("todo_1", "in-progress"),
        ("todo_2", "completed"),
        ("todo_3", "pending"),
    ]
    assert "todo_1" in body["reminder"]
    assert "todo_2" not in body["reminder"]


async def test_update_of_unknown_todo_is_an_error(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        result = await TodoToolset().call(
            "update_todos", {"updates": [{"id": "todo_9", "status": "completed"}]}, ctx
        )
    assert result.is_error
    assert json.loads(result.content)["not_found"] == ["todo_9"]


async def test_bad_status_is_an_error(ctx: ToolContext) -> None:
    with trio.fail_after(5):
        todos = TodoToolset()
        await todos.call("create_todo", {"description": "x"}, ctx)
        result = await todos.call(
            "update_todos", {"updates": [{"id": "todo_1", "status": "done-ish"}]}, ctx
        )
    assert result.is_error
    assert "pending" in result.content


async def test_todo_state_belongs_to_one_conversation(work_dir: Path) -> None:
    one = ToolContext(working_dir=work_dir, state={})
    two = ToolContext(working_dir=work_dir, state={})
    todos = TodoToolset()  # one toolset instance serves both conversations
    with trio.fail_after(5):
        await todos.call("create_todo", {"description": "only in one"}, one)
        listed_two = await todos.call("list_todos", {}, two)
        listed_one = await todos.call("list_todos", {}, one)
    assert json.loads(listed_two.content)["todos"] == []
    assert len(json.loads(listed_one.content)["todos"]) == 1
    assert "todo" in one.state


async def test_todos_on_a_discarded_clone_leave_the_stored_state_unchanged(
    work_dir: Path,
) -> None:
    # Session.clone() deep-copies the tool state; a turn works on the copy.
    stored: dict[str, object] = {}
    todos = TodoToolset()
    with trio.fail_after(5):
        kept = copy.deepcopy(stored)
        await todos.call(
            "create_todo", {"description": "a"}, ToolContext(working_dir=work_dir, state=kept)
        )
        stored = kept  # committed
        dropped = copy.deepcopy(stored)
        await todos.call(
            "create_todo", {"description": "b"}, ToolContext(working_dir=work_dir, state=dropped)
        )
        listed = await todos.call("list_todos", {}, ToolContext(working_dir=work_dir, state=stored))
    assert [t["description"] for t in json.loads(listed.content)["todos"]] == ["a"]
