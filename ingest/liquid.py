"""Liquid and kramdown markup of Jekyll / docs-as-code Markdown -> the text a reader would see.

We have no site data and no includes, so we keep what the author wrote and drop what a build
would compute: conditionals keep their first branch, `{% raw %}` keeps its text literally,
`{% data … %}` and other tags go, `{{ … }}` becomes nothing unless the page says what it is (its
front matter for `{{ page.x }}`, an `{% assign %}` or `{% capture %}` above, a `default:` literal).
An `{% include %}` goes too, but the text the author passed it stays: `{% include note.html
content="…" %}` is a callout (`> **Note:** …`), as Jekyll themes render it. Fenced code blocks are
left as written.

    render_liquid("{% ifversion fpt %}Free{% else %}Server{% endif %} plan.\\n{% data reusables.x %}\\n")
    # "Free plan.\\n"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Tags whose first branch is kept: the docs' default reading (GitHub Docs put the github.com text first).
CONDITIONALS = {"if", "ifversion", "ifnotversion", "unless", "case"}
BRANCHES = {"elsif", "else", "when"}
# Blocks whose body is computed from data we do not have (loops) or never shown (capture).
DROPPED_BLOCKS = {"for", "tablerow"}
# Callout blocks become admonitions, which the tier rules read (`> **Warning:** …`).
CALLOUTS = {
    "note": "Note", "tip": "Tip", "warning": "Warning", "danger": "Warning", "caution": "Caution",
    "important": "Important",
}  # fmt: skip
# GitHub Docs' platform / tool blocks: their label keeps three copies of the same steps apart.
LABELLED = {"mac": "Mac", "windows": "Windows", "linux": "Linux", "webui": "Web UI", "cli": "GitHub CLI",
            "desktop": "GitHub Desktop"}  # fmt: skip
# Tags that stand for whole blocks of text (reusables, includes): where they were, steps are missing.
CONTENT_TAGS = {"data", "include", "include_relative", "indented_data_reference", "render"}

_SCAN = re.compile(
    r"(?P<fence>^[ \t]*(?P<mark>`{3,}|~{3,})[^\n]*$)"
    r"|(?P<code>(?P<ticks>`+)(?!`)[^\n]*?(?<!`)(?P=ticks)(?!`))"  # inline code, kept as written
    r"|(?P<tag>\{%-?\s*(?P<name>\w+)(?P<args>.*?)-?%\})"
    r"|(?P<out>\{\{-?(?P<expr>.*?)-?\}\})",
    re.M | re.S,
)
_RAW_MARK = re.compile(r"^[ \t]*\{%-?\s*(?:end)?raw\s*-?%\}[ \t]*\n|\{%-?\s*(?:end)?raw\s*-?%\}", re.M)
_ARIA_LABEL = re.compile(r"""aria-label\s*=\s*(["'])(.*?)\1""")
_DROPPED = "\x02"  # where a tag was: spacing and empty lines are repaired around it
_GAP = "\x03"  # where a block of text (a reusable) was: a numbered list around it is renumbered
_SENTINELS = _DROPPED + _GAP
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_ORDERED = re.compile(r"^(\d+)([.)])([ \t]+)")
_EMPTY_ITEM = re.compile(r"^[ \t]*(?:>[ \t]*)*(?:[-*+]|\d+[.)])?[ \t]*$")  # also "> *", ">"
_QUOTE = re.compile(r"^[ \t]*>")
# What is left of a callout whose text was a reusable: "> **Note:**", "> [!WARNING]".
_BARE_LABEL = re.compile(r"^(?:\*\*[^*\n]{1,30}\*\*:?|\[![a-z]+\])$", re.I)
_EMPTY_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\(\s*\)")
# kramdown attribute lists: `{: .note }` on its own line, `{:toc}`, `## Heading {#id}`.
_IAL_LINE = re.compile(r"^[ \t]*\{:[^}\n]*\}[ \t]*$")
_IAL_TAIL = re.compile(r"[ \t]*\{(?::|#)[^}\n]*\}[ \t]*$")
_TOC_ITEM = re.compile(r"^[ \t]*(?:[-*+]|1\.)[ \t]+TOC[ \t]*$", re.I)
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]")
_HEADING_ID = re.compile(r"\{:?[ \t]*#([A-Za-z][\w:.-]*)[^}\n]*\}[ \t]*$")
MAX_INCLUDE_DEPTH = 3  # includes inside includes, as far as a site reasonably nests them
# `{% include callout.html type="warning" content="…" %}`: the parameters an author writes text in.
_PARAM = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_TEXT_PARAMS = ("title", "content", "text", "body", "message", "description")
_CALLOUT_INCLUDE = re.compile(r"\b(note|tip|warning|danger|caution|important|alert|callout|admonition)\b", re.I)
_DEFAULT = re.compile(r"""\bdefault\s*:\s*(?:"([^"]*)"|'([^']*)')""")
# `.warning` (Just the Docs), `.notice--warning` and a bare `.notice` (Minimal Mistakes).
_IAL_CALLOUT = re.compile(r"\.(?:notice--)?(note|tip|warning|danger|caution|important|info|success|notice)\b", re.I)
_IAL_LABELS = {"danger": "Warning", "info": "Note", "notice": "Note", "success": "Tip"}


