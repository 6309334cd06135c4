"""Liquid / Jekyll Markdown: what a reader would see, and how a docs-as-code page loads."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ingest.chunking import chunk_article
from ingest.liquid import render_liquid, strip_kramdown
from ingest.loaders import load_sources
from rag.models import Tier


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def test_raw_keeps_its_text_literally() -> None:
    text = "Write {% raw %}{{ page.title }} and {% if user %}hi{% endif %}{% endraw %} in a template."
    assert render_liquid(text) == "Write {{ page.title }} and {% if user %}hi{% endif %} in a template."


def test_conditionals_keep_their_first_branch() -> None:
    text = (
        "{% if site.pro %}Pro plans{% elsif site.team %}Team plans{% else %}Free plans{% endif %} renew.\n"
        "{% ifversion fpt or ghec %}On GitHub.com{% ifversion fpt %}, free{% else %}, cloud{% endif %}."
        "{% else %}On your server.{% endif %}\n"
        "{% unless page.beta %}Generally available.{% else %}Beta.{% endunless %}\n"
        "{% case plan %}{% when 'pro' %}Pro.{% when 'team' %}Team.{% else %}Other.{% endcase %}\n"
    )
    assert render_liquid(text) == ("Pro plans renew.\nOn GitHub.com, free.\nGenerally available.\nPro.\n")


def test_tags_without_text_are_removed_cleanly() -> None:
    text = (
        "{% data reusables.ssh.about-ssh %} For more, see [About SSH]({% link about-ssh.md %}).\n"
        "Sign in to {% data variables.product.prodname_dotcom %}.\n"
        'Click {% octicon "gear" %} or {% include icon.html %} then **Save**.\n'
        "{% assign x = 1 %}{% some_plugin_tag arg=1 %}\n"
        "Last line."
    )
    assert render_liquid(text) == ("For more, see About SSH.\nSign in to.\nClick or then **Save**.\nLast line.")


def test_octicon_with_an_accessible_name_reads_as_that_name() -> None:
    text = 'Next to the key, click {% octicon "kebab-horizontal" aria-label="Key options" %}.'
    assert render_liquid(text) == "Next to the key, click Key options."


def test_output_tags_leave_no_braces() -> None:
    page = {"title": "Reset your password", "tags": ["a"]}
    text = (
        "# {{ page.title }}\n"
        "{{ site.data.variables.product.name | upcase }} sends {{ page.tags }} a link.\n"
        "{{- content -}}\n"
        "Done."
    )
    assert render_liquid(text, page) == "# Reset your password\nsends a link.\nDone."


def test_comments_go_with_their_content() -> None:
    text = "Before.\n{% comment %}\nTODO: {% data reusables.x %} rewrite\n{% endcomment %}\nAfter."
    assert render_liquid(text) == "Before.\nAfter."


def test_fenced_and_inline_code_are_left_as_written() -> None:
    text = (
        "Use `{{ site.url }}` here.\n\n"
        "```liquid\n"
        "{% raw %}\n"
        "{{ page.title }}\n"
        "{% endraw %}\n"
        "{% data reusables.kept %}\n"
        "\n\n\n"
        "{% if x %}kept{% endif %}\n"
        "```\n"
        "{% data reusables.gone %}\n"
        "~~~\n{{ also.kept }}\n~~~"
    )
    assert render_liquid(text) == (
        "Use `{{ site.url }}` here.\n\n"
        "```liquid\n{{ page.title }}\n{% data reusables.kept %}\n\n\n\n{% if x %}kept{% endif %}\n```\n"
        "~~~\n{{ also.kept }}\n~~~"
    )


def test_a_list_missing_its_reusable_steps_is_numbered_from_one() -> None:
    text = (
        "{% data reusables.user-settings.access_settings %}\n"
        "{% data reusables.user-settings.ssh %}\n"
        "1. Click **New SSH key**.\n"
        "1. Paste your key.\n"
        "   Indented detail.\n"
        "{% data reusables.user-settings.sudo-mode-popup %}\n"
        "1. Click **Add SSH key**.\n\n"
        "Authors' own numbering stays:\n\n"
        "3. Third.\n"
        "4. Fourth.\n"
    )
    assert render_liquid(text) == (
        "1. Click **New SSH key**.\n2. Paste your key.\n   Indented detail.\n3. Click **Add SSH key**.\n\n"
        "Authors' own numbering stays:\n\n3. Third.\n4. Fourth.\n"
    )


def test_list_items_made_only_of_reusables_disappear() -> None:
    text = "1. {% data reusables.open-settings %}\n2. Click **Billing**.\n3. Click **Download**.\n"
    assert render_liquid(text) == "1. Click **Billing**.\n2. Click **Download**.\n"


def test_callout_blocks_become_admonitions() -> None:
    text = (
        "{% note %}\n\nKeys expire after a year.\n\n{% endnote %}\n\n"
        "{% warning %}\n\n**Warning:** This cannot be undone.\n\n{% endwarning %}\n\n"
        "1. Open settings.\n"
        "   {% tip %}\n   Use the search box.\n   {% endtip %}\n"
        "2. Save."
    )
    assert render_liquid(text) == (
        "> **Note:** Keys expire after a year.\n\n"
        "> **Warning:** This cannot be undone.\n\n"
        "1. Open settings.\n\n   > **Tip:** Use the search box.\n\n2. Save."
    )


def test_a_callout_whose_text_was_a_reusable_is_dropped() -> None:
    text = (
        "Intro.\n\n> **Note:** {% data reusables.two_fa.unlink-email %}\n\n"
        "> [!WARNING]\n> {% data reusables.x %}\n\nEnd."
    )
    assert render_liquid(text) == "Intro.\n\nEnd."


def test_loops_and_captures_are_dropped_highlight_becomes_a_fence() -> None:
    text = (
        "Pages:\n{% for p in site.pages %}\n- [{{ p.title }}]({{ p.url }})\n{% endfor %}\n"
        "{% capture note %}hidden{% endcapture %}\n"
        "{% highlight ruby linenos %}\nputs {{ 1 }}\n{% endhighlight %}\n"
        "Platform steps:\n{% mac %}\n1. Open Terminal.\n{% endmac %}\n"
        "{% windows %}\n1. Open Git Bash.\n{% endwindows %}"
    )
    assert render_liquid(text) == (
        "Pages:\n\n```ruby\nputs {{ 1 }}\n```\n\nPlatform steps:\n\n"
        "**Mac:**\n\n1. Open Terminal.\n\n**Windows:**\n\n1. Open Git Bash."
    )


def test_unclosed_and_stray_tags_do_not_lose_text() -> None:
    assert render_liquid("{% endif %}Kept.{% if x %}Also kept.") == "Kept.Also kept."
    assert render_liquid("A {% raw %}B") == "A B"


def test_text_without_liquid_is_returned_as_is() -> None:
    text = "Plain  text\n\n\n\nwith odd   spacing {not liquid} and }} braces."
    assert render_liquid(text) is text


def test_kramdown_attribute_lists() -> None:
    text = (
        "* TOC\n{:toc}\n\n"
        "## Reset {#reset}\n{: .no_toc }\n\n"
        "{: .warning }\nThis deletes the account.\nIt cannot be undone.\n\n"
        "A normal paragraph.\n{: .note }\n\n"
        "```\n{: .kept-in-code }\n```"
    )
    assert strip_kramdown(text) == (
        "\n## Reset {#reset}\n\n"  # the heading's id stays: the chunker makes it the section's anchor
        "> **Warning:** This deletes the account.\n> It cannot be undone.\n\n"
        "> **Note:** A normal paragraph.\n\n"
        "```\n{: .kept-in-code }\n```"
    )


JEKYLL_PAGE = """\
---
layout: article
title: "Add an SSH key to {{ site.product }}"
permalink: /docs/ssh/add-key/
redirect_from:
  - /old/add-key/
