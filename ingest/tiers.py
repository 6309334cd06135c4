"""Which tier a section of an article gets, and what kind of content it is.

The rules are a policy, written as tables and applied in this order (the first that matches wins):

1. the article's front matter `section_tiers` (any heading in the path, deepest first);
2. an admonition in the text (`> **Warning:**`, `> [!IMPORTANT]`, a paragraph that opens with
   `**Important:**` …): CRITICAL warning;
3. the section's headings (deepest first): requirements, policies, procedures, related links …;
4. the wording of the text ("must", "cannot be undone" …; a numbered list of steps);
5. the article's front matter `tier`;
6. MEDIUM.

Notes and tips (`> **Note:**`, `> [!TIP]`) do not raise a tier by themselves.

    tier, kind = section_tier(article, ["Before you start"], "You need the account e-mail.")
    # (Tier.CRITICAL, "requirements")
"""

from __future__ import annotations

import re
from typing import NamedTuple

from rag.models import Article, Tier

# 2. Admonitions that mark text as something the agent must not miss.
ADMONITIONS = re.compile(
    r"^[ \t]*(?:>[ \t]*)?(?:\*\*(?:warning|important|caution|danger)\b[^*\n]{0,3}\*\*"
    r"|\[!(?:warning|important|caution)\])",
    re.I | re.M,
)

# Verbs that open a task heading ("Reset your password", "Creating a team").
STEP_VERBS = (
    "reset", "create", "enable", "disable", "update", "delete", "remove", "add", "change",
    "set up", "configure", "install", "uninstall", "connect", "disconnect", "export", "import",
    "cancel", "download", "upload", "invite", "transfer", "restore", "recover", "turn on",
    "turn off", "publish", "unpublish", "deprecate", "revoke", "rotate", "edit", "manage",
    "generate", "upgrade", "downgrade", "request", "contact", "sign in", "sign up", "log in",
    "link", "unlink", "submit", "move", "rename", "renew", "pay", "switch", "archive", "share",
    "sync", "migrate", "troubleshoot", "fix", "resolve", "claim", "accept", "join", "leave",
    "use", "view", "find", "check", "test", "review", "verify", "email", "set", "sign out",
    "log out", "open", "close", "apply", "assign", "schedule", "restrict", "require",
)  # fmt: skip
_DOUBLED = {"reset", "set", "log", "submit", "cancel", "transfer"}  # resetting, setting up, logging in …


def _ing(verb: str) -> str:
    head, _, tail = verb.partition(" ")
    if head in _DOUBLED:
        head += head[-1]
    elif head.endswith("e") and not head.endswith("ee"):
        head = head[:-1]
    return f"{head}ing {tail}".strip()


_VERBS = "|".join(re.escape(v) for v in (*STEP_VERBS, *map(_ing, STEP_VERBS), "canceling"))

_APOS = "['\u2019]"  # "you'll" is often typed with a typographic apostrophe

# 3. Heading rules: (pattern on one heading, tier, kind).
HEADING_RULES: list[tuple[re.Pattern[str], Tier, str]] = [
    (re.compile(rf"\b(before you (start|begin)|requirements?|prerequisites?|what you{_APOS}?ll need"
                r"|what you need)\b", re.I), Tier.CRITICAL, "requirements"),
    (re.compile(r"\b(security|policy|policies|limits?|limitations?|restrictions?)\b", re.I),
     Tier.CRITICAL, "policy"),
    (re.compile(r"\b(warnings?|caution|important)\b", re.I), Tier.CRITICAL, "warning"),
    (re.compile(r"^(how to\b|steps?\b|step \d|\d+[.)]\s|procedure\b)", re.I), Tier.HIGH, "steps"),
    (re.compile(rf"^({_VERBS})\b", re.I), Tier.HIGH, "steps"),
    (re.compile(r"\b(related( articles?)?|see also|further reading|learn more|resources|next steps)\b",
                re.I), Tier.LOW, "related"),
    (re.compile(r"\bexamples?\b", re.I), Tier.LOW, "example"),
    (re.compile(r"\b(background|history|changes|changelog)\b", re.I), Tier.LOW, "explanation"),
]  # fmt: skip

# 4. Wording rules: (pattern on the text, tier, kind).
WORDING_RULES: list[tuple[re.Pattern[str], Tier, str]] = [
    (re.compile(rf"\b(cannot be undone|can{_APOS}t be undone|permanently|only once|never)\b", re.I),
     Tier.CRITICAL, "warning"),
    (re.compile(rf"\b(must|required|you will need|you{_APOS}ll need|verify|make sure)\b", re.I),
     Tier.CRITICAL, "requirements"),
    (re.compile(r"\b(security|policy)\b", re.I), Tier.CRITICAL, "policy"),
    # Two or more numbered items are a procedure.
    (re.compile(r"^[ \t]*1[.)][ \t].*\n(?:.*\n)*?[ \t]*2[.)][ \t]", re.M), Tier.HIGH, "steps"),
]  # fmt: skip

# When front matter sets the tier but no rule names the kind.
DEFAULT_KIND = {Tier.CRITICAL: "policy", Tier.HIGH: "steps", Tier.MEDIUM: "text", Tier.LOW: "text"}


class TierDecision(NamedTuple):
    tier: Tier
    kind: str
    reason: str  # which rule decided, for logs and tests


def section_tier(article: Article, heading_path: list[str], text: str) -> tuple[Tier, str]:
    """Tier and kind of one section (or a piece of one) of `article`."""
    decision = classify(article, heading_path, text)
    return decision.tier, decision.kind


def classify(article: Article, heading_path: list[str], text: str) -> TierDecision:
    """Like `section_tier`, with the rule that decided."""
    ruled = _by_rules(heading_path, text)
    forced = _front_matter_section(article, heading_path)
    if forced is not None:
        heading, tier = forced
        kind = ruled.kind if ruled is not None else DEFAULT_KIND[tier]
        return TierDecision(tier, kind, f"front matter section_tiers[{heading!r}]")
    if ruled is not None:
        return ruled
    if article.tier is not None:
        return TierDecision(article.tier, DEFAULT_KIND[article.tier], "front matter tier")
    return TierDecision(Tier.MEDIUM, "text", "default")


def _front_matter_section(article: Article, heading_path: list[str]) -> tuple[str, Tier] | None:
    wanted = {k.strip().casefold(): (k, v) for k, v in article.section_tiers.items()}
    for heading in reversed(heading_path):
        found = wanted.get(heading.strip().casefold())
        if found is not None:
            return found
    return None


def _by_rules(heading_path: list[str], text: str) -> TierDecision | None:
    by_heading = _by_heading(heading_path)
    if ADMONITIONS.search(text):
        # A warning inside "Requirements" is still a requirement: keep the heading's kind.
        critical = by_heading is not None and by_heading.tier is Tier.CRITICAL
        kind = by_heading.kind if by_heading is not None and critical else "warning"
        return TierDecision(Tier.CRITICAL, kind, "admonition")
    if by_heading is not None:
        return by_heading
    for pattern, tier, kind in WORDING_RULES:
        match = pattern.search(text)
        if match:
            return TierDecision(tier, kind, f"wording {match.group(0).splitlines()[0]!r}")
    return None


def _by_heading(heading_path: list[str]) -> TierDecision | None:
    for heading in reversed(heading_path):
        for pattern, tier, kind in HEADING_RULES:
            if pattern.search(heading):
                return TierDecision(tier, kind, f"heading {heading!r}")
    return None