@dataclass
class _Frame:
    name: str  # the block tag that opened it ("" for the document)
    keep: bool  # whether text here is shown (the parent's keep included)
    parent_keep: bool
    out: list[str] = field(default_factory=list)
    branches: int = 0
    indent: str = ""  # of the line the block tag stood on
    target: str = ""  # the variable a `{% capture %}` fills, the label of a `{% hint %}`


def render_liquid(
    text: str,
    page: Mapping[str, object] | None = None,
    site: Mapping[str, object] | None = None,
    includes: Path | None = None,
    *,
    include: Mapping[str, str] | None = None,
    depth: int = 0,
) -> str:
    """The reader's text of `text` (Liquid tags resolved as above); `page` is the front matter,
    `site` the Jekyll site's `_config.yml` and `_data/` (ingest/jekyll.py) when there is one, and
    `includes` its `_includes/` folder: a Markdown include there is read in place (`include` holds
    the parameters it was given, `depth` how many includes deep this is)."""
    if "{%" not in text and "{{" not in text:
        return text
    scope = {"page": page or {}, "site": site or {}, "include": include or {}, "_includes": includes, "_depth": depth}
    rendered = _tidy(_render(text, scope))
    # Blocks we make (callouts, labels) bring blank lines around them; the text's own ends stay.
    head = "\n" if text.startswith("\n") else ""
    tail = "\n" if text.endswith("\n") else ""
    return head + rendered.strip("\n") + tail if rendered.strip() else ""


def strip_kramdown(text: str) -> str:
    """Drop kramdown attribute lists; `{: .warning }` next to a paragraph makes it an admonition."""
    if "{:" not in text and "{#" not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    fence = ""
    label = ""  # callout waiting for the paragraph below
    quoting = False  # inside that paragraph
    for n, line in enumerate(lines):
        was_fenced = bool(fence)
        fence = _fence_state(line, fence)
        if was_fenced or fence:
            out.append(line)
            quoting = False
            continue
        if _IAL_LINE.match(line):
            if "toc" in line.casefold() and out and _TOC_ITEM.match(out[-1]):
                out.pop()  # "* TOC\n{:toc}" is where kramdown generates a table of contents
            found = _IAL_CALLOUT.search(line)
            below = n + 1 < len(lines) and bool(lines[n + 1].strip())
            kind = found.group(1).lower() if found else ""
            kind = _IAL_LABELS.get(kind, kind.capitalize())
            if found and below:  # an attribute line before a block styles that block
                label = kind
            elif found and out and out[-1].strip():  # ... and right after one, the block above
                _quote_last_paragraph(out, kind)
            continue
        heading_id = _HEADING_ID.search(line) if _ATX.match(line) else None
        line = _IAL_TAIL.sub("", line)
        if heading_id:  # `## Refunds {: #refunds}`: the chunker makes the id the section's anchor
            line = f"{line} {{#{heading_id.group(1)}}}"
        if label and line.strip():
            line, label, quoting = _admonition(label, line.strip()), "", True
        elif quoting and line.strip():
            line = f"> {line}"
        else:
            quoting = False
        out.append(line)
    return "\n".join(out)


def _quote_last_paragraph(out: list[str], label: str) -> None:
    start = len(out)
    while start > 0 and out[start - 1].strip():
        start -= 1
    out[start] = _admonition(label, out[start].strip())
    out[start + 1 :] = [f"> {line}" for line in out[start + 1 :]]


def _admonition(label: str, first_line: str) -> str:
    first_line = first_line.lstrip("> ")
    return f"> {first_line}" if first_line.startswith("**") else f"> **{label}:** {first_line}"


