"""Bounding hostile HTML before the sanitizer, and reading text out of it in linear time.

nh3 (html5ever) takes time that grows with the square of the nesting depth:
half a megabyte of unclosed ``<div>`` kept a worker busy for seconds. So a
message's HTML is first measured here by a tag scan whose cost is one pass
over the string; past the configured depth or element count it is not
sanitized at all, and its text is taken out by :func:`strip_tags`, which is
linear too. Every pattern below stops at the next ``<`` so no match can
rescan the rest of the string (``<[^>]*>`` would, on ``<<<<...``).
"""

from __future__ import annotations

import html
import re
from collections import Counter

TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*+)([^<>]*+)>")  # possessive: no backtracking
# Elements that never have content, so never add depth.
VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
    + "basefont bgsound frame keygen".split()
)
# Elements whose end tag may be left out: a second one closes the first (``<p>a<p>b``, ``<li>``).
SELF_CLOSING_SIBLINGS = frozenset("p li dt dd tr td th option optgroup rb rt rp tbody thead tfoot".split())
BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt fieldset figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table td th tr ul".split()
)
HIDDEN = re.compile(r"<(script|style|title)\b[^<>]*+>", re.IGNORECASE)


def excess(markup: str, *, max_depth: int, max_elements: int) -> str | None:
    """Why ``markup`` is too much to sanitize (depth or element count), or None when it is fine.

    The depth is counted the way a browser would build the tree, roughly: void
    elements and ``<x/>`` add nothing, an end tag closes up to its start tag,
    a stray end tag is ignored and a repeated ``<p>``/``<li>``/``<td>``/``<tr>``
    closes its open sibling. Where that guess is wrong it counts too deep (a
    ``<div>`` closes an open ``<p>`` in a browser, not here), never too shallow.
    """
    stack: list[str] = []
    open_names: Counter[str] = Counter()
    deepest = elements = 0
    for match in TAG.finditer(markup):
        closing, name, rest = match.group(1), match.group(2).lower(), match.group(3)
        if closing:
            if open_names[name]:
                while stack:  # each element is pushed once and popped once: linear overall
                    popped = stack.pop()
                    open_names[popped] -= 1
                    if popped == name:
                        break
            continue
        elements += 1
        if elements > max_elements:
            return f"HTML has more than {max_elements} elements"
        if name in VOID or rest.rstrip().endswith("/"):
            continue
        if name in SELF_CLOSING_SIBLINGS and open_names[name]:
            _close_implied(stack, open_names, name)
        stack.append(name)
        open_names[name] += 1
        deepest = max(deepest, len(stack))
        if deepest > max_depth:
            return f"HTML nested deeper than {max_depth} elements"
    return None


def _close_implied(stack: list[str], open_names: Counter[str], name: str) -> None:
    """``<td>`` after ``<td>x`` (or ``<tr>`` after ``<tr><td>x``) closes the open one, as browsers do.

    Only elements whose end tag may be left out are passed over, so a ``<td>``
    inside a ``<div>`` inside a ``<td>`` nests. The walk is bounded by the
    depth limit, since the stack never grows past it.
    """
    for index in range(len(stack) - 1, -1, -1):
        if stack[index] == name:
            for popped in stack[index:]:
                open_names[popped] -= 1
            del stack[index:]
            return
        if stack[index] not in SELF_CLOSING_SIBLINGS:
            return


def strip_tags(markup: str) -> str:
    """Readable text of ``markup`` without building a tree: one pass, whatever the nesting."""
    visible = _drop_comments(markup)
    visible = _drop_hidden(visible)
    text = TAG.sub(lambda m: "\n" if m.group(2).lower() in BLOCKS else "", visible)
    text = html.unescape(text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _drop_comments(markup: str) -> str:
    """``<!-- ... -->`` out; an unterminated comment runs to the end, as in a browser."""
    parts: list[str] = []
    position = 0
    while True:
        start = markup.find("<!--", position)
        if start < 0:
            parts.append(markup[position:])
            break
        parts.append(markup[position:start])
        end = markup.find("-->", start + 4)
        if end < 0:
            break
        position = end + 3
    return "".join(parts)


def _drop_hidden(markup: str) -> str:
    """Script, style and title content out; each is searched for its end tag once."""
    parts: list[str] = []
    position = 0
    while True:
        start = HIDDEN.search(markup, position)
        if start is None:
            parts.append(markup[position:])
            break
        parts.append(markup[position : start.start()])
        name = start.group(1)
        end = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(markup, start.end())
        if end is None:
            break
        position = end.end()
    return "".join(parts)
