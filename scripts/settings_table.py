"""Generate the environment-variable table of docs/deployment.md from `rag.settings.Settings`.

    python scripts/settings_table.py           # rewrite the table between the markers
    python scripts/settings_table.py --check   # exit 1 if the doc is stale (tests run this)

The table sits between `<!-- settings-table:start -->` and `<!-- settings-table:end -->`, so the
doc's prose around it stays hand-written while the list of variables cannot drift from the code.
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.settings import Settings  # noqa: E402

DOC = ROOT / "docs" / "deployment.md"
START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"


def _default(field: FieldInfo) -> str:
    value: Any = field.default
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "unset" if not value.get_secret_value() else "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{value.as_posix() if value.is_absolute() else './' + value.as_posix()}`"
    return f"`{value}`"


def _choices(field: FieldInfo) -> str:
    literal = [a for a in typing.get_args(field.annotation) if a is not type(None)] or [field.annotation]
    for arg in literal:
        if typing.get_origin(arg) is typing.Literal:
            return " (" + " / ".join(f"`{v}`" for v in typing.get_args(arg)) + ")"
    if typing.get_origin(field.annotation) is typing.Literal:
        return " (" + " / ".join(f"`{v}`" for v in typing.get_args(field.annotation)) + ")"
    return ""


def _secret(field: FieldInfo) -> bool:
    return SecretStr in (field.annotation, *typing.get_args(field.annotation))


def render_table() -> str:
    rows = ["| variable | default | what it does |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        text = (field.description or "").replace("|", "\\|") + _choices(field)
        if _secret(field):
            text += " Secret: never logged."
        rows.append(f"| `{name.upper()}` | {_default(field)} | {text} |")
    return "\n".join(rows)


def render_doc(doc: str) -> str:
    before, start, rest = doc.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{DOC}: markers {START} … {END} not found")
    return f"{before}{START}\n{render_table()}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/deployment.md is stale")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    wanted = render_doc(current)
    if args.check:
        if current != wanted:
            print(f"{DOC.relative_to(ROOT)} is stale: run python scripts/settings_table.py", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        DOC.write_text(wanted, encoding="utf-8")
        print(f"updated {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