def _render(text: str, scope: Mapping[str, object]) -> str:
    stack = [_Frame("", keep=True, parent_keep=True)]
    names: dict[str, str] = {}  # what `{% assign %}` and `{% capture %}` set, in document order

    def emit(piece: str) -> None:
        if stack[-1].keep:
            stack[-1].out.append(piece)

    pos = 0
    while (match := _SCAN.search(text, pos)) is not None:
        emit(text[pos : match.start()])
        pos = match.end()
        if match.group("fence"):
            pos = _code_end(text, match)
            emit(_RAW_MARK.sub("", text[match.start() : pos]))  # raw marks never show, not even in code
        elif match.group("code"):
            emit(_RAW_MARK.sub("", match.group("code")))
        elif match.group("out") is not None:
            emit(_output(match.group("expr"), scope, names))
        else:
            line_start = text.rfind("\n", 0, match.start()) + 1
            before = text[line_start : match.start()]
            indent = before if not before.strip() else ""  # a callout inside a list item stays in it
            pos = _tag(match.group("name"), match.group("args").strip(), text, pos, stack, emit, indent, names, scope)
    emit(text[pos:])
    while len(stack) > 1:  # unclosed blocks end with the document
        _close(stack, names)
    return "".join(stack[0].out)


def _tag(
    name: str,
    args: str,
    text: str,
    pos: int,
    stack: list[_Frame],
    emit: Callable[[str], None],
    indent: str,
    names: dict[str, str],
    scope: Mapping[str, object],
) -> int:
    """Apply one `{% name args %}` tag that ended at `pos`; returns where scanning goes on."""
    top = stack[-1]
    if name in {"raw", "comment", "highlight"}:
        end = re.compile(r"\{%-?\s*end" + name + r"\s*-?%\}").search(text, pos)
        if end is None:  # Liquid refuses an unclosed block; drop only the tag
            emit(_DROPPED)
            return pos
        inner = text[pos : end.start()]
        if name == "raw":
            emit(inner)
        elif name == "highlight":
            lang = (args.split() or [""])[0]
            emit(f"\n\n```{lang}\n{inner.strip(chr(10))}\n```\n\n")
        else:
            emit(_DROPPED)
        return end.end()
    if name in CONDITIONALS:
        emit(_DROPPED)
        stack.append(_Frame(name, keep=top.keep and name != "case", parent_keep=top.keep))
    elif name in BRANCHES:
        emit(_DROPPED)
        if top.name in CONDITIONALS:
            top.branches += 1
            # `case` shows its first `when`; the others show their first branch only.
            top.keep = top.parent_keep and top.name == "case" and name == "when" and top.branches == 1
    elif name == "assign":
        target, _, value = args.partition("=")
        known = _value(value.split("|", 1)[0].strip(), scope, names)
        if top.keep and known is not None:
            names[target.strip()] = known
        emit(_DROPPED)
    elif name == "capture":
        emit(_DROPPED)
        stack.append(_Frame(name, keep=top.keep, parent_keep=top.keep, target=(args.split() or [""])[0]))
    elif name in {"include", "include_relative"}:
        emit((name == "include" and _include_file(args, scope)) or _include(args, indent) or _GAP)
    elif name == "hint":  # GitBook: {% hint style="warning" %} … {% endhint %}
        emit(_DROPPED)
        style = re.search(r"""style\s*=\s*["']?(\w+)""", args)
        kind = style.group(1).lower() if style else "info"
        label = CALLOUTS.get(kind) or {"info": "Note", "success": "Tip"}.get(kind, "Note")
        stack.append(_Frame(name, keep=top.keep, parent_keep=top.keep, indent=indent, target=label))
    elif name in DROPPED_BLOCKS or name in CALLOUTS or name in LABELLED:
        emit(_DROPPED)
        keep = top.keep and name not in DROPPED_BLOCKS
        stack.append(_Frame(name, keep=keep, parent_keep=top.keep, indent=indent))
    elif name.startswith("end") and any(f.name in _closed_by(name) for f in stack[1:]):
        while stack[-1].name not in _closed_by(name):  # an inner block left open ends here too
            _close(stack, names)
        _close(stack, names)
        emit(_DROPPED)
    elif name == "octicon":
        aria = _ARIA_LABEL.search(args)  # the icon's accessible name is what a reader "sees"
        emit(aria.group(2) if aria else _DROPPED)
    else:
        emit(_GAP if name in CONTENT_TAGS else _DROPPED)
    return pos


def _closed_by(end_tag: str) -> set[str]:
    return {"if", "ifversion", "ifnotversion"} if end_tag == "endif" else {end_tag[3:]}


