"""Tabbed instructions keep every tab, each opened by its tab's name, in pages and Zendesk bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.html import html_to_markdown
from ingest.loaders import load_sources

ZULIP = (
    '<p>To change your name:</p><div class="tabbed-section has-tabs"><ul class="nav">'
    '<li data-tab-key="desktop-web" tabindex="0">Desktop/Web</li><li data-tab-key="mobile" tabindex="0">Mobile</li>'
    '</ul><div class="blocks"><div data-tab-key="desktop-web"><ol><li>Click the gear icon.</li>'
    '<li>Select Personal settings.</li></ol></div><div data-tab-key="mobile"><ol><li>Tap your avatar.</li></ol>'
    "</div></div></div>"
)
ARIA = (
    '<div role="tablist"><button role="tab" id="t1" aria-controls="p1">npm</button>'
    '<button role="tab" id="t2" aria-controls="p2">Yarn</button></div>'
    '<div role="tabpanel" id="p1" aria-labelledby="t1"><p>Run npm install.</p></div>'
    '<div role="tabpanel" id="p2" aria-labelledby="t2" hidden><p>Run yarn add.</p></div>'
)


@pytest.mark.parametrize(
    ("html", "markdown"),
    [
        (
            ZULIP,
            "To change your name:\n\n**Desktop/Web:**\n\n1. Click the gear icon.\n2. Select Personal settings.\n\n"
            "**Mobile:**\n\n1. Tap your avatar.",
        ),
        (  # a section for every platform needs no label
            '<div class="tabbed-section no-tabs"><ul class="nav"><li data-tab-key="instructions-for-all-platforms">'
            'Instructions for all platforms</li></ul><div class="blocks">'
            '<div data-tab-key="instructions-for-all-platforms">'
            "<p>Go to settings.</p></div></div></div>",
            "Go to settings.",
        ),
        (ARIA, "**npm:**\n\nRun npm install.\n\n**Yarn:**\n\nRun yarn add."),
        (  # Bootstrap: the inactive pane is hidden by style, named by the link that targets it
            '<ul class="nav nav-tabs"><li><a href="#ios">iOS</a></li><li><a href="#android">Android</a></li></ul>'
            '<div class="tab-content"><div class="tab-pane active" id="ios"><p>Open Settings.</p></div>'
            '<div class="tab-pane" id="android" style="display:none"><p>Open the menu.</p></div></div>',
            "**iOS:**\n\nOpen Settings.\n\n**Android:**\n\nOpen the menu.",
        ),
        (  # MkDocs Material: labels and blocks in the same order
            '<div class="tabbed-set"><input checked id="a1" type="radio"><input id="a2" type="radio">'
            '<div class="tabbed-labels"><label for="a1">Cloud</label><label for="a2">Self-hosted</label></div>'
            '<div class="tabbed-content"><div class="tabbed-block"><p>Go to Billing.</p></div>'
            '<div class="tabbed-block"><p>Edit the config.</p></div></div></div>',
            "**Cloud:**\n\nGo to Billing.\n\n**Self-hosted:**\n\nEdit the config.",
        ),
    ],
)
def test_every_tab_is_kept_and_named(html: str, markdown: str) -> None:
    assert html_to_markdown(html) == markdown


def test_a_crawled_page_keeps_its_hidden_tabs(tmp_path: Path) -> None:
    intro = "Install the package with the package manager your project already uses. " * 4
    page = f"<html><body><main><h1>Install</h1><p>{intro}</p>{ARIA}</main></body></html>"
    (tmp_path / "install.html").write_text(page, encoding="utf-8")
    [article] = load_sources([tmp_path]).articles
    assert article.body.endswith("**npm:**\n\nRun npm install.\n\n**Yarn:**\n\nRun yarn add.")


def test_a_zendesk_export_keeps_every_tab(tmp_path: Path) -> None:
    export = {"articles": [{"id": 7, "title": "Change your name", "body": ZULIP, "html_url": "https://h.example/7"}]}
    (tmp_path / "articles.json").write_text(json.dumps(export), encoding="utf-8")
    [article] = load_sources([tmp_path]).articles
    assert "**Mobile:**\n\n1. Tap your avatar." in article.body and "- Desktop/Web" not in article.body
