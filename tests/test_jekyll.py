"""A Jekyll repository's own settings and data fill its pages' text and links."""

from __future__ import annotations

from pathlib import Path

from ingest.loaders import load_sources


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def make_site(root: Path, config: str) -> None:
    write(root / "_config.yml", config)
    write(root / "_data" / "plans" / "pro.yml", 'price: "$12"\nseats: 10\n')
    write(root / "_data" / "limits.json", '{"exports": {"rows": 50000}}')
    write(
        root / "docs" / "billing" / "refunds.md",
        "---\ntitle: Refunds at {{ site.title }}\n---\n"
        "{% assign price = site.data.plans.pro.price %}"
        "{{ site.title }} Pro costs {{ price }} a month for up to {{ site.data.plans.pro.seats }} seats; "
        "exports hold {{ site.data.limits.exports.rows }} rows.\n"
        "Write to {{ site.support_email }} within 14 days. See [billing]({{ site.baseurl }}/docs/billing/).\n",
    )
    write(root / "docs" / "invoices.md", "---\ntitle: Invoices\npermalink: /invoices/\n---\nIn Settings > Billing.\n")


def test_site_settings_and_data_fill_the_text_and_links(tmp_path: Path) -> None:
    config = 'title: Parcelly\nurl: "https://help.parcelly.example"\nbaseurl: /support\nsupport_email: a@b.example\n'
    make_site(tmp_path, config + "permalink: pretty\n")
    # Named by its docs folder, the site is still found (its _config.yml is one folder up).
    articles = {a.id: a for a in load_sources([tmp_path / "docs"]).articles}
    refunds = articles["refunds"]
    assert refunds.title == "Refunds at Parcelly"
    assert refunds.body == (
        "Parcelly Pro costs $12 a month for up to 10 seats; exports hold 50000 rows.\n"
        "Write to a@b.example within 14 days. See [billing](https://help.parcelly.example/support/docs/billing/)."
    )
    assert refunds.url == "https://help.parcelly.example/support/docs/billing/refunds/"  # pretty permalinks
    assert articles["invoices"].url == "https://help.parcelly.example/support/invoices/"  # its own permalink


def test_default_page_urls_and_a_site_without_a_url(tmp_path: Path) -> None:
    make_site(tmp_path / "a", 'title: Parcelly\nurl: "https://help.parcelly.example"\n')
    result = load_sources([tmp_path / "a"])
    assert result.errors == [] and result.warnings == []  # _data/ holds data, not articles
    articles = {a.id: a for a in result.articles}
    assert articles["refunds"].url == "https://help.parcelly.example/docs/billing/refunds.html"
    # Without `url` the text is still filled, and no relative path poses as a link.
    make_site(tmp_path / "b", "title: Parcelly\n")
    articles = {a.id: a for a in load_sources([tmp_path / "b"]).articles}
    assert articles["refunds"].url == "" and articles["refunds"].body.startswith("Parcelly Pro costs $12")
    assert articles["invoices"].url == "/invoices/"  # what the page itself says, as before


def test_a_broken_config_or_data_file_leaves_the_text_as_without_a_site(tmp_path: Path) -> None:
    make_site(tmp_path, "title: [unclosed\n")
    write(tmp_path / "_data" / "broken.yml", "a: [b\n")
    [refunds] = [a for a in load_sources([tmp_path]).articles if a.id == "refunds"]
    assert refunds.body.startswith("Pro costs a month for up to seats")


def test_a_markdown_include_of_the_site_is_read_in_place(tmp_path: Path) -> None:
    write(tmp_path / "_config.yml", "title: Parcelly\n")
    steps = "1. Open **Settings > Billing**.\n2. Click {{ include.button }}.\n"
    write(tmp_path / "_includes" / "steps" / "open-billing.md", steps)
    write(tmp_path / "_includes" / "loop.md", "Again: {% include loop.md %}")  # includes itself: stops
    write(
        tmp_path / "docs" / "refund.md",
        "---\ntitle: Refunds\n---\nTo ask for a refund:\n\n"
        '{% include steps/open-billing.md button="Request refund" %}\n\n'
        "{% include loop.md %}\n\n{% include ../_config.yml %}\n",
    )
    [article] = load_sources([tmp_path / "docs"]).articles
    assert article.body.startswith("To ask for a refund:\n\n1. Open **Settings > Billing**.\n2. Click Request refund.")
    assert article.body.count("Again:") == 3  # three includes deep, then no further
    assert "title: Parcelly" not in article.body  # nothing outside _includes/ is read