def _close(stack: list[_Frame], names: dict[str, str]) -> None:
    frame = stack.pop()
    if not stack[-1].keep or frame.name in DROPPED_BLOCKS:
        return
    inner = "".join(frame.out)
    if frame.name == "capture":  # shown only where `{{ name }}` puts it
        names[frame.target] = inner.strip(_SENTINELS + " \t\n")
        return
    if frame.name in CALLOUTS or frame.name == "hint":
        inner = _callout(frame.target if frame.name == "hint" else CALLOUTS[frame.name], inner, frame.indent)
    elif frame.name in LABELLED and inner.strip(_SENTINELS + " \t\n"):
        inner = f"\n\n{frame.indent}**{LABELLED[frame.name]}:**\n\n{inner.strip(chr(10))}\n\n"
    stack[-1].out.append(inner)


def _callout(label: str, inner: str, indent: str) -> str:
    lines = [line.removeprefix(indent) for line in inner.strip("\n" + _SENTINELS + " \t").split("\n")]
    if not "".join(lines).strip(_SENTINELS + " \t"):
        return ""
    if not lines[0].startswith("**"):  # the text may carry its own "**Note:**"
        lines[0] = f"**{label}:** {lines[0]}"
    return "\n\n" + "\n".join(f"{indent}> {line}".rstrip() for line in lines) + "\n\n"


def _code_end(text: str, fence: re.Match[str]) -> int:
    """End of the fenced block opened by `fence` (the end of the text when it is never closed)."""
    mark = fence.group("mark")
    close = re.compile(rf"^[ \t]*{re.escape(mark[0])}{{{len(mark)},}}[ \t]*$", re.M)
    found = close.search(text, fence.end())
    return found.end() if found else len(text)


def _output(expr: str, scope: Mapping[str, object], names: Mapping[str, str]) -> str:
    """`{{ page.title }}` is the page's own front matter, `{{ site.x }}` the site's settings and data,
    `{{ plan }}` what the page assigned, `{{ "x" }}` itself; anything else is data we lack, shown as its
    `default:` when it has one."""
    name, _, filters = expr.partition("|")
    value = _value(name.strip(), scope, names)
    if value is not None:
        return value
    default = _DEFAULT.search(filters)
    return (default.group(1) if default.group(1) is not None else default.group(2)) if default else _GAP


def _value(name: str, scope: Mapping[str, object], names: Mapping[str, str]) -> str | None:
    """What `name` shows: an assigned variable, a literal, or a text or number under page./site."""
    if name in names:
        return names[name]
    literal = _literal(name)
    if literal is not None:
        return literal
    node: object = scope
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if (
        isinstance(node, (str, int, float))
        and not isinstance(node, bool)
        and name.startswith(("page.", "site.", "include."))
    ):
        return str(node)
    return None


def _literal(value: str) -> str | None:
    """A quoted string or a number as written; None for anything to compute."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value if re.fullmatch(r"-?\d+(?:\.\d+)?", value) else None


def _include_file(args: str, scope: Mapping[str, object]) -> str:
    """A Markdown file of the site's `_includes/` (a reusable set of steps), rendered in place."""
    folder, depth = scope.get("_includes"), scope.get("_depth")
    name = args.split(maxsplit=1)[0] if args else ""
    if not isinstance(folder, Path) or not isinstance(depth, int) or depth >= MAX_INCLUDE_DEPTH:
        return ""
    file = (folder / name).resolve()
    if file.suffix.lower() not in (".md", ".markdown") or folder.resolve() not in file.parents or not file.is_file():
        return ""
    params = _params(args)
    page, site = scope.get("page"), scope.get("site")
    text = render_liquid(
        file.read_text(encoding="utf-8-sig", errors="replace"),
        page if isinstance(page, Mapping) else None,
        site if isinstance(site, Mapping) else None,
        folder,
        include=params,
        depth=depth + 1,
    )
    return f"\n\n{text.strip()}\n\n" if text.strip() else ""


def _params(args: str) -> dict[str, str]:
    """An include's `key="value"` parameters (either quote)."""
    return {key: first or second for key, first, second in _PARAM.findall(args)}


def _include(args: str, indent: str) -> str:
    """The text an author passed to an include: a callout for a note/warning include, else a paragraph."""
    params = {key.lower(): value for key, value in _params(args).items()}
    parts = [params[key].strip() for key in _TEXT_PARAMS if params.get(key, "").strip()]
    if not parts:
        return ""
    body = " ".join(p if p[-1] in ".!?:" else f"{p}." for p in parts[:-1]) + (" " if len(parts) > 1 else "") + parts[-1]
    kind = _CALLOUT_INCLUDE.search(f"{params.get('type', '')} {args.split(maxsplit=1)[0] if args else ''}")
    if kind is None:
        return f"\n\n{indent}{body}\n\n"
    label = CALLOUTS.get(params.get("type", "").lower()) or CALLOUTS.get(kind.group(1).lower(), "Note")
    return _callout(label, body, indent)


