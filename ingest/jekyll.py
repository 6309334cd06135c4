"""A Jekyll site's own settings and data, for the pages of it that kb-rag reads.

    site, site_root = jekyll_site(Path("help-center/docs"))   # ({}, None) without a _config.yml
    site["title"], site["data"]["plans"]["pro"]["price"]
    page_url(site, "/billing/refunds/")              # "https://help.example.com/docs/billing/refunds/"

Help-center text in a Jekyll repository often says `{{ site.title }}`, `{{ site.support_email }}` or
`{{ site.data.plans.pro.price }}`: the product's name, an address, a price. Without the site they
read as gaps ("Contact  for a refund"). `_config.yml` (in the folder given or up to two folders above
it) gives `site.*`, and the YAML and JSON files of `_data/` next to it give `site.data.*`. Its `url`
and `baseurl` make the pages' paths into links an agent can open.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

MAX_DATA_FILES = 500  # a site's data folder, not a dataset
MAX_DATA_BYTES = 1_000_000


def jekyll_site(root: Path) -> tuple[dict[str, Any], Path | None]:
    """`site` as Liquid sees it and the site's folder, for the Jekyll site `root` belongs to."""
    folder = root if root.is_dir() else root.parent
    for candidate in [folder, *list(folder.parents)[:2]]:
        config = candidate / "_config.yml"
        if config.is_file():
            site = _yaml(config)
            if not isinstance(site, dict):
                return {}, None
            data = dict(site["data"]) if isinstance(site.get("data"), dict) else {}
            site["data"] = data | _data_folder(candidate / "_data")
            return site, candidate
    return {}, None


def page_url(site: dict[str, Any], path: str) -> str:
    """An absolute URL for a site path ("/billing/refunds/"); the path itself without `url`."""
    url = str(site.get("url") or "").rstrip("/")
    base = "/" + str(site.get("baseurl") or "").strip("/")
    if not url.startswith(("http://", "https://")) or not path.startswith("/"):
        return path
    return url + (base.rstrip("/") + path if base != "/" else path)


def default_path(site: dict[str, Any], relative: Path) -> str:
    """The URL path Jekyll gives a page without a permalink: `a/b.md` -> `/a/b.html`, or `/a/b/`
    with `permalink: pretty`; `index.md` is its folder."""
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "index":
        return "/" + "/".join(parts[:-1]) + ("/" if len(parts) > 1 else "")
    pretty = str(site.get("permalink") or "") == "pretty"
    return "/" + "/".join(parts) + ("/" if pretty else ".html")


def _data_folder(folder: Path) -> dict[str, Any]:
    """`_data/plans.yml` -> {"plans": …}, `_data/team/people.json` -> {"team": {"people": …}}."""
    data: dict[str, Any] = {}
    if not folder.is_dir():
        return data
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".yml", ".yaml", ".json") and p.is_file())
    for file in files[:MAX_DATA_FILES]:
        if file.stat().st_size > MAX_DATA_BYTES:
            continue
        value = _yaml(file) if file.suffix.lower() != ".json" else _json(file)
        if value is None:
            continue
        node = data
        *folders, name = file.relative_to(folder).with_suffix("").parts
        for part in folders:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[name] = value
    return data


def _yaml(file: Path) -> Any:
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("ignoring %s: %s", file, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None


def _json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("ignoring %s: %s", file, exc)
        return None
