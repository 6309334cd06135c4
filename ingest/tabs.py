"""Tabbed instructions in HTML ("Desktop/Web | Android | iOS") as labelled blocks a reader can tell apart.

    label_tabs(root)   # in place, before chrome is stripped and the page becomes Markdown

Help centers put one procedure per platform or plan in tabs. As a page, only the first tab shows
and the others are hidden; the tab names sit in a navigation list. Read naively, the hidden steps
are lost (hidden elements are dropped as chrome) or, when kept, the steps of every platform run
together with nothing to say which is which. Here every panel stays, opened by its tab's name in
bold ("**Android:**"), and the list of tab names goes. Recognised: ARIA tabs (`role="tabpanel"`
labelled by its `role="tab"`), Bootstrap's `.tab-pane` named by the link that targets it, Zulip's
`data-tab-key` blocks named by the navigation item with the same key, and MkDocs Material's
`.tabbed-set` (labels and blocks in the same order).
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from bs4.element import Tag

# A panel that applies to everything needs no label (Zulip's "no-tabs" sections).
UNLABELLED = {"instructions for all platforms"}
_SPACES = re.compile(r"\s+")


def label_tabs(root: Tag) -> None:
    """Open every tab panel under `root` with its tab's name and drop the tab lists."""
    soup = _owner(root)
    for panel, label in [*_aria(root), *_bootstrap(root), *_data_keys(root), *_mkdocs(root)]:
        for attribute in ("hidden", "aria-hidden", "style", "role", "data-tab-key"):
            panel.attrs.pop(attribute, None)  # shown, and not found again by a second pass
        if label and label.casefold() not in UNLABELLED:
            head = soup.new_tag("p")
            strong = soup.new_tag("strong")
            strong.string = f"{label}:"
            head.append(strong)
            panel.insert(0, head)
    for tablist in root.select('[role="tablist"], ul.nav-tabs, .tabbed-labels'):
        tablist.decompose()


def _aria(root: Tag) -> list[tuple[Tag, str]]:
    found = []
    for panel in root.select('[role="tabpanel"]'):
        label = ""
        labelled_by = panel.get("aria-labelledby")
        if isinstance(labelled_by, str) and labelled_by:
            tab = root.find(id=labelled_by)
            label = _text(tab) if isinstance(tab, Tag) else ""
        if not label and isinstance(panel.get("id"), str):
            tab = root.select_one(f'[aria-controls="{panel["id"]}"]')
            label = _text(tab) if tab is not None else ""
        found.append((panel, label))
    return found


def _bootstrap(root: Tag) -> list[tuple[Tag, str]]:
    found = []
    for panel in root.select(".tab-pane"):
        if panel.get("role") == "tabpanel":
            continue  # labelled by its ARIA tab
        ident = panel.get("id")
        targets = f'[href="#{ident}"], [data-bs-target="#{ident}"], [data-target="#{ident}"]'
        tab = root.select_one(targets) if isinstance(ident, str) and ident else None
        found.append((panel, _text(tab) if tab is not None else ""))
    return found


def _data_keys(root: Tag) -> list[tuple[Tag, str]]:
    names = {str(li["data-tab-key"]): _text(li) for li in root.select("li[data-tab-key]")}
    found = [(block, names.get(str(block["data-tab-key"]), "")) for block in root.select("div[data-tab-key]")]
    for li in root.select("li[data-tab-key]"):
        nav = li.parent
        li.decompose()
        if isinstance(nav, Tag) and not _text(nav):
            nav.decompose()
    return found


def _mkdocs(root: Tag) -> list[tuple[Tag, str]]:
    found = []
    for tabbed in root.select(".tabbed-set"):
        labels = [_text(label) for label in tabbed.select(".tabbed-labels > label, :scope > label")]
        blocks = tabbed.select(".tabbed-content > .tabbed-block") or tabbed.select(":scope > .tabbed-content")
        found += [(block, labels[n] if n < len(labels) else "") for n, block in enumerate(blocks)]
        for control in tabbed.select(":scope > input, :scope > label"):
            control.decompose()
    return found


def _owner(root: Tag) -> BeautifulSoup:
    node: Tag = root
    while node.parent is not None:
        node = node.parent
    return node if isinstance(node, BeautifulSoup) else BeautifulSoup("", "html.parser")


def _text(tag: Tag) -> str:
    return _SPACES.sub(" ", tag.get_text(" ")).strip()