intro: 'To use a new key, you {% data variables.must %} add it to your account.'
categories: security keys
tags: [ssh]
topics:
  - Authentication
  - SSH
last_modified_at: 2026-03-04
---
{% data reusables.ssh.about-ssh %} An SSH key lets you push without a password.

## Adding the key

{% data reusables.user-settings.access_settings %}
1. Click **New SSH key**.
1. Paste the key and click **Add SSH key**.

{% ifversion ghes %}
On a server, ask your administrator first.
{% else %}
On GitHub.com no approval is needed.
{% endif %}

## Further reading

- [AUTOTITLE](/old/about-ssh)
- [AUTOTITLE](/en/enterprise-cloud@latest/docs/ssh/add-key)
- [AUTOTITLE](/docs/unknown-page#part)
"""

ABOUT_PAGE = """\
---
title: About SSH
redirect_from: /old/about-ssh
---
SSH keys identify you to the server; each key is a pair of a private and a public key.
"""


def test_jekyll_page_loads_clean(tmp_path: Path) -> None:
    write(tmp_path / "content" / "ssh" / "add-key.md", JEKYLL_PAGE)
    write(tmp_path / "content" / "ssh" / "about-ssh.md", ABOUT_PAGE)
    result = load_sources([tmp_path / "content"])
    assert result.errors == [] and result.warnings == []
    by_id = {a.id: a for a in result.articles}
    article = by_id["add-key"]
    assert article.title == "Add an SSH key to"
    assert article.url == "/docs/ssh/add-key/"  # permalink, since there is no url
    assert article.tags == ["ssh", "security", "keys", "Authentication"]
    assert article.updated_at == "2026-03-04"
    # The intro is the lead paragraph, as the page shows it; no Liquid is left anywhere.
    assert article.body.startswith("To use a new key, you add it to your account.\n\nAn SSH key lets you")
    assert "{" not in article.body and "}" not in article.body
    assert "1. Click **New SSH key**.\n2. Paste the key" in article.body
    assert "On a server, ask your administrator first." in article.body
    assert "On GitHub.com" not in article.body
    # [AUTOTITLE] links get the linked page's title (found by redirect_from or permalink) or its slug.
    assert "- [About SSH](/old/about-ssh)" in article.body
    assert "- [Add an SSH key to](/en/enterprise-cloud@latest/docs/ssh/add-key)" in article.body
    assert "- [Unknown page](/docs/unknown-page#part)" in article.body
    chunks = chunk_article(article)
    steps = next(c for c in chunks if c.heading_path == "Adding the key")
    assert steps.tier is Tier.HIGH and steps.url == "/docs/ssh/add-key/#adding-the-key"


def test_intro_already_in_the_body_is_not_repeated(tmp_path: Path) -> None:
    page = "---\ntitle: T\ndescription: Invoices are sent monthly.\n---\n# T\n\nInvoices are sent monthly. More text.\n"
    write(tmp_path / "t.md", page)
    [article] = load_sources([tmp_path]).articles
    assert article.body == "Invoices are sent monthly. More text."


def test_unpublished_redirect_and_table_of_contents_pages_are_skipped_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "draft.md", "---\ntitle: Draft\npublished: false\n---\nNot yet.\n")
    write(tmp_path / "hugo-draft.md", "---\ntitle: Draft\ndraft: true\n---\nNot yet.\n")
    write(tmp_path / "moved.md", "---\ntitle: Moved\nredirect_to: https://example.com/new\n---\n")
    write(tmp_path / "stub.md", "---\ntitle: Stub\nlayout: redirect\n---\n")
    write(tmp_path / "ssh" / "index.md", "---\ntitle: SSH\nchildren:\n  - /about-ssh\n---\n")
    write(tmp_path / "billing" / "index.md", "---\ntitle: Billing\n---\nHow billing works for all plans.\n")
    write(tmp_path / "live.md", "---\ntitle: Live\npublished: true\n---\nPublished text.\n")
    with caplog.at_level(logging.WARNING):
        result = load_sources([tmp_path])
    assert result.errors == [] and result.warnings == [] and caplog.records == []
    assert result.files == 7
    # A folder's index page is named after its folder, so index pages never collide.
    assert sorted(a.id for a in result.articles) == ["billing", "live"]


def test_a_heading_id_in_any_kramdown_form_is_kept_for_the_chunker() -> None:
    assert strip_kramdown("## Refunds {: #refunds .note}\ntext {: .x}") == "## Refunds {#refunds}\ntext"
    assert strip_kramdown("## Plain {: .no_toc }") == "## Plain"


def test_text_passed_to_an_include_stays_and_a_note_include_is_a_callout() -> None:
    text = (
        'Intro.\n\n{% include note.html content="You must be an **owner** to do this." %}\n\n'
        '{% include callout.html type="warning" title="Heads up" content=\'Deleting is permanent.\' %}\n\n'
        '{% include figure.html caption="ignored" %}{% include footer.html %}\n\n'
        '{% include card.html text="Plans start at $7 a month" %}\n'
    )
    assert render_liquid(text) == (
        "Intro.\n\n> **Note:** You must be an **owner** to do this.\n\n"
        "> **Warning:** Heads up. Deleting is permanent.\n\nPlans start at $7 a month\n"
    )


def test_assigned_and_captured_values_and_defaults_are_what_the_reader_sees() -> None:
    text = (
        '{% assign plan = "Pro" %}{% capture where %}Settings > Billing{% endcapture %}'
        "Upgrade to {{ plan }} in {{ where }}. It costs {{ site.data.price | default: '$10' }} a month, "
        "{{ site.data.unknown }}not {{ 12 }}."
    )
    assert render_liquid(text) == "Upgrade to Pro in Settings > Billing. It costs $10 a month, not 12."


def test_minimal_mistakes_notices_and_gitbook_hints_are_callouts() -> None:
    assert strip_kramdown("Deleting is permanent.\n{: .notice--warning}\n\nPlain.\n{: .notice}") == (
        "> **Warning:** Deleting is permanent.\n\n> **Note:** Plain."
    )
    assert render_liquid('{% hint style="warning" %}\nBack up first.\n{% endhint %}\n\nText.') == (
        "> **Warning:** Back up first.\n\nText."
    )
    assert render_liquid('{% hint style="success" %}\nDone.\n{% endhint %}') == "> **Tip:** Done."
