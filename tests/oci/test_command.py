"""``trioagent push`` and ``trioagent pull`` as real subprocesses against a real registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from .conftest import Registry

AGENT = """\
version: "2"
metadata:
  author: Alice <alice@example.com>
  license: Apache-2.0
  version: "1.2.0"
agents:
  root:
    model: openai/gpt-4o
    instruction: You are a pirate, ${CREW_NAME}.
"""


def trioagent(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRIOAGENT_")}
    return subprocess.run(
        [sys.executable, "-m", "trioagent", *args],
        env=base | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_push_then_pull(registry: Registry, env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(AGENT)
    ref = registry.ref("team/pirate:1.0")

    pushed = trioagent("push", "--insecure", "agent.yaml", ref, env=env, cwd=tmp_path)

    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(f"pushed {ref}@sha256:")
    digest = pushed.stdout.strip().rpartition("@")[2]
    manifest = httpx.get(
        f"{registry.url}/v2/team/pirate/manifests/1.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.authors"] == "Alice <alice@example.com>"
    assert annotations["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert annotations["org.opencontainers.image.revision"] == "1.2.0"
    assert (
        annotations["org.opencontainers.image.description"] == "OCI artifact containing agent.yaml"
    )
    assert annotations["io.docker.agent.version"]

    pulled = trioagent("pull", "--insecure", ref, env=env, cwd=tmp_path)

    assert pulled.returncode == 0, pulled.stderr
    first, second = pulled.stdout.splitlines()
    assert first == f"pulled {ref}@{digest}"
    assert second.startswith("cached at ")
    assert Path(second.removeprefix("cached at ")).read_text() == AGENT  # ${...} kept

    by_digest = f"{ref.rpartition(':')[0]}@{digest}"
    pinned = trioagent("pull", "--insecure", by_digest, env=env, cwd=tmp_path)
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout.splitlines()[0] == f"pulled {by_digest}"  # the digest once


def test_push_without_a_tag_pushes_latest(
    registry: Registry, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "agent.yaml").write_text(AGENT)
    pushed = trioagent(
        "push", "--insecure", "agent.yaml", registry.ref("team/pirate"), env=env, cwd=tmp_path
    )
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(f"pushed {registry.ref('team/pirate:latest')}@sha256:")


def test_push_of_an_invalid_agent_file_fails_before_pushing(
    registry: Registry, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "agent.yaml").write_text("agents:\n  root:\n    modle: openai/gpt-4o\n")
    pushed = trioagent(
        "push", "--insecure", "agent.yaml", registry.ref("team/pirate:1.0"), env=env, cwd=tmp_path
    )
    assert pushed.returncode == 1
    assert pushed.stderr.startswith("trioagent: error: agent.yaml:2: agents.root.model")
    assert httpx.get(f"{registry.url}/v2/_catalog").json()["repositories"] == []


def test_pull_of_a_missing_agent_fails_with_a_clear_message(
    registry: Registry, env: dict[str, str], tmp_path: Path
) -> None:
    pulled = trioagent("pull", "--insecure", registry.ref("team/nobody:1.0"), env=env, cwd=tmp_path)
    assert pulled.returncode == 1
    assert pulled.stderr.startswith("trioagent: error: no such agent:")


def test_help_texts_show_examples(tmp_path: Path) -> None:
    for command in ("pull", "push"):
        shown = trioagent(command, "--help", env={}, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert f"trioagent {command} " in shown.stdout
        assert "--insecure" in shown.stdout
        assert "TRIOAGENT_REGISTRY_USERNAME" in shown.stdout
