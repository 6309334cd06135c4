"""The intake file of a KB folder (`intake.yml`, see rag/intake.py): validated and kept in the catalog.

    topics = store_intake(catalog, [Path("examples/kb")], errors, dry_run=False)

A folder with an intake file stores it (the server reads it from the catalog, whatever machine
ingested); a folder without one drops the one it had. A broken file is an ingest error naming the
file, and the one stored before stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.catalog import Catalog, IntakeRow
from rag.errors import IngestError
from rag.intake import FILE_NAMES, parse_intake


def store_intake(catalog: Catalog, roots: Sequence[Path], errors: list[IngestError], *, dry_run: bool) -> int:
    """Validate and store the intake file of every folder in `roots`; returns how many topics they have."""
    topics = 0
    for root in roots:
        if not root.is_dir():
            continue
        source = str(root.resolve())
        found = next((root / name for name in FILE_NAMES if (root / name).is_file()), None)
        if found is None:
            if not dry_run:
                catalog.delete_intake(source)
            continue
        try:
            text = found.read_text(encoding="utf-8")
            topics += len(parse_intake(text).topics)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            errors.append(IngestError(str(found), f"intake file: {exc}"))
            continue
        if not dry_run:
            catalog.set_intake(IntakeRow(source=source, path=str(found.resolve()), text=text))
    return topics