def _tidy(text: str) -> str:
    """Remove what dropped tags left: empty lines and items, doubled spaces, `[text]()` links."""
    out: list[str] = []
    fence = ""
    for line in text.split("\n"):
        was_fenced = bool(fence)
        fence = _fence_state(line, fence)
        if was_fenced or fence:
            out.append(line)
            continue
        if not any(s in line for s in _SENTINELS):
            out.append(line)
            continue
        gap = _GAP in line
        cleaned = _repair_spacing(line)
        if not cleaned.strip() or _EMPTY_ITEM.match(cleaned):
            if gap:
                out.append(_GAP)  # a marker line for _renumber
            continue
        out.append(_EMPTY_LINK.sub(r"\1", cleaned))
    return _collapse_blank_lines(_renumber(_drop_empty_quotes(out)))


def _repair_spacing(line: str) -> str:
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    rest = line[len(indent) :].lstrip(_SENTINELS + " \t")
    rest = re.sub(rf"[ \t]*[{_SENTINELS}]+[ \t]*(?=[.,;:!?)\]]|$)", "", rest)

    def join(m: re.Match[str]) -> str:
        return " " if m.group(1) or m.group(2) else ""

    rest = re.sub(rf"([ \t]*)[{_SENTINELS}]+([ \t]*)", join, rest)
    return (indent + rest).rstrip()


def _drop_empty_quotes(lines: list[str]) -> list[str]:
    """Drop a blockquote left with nothing but its label once a reusable was taken out of it."""
    out: list[str] = []
    quote: list[str] = []
    for line in [*lines, ""]:
        if _QUOTE.match(line):
            quote.append(line)
            continue
        pieces = [p for p in (re.sub(r"^[ \t>]+", "", q).strip() for q in quote) if p]
        if not all(_BARE_LABEL.match(p) or _EMPTY_ITEM.match(p) for p in pieces):
            out.extend(quote)
        quote = []
        out.append(line)
    return out[:-1]


def _renumber(lines: list[str]) -> list[str]:
    """Number a top-level ordered list 1..n again when a reusable inside or just before it was dropped.

    GitHub Docs' first steps are often reusables ("1. Open Settings"); without them a list would
    start at 4, and a procedure that does not start at 1 reads as a fragment.
    """
    out: list[str] = []
    runs: list[list[int]] = []  # indexes in `out` of the items of lists to renumber
    items: list[int] = []
    gap = False  # a reusable was dropped since the last paragraph, or inside this list
    fence = ""

    def end_list() -> None:
        nonlocal items, gap
        if items and gap:
            runs.append(items)
        items, gap = [], False

    for n, line in enumerate(lines):
        was_fenced = bool(fence)
        fence = _fence_state(line, fence)
        if line == _GAP and not was_fenced:
            gap = True
        elif was_fenced or fence:
            if items and not was_fenced and not line.startswith((" ", "\t")):
                end_list()
            out.append(line)
        elif _ORDERED.match(line):
            items.append(len(out))
            out.append(line)
        elif items and (line.startswith((" ", "\t")) or (not line.strip() and _next_in_list(lines, n))):
            out.append(line)
        else:
            if items or line.strip():
                end_list()
            out.append(line)
    end_list()
    for run in runs:
        for number, i in enumerate(run, start=1):
            item = _ORDERED.match(out[i])
            assert item is not None
            out[i] = f"{number}{item.group(2)}{item.group(3)}{out[i][item.end() :]}"
    return out


def _next_in_list(lines: list[str], n: int) -> bool:
    nxt = next((x for x in lines[n + 1 :] if x.strip() and x != _GAP), "")
    return bool(_ORDERED.match(nxt)) or nxt.startswith((" ", "\t"))


def _collapse_blank_lines(lines: list[str]) -> str:
    out: list[str] = []
    fence = ""
    for line in lines:
        was_fenced = bool(fence)
        fence = _fence_state(line, fence)
        if not (was_fenced or fence) and not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return "\n".join(out)


def _fence_state(line: str, fence: str) -> str:
    """The open fence after `line` ("" outside code), given the one open before it."""
    match = _FENCE.match(line)
    if not match:
        return fence
    mark = match.group(1)
    if not fence:
        return mark
    if mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark) :].strip():
        return ""
    return fence
