"""``--env-from-file`` files and ``${NAME}`` expansion."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trioagent.config import expand, read_env_file
from trioagent.config.env import UnsetVariable
from trioagent.errors import ConfigError

Write = Callable[..., str]


def test_reads_assignments(write: Write) -> None:
    path = write(
        r"""
        # API keys for local runs
        OPENAI_API_KEY=sk-plain

        export ANTHROPIC_API_KEY = "sk-ant"
        SINGLE='kept as is: \n $NOT ${EXPANDED}'
        DOUBLE="line1\nline2 \"quoted\" \\ \$"
        URL=http://localhost:8000/v1?a=b#frag
        WITH_COMMENT=value # trailing comment
        QUOTED_COMMENT="v # not a comment" # a comment
        EQUALS=a=b=c
        EMPTY=
        EMPTY_QUOTED=""
        OPENAI_API_KEY=sk-override
    """,
        name=".env",
    )
    assert read_env_file(path) == {
        "OPENAI_API_KEY": "sk-override",
        "ANTHROPIC_API_KEY": "sk-ant",
        "SINGLE": r"kept as is: \n $NOT ${EXPANDED}",
        "DOUBLE": 'line1\nline2 "quoted" \\ $',
        "URL": "http://localhost:8000/v1?a=b#frag",
        "WITH_COMMENT": "value",
        "QUOTED_COMMENT": "v # not a comment",
        "EQUALS": "a=b=c",
        "EMPTY": "",
        "EMPTY_QUOTED": "",
    }


def test_empty_file(write: Write) -> None:
    assert read_env_file(write("", name=".env")) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "A=1\nsk-secret-token\n",
            ".env:2: expected KEY=VALUE, with KEY made of letters, digits and '_'",
        ),
        (
            "A=1\n# c\n1BAD=x\n",
            ".env:3: expected KEY=VALUE, with KEY made of letters, digits and '_'",
        ),
        ("MY-KEY=x\n", ".env:1: expected KEY=VALUE, with KEY made of letters, digits and '_'"),
        (
            'TOKEN="sk-secret\n',
            ".env:1: TOKEN: unterminated quote, or text after the closing quote",
        ),
        ("TOKEN='a'b\n", ".env:1: TOKEN: unterminated quote, or text after the closing quote"),
    ],
    ids=["no-equals", "bad-key", "dash-in-key", "unterminated", "text-after-quote"],
)
def test_bad_lines_name_file_and_line_but_not_the_value(
    write: Write, text: str, message: str
) -> None:
    path = write(text, name=".env")
    with pytest.raises(ConfigError) as info:
        read_env_file(path)
    assert str(info.value) == message
    assert "sk-secret" not in str(info.value)


def test_missing_env_file(write: Write) -> None:
    write("")
    with pytest.raises(ConfigError) as info:
        read_env_file("nope.env")
    assert str(info.value) == "nope.env: cannot read env file: No such file or directory"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "1"),
        ("${env.A}-${B}", "1-"),
        ("$A and $5 and $ and ${", "$A and $5 and $ and ${"),
        ("$${A} and $$", "${A} and $$"),
        ("${not valid}", "${not valid}"),
    ],
    ids=["braced", "env-prefix-and-empty", "unbraced-untouched", "escaped", "not-a-name"],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": ""}) == expected


def test_expand_unset_variable() -> None:
    with pytest.raises(UnsetVariable) as info:
        expand("x ${env.MISSING} y", {})
    assert info.value.name == "MISSING"
