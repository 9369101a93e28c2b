"""Bounding hostile HTML before the sanitizer, and reading text out of it in linear time.

nh3 (html5ever) takes time that grows with the square of the nesting depth:
half a megabyte of unclosed ``<div>`` kept a worker busy for seconds. So a
message's HTML is first measured here, and past the configured depth or
element count it is not sanitized at all; its text is taken out by
:func:`strip_tags`, which is linear too.

The measure follows html5ever's tokenizer where an attacker could make a
simpler reading count too little: an attribute value may hold ``<`` and
``>`` (``<div a="<>">``, ``<div a=<>``), ``<div/>`` nests (the slash counts
only on void elements and in svg/math), comments, ``<!...>`` and ``<?...>``
run to their own ends, and script/style/textarea and their kind hold text.
Every ``<`` followed by a letter counts as an element whatever the reading,
so the element bound holds even where this guess of the tree is wrong.
Each pattern below consumes what it matches and is never tried twice at one
place (possessive quantifiers), so the scan is one pass over the string.
"""

from __future__ import annotations

import html
import re
from collections import Counter

SPACE = "\t\n\f\r "
ELEMENT_START = re.compile(r"<[A-Za-z]")
TAG_NAME = re.compile(rf"[^{SPACE}/>]*+")
# Attributes up to the tag's end, as html5ever reads them: a quoted value may hold < and >, an
# unquoted one ends at a space or >; group 1 is a "/" right before the closing ">".
ATTRIBUTES = re.compile(
    rf"""(?:[{SPACE}]++|/(?!>)|[^{SPACE}/>][^{SPACE}/>=]*+"""
    rf"""(?:[{SPACE}]*+=[{SPACE}]*+(?:"[^"]*+"|'[^']*+'|[^{SPACE}>]++)?)?)*+(/?)>?"""
)
COMMENT_END = re.compile(r"--!?>")
NONSPACE = re.compile(rf"[^{SPACE}]")
TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*+)([^<>]*+)>")  # for strip_tags: possessive, no backtracking
# Elements that never have content, so never add depth.
VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
    + "basefont bgsound frame keygen".split()
)
# Elements whose end tag may be left out: a second one closes the first (``<p>a<p>b``, ``<li>``).
SELF_CLOSING_SIBLINGS = frozenset("p li dt dd tr td th option optgroup rb rt rp tbody thead tfoot".split())
# Their content is text up to their end tag (in HTML; in svg/math it is markup).
RAW_TEXT = frozenset("script style xmp iframe noembed noframes noscript textarea title".split())
# Closed implicitly, these are reopened by the next content (html5ever's "reconstruct the
# active formatting elements"): each reopening is a new element and a level deeper.
FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
FOREIGN_ROOTS = frozenset(("svg", "math"))
# Inside these, svg/math content is HTML again; these HTML elements break out of svg/math.
INTEGRATION_POINTS = frozenset("foreignobject desc title mi mo mn ms mtext annotation-xml".split())
BREAKOUT = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li "
    "listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var".split()
)
BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt fieldset figure footer form h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table td th tr ul".split()
)
HIDDEN = re.compile(r"<(script|style|title)\b[^<>]*+>", re.IGNORECASE)


class TooMuch(Exception):
    """Raised inside the scan with the reason; :func:`excess` returns the reason."""


def excess(markup: str, *, max_depth: int, max_elements: int) -> str | None:
    """Why ``markup`` is too much to sanitize (depth or element count), or None when it is fine.

    The depth is counted the way html5ever builds the tree, roughly: void
    elements add nothing, an end tag closes up to its start tag, a stray end
    tag is ignored, a repeated ``<p>``/``<li>``/``<td>``/``<tr>`` closes its
    open sibling, and formatting elements closed by another's end tag are
    reopened by what follows. Where that guess is wrong it counts too deep (a
    ``<div>`` closes an open ``<p>`` in a browser, not here), never too shallow.
    """
    try:
        _Scan(markup, max_depth, max_elements).run()
    except TooMuch as reason:
        return str(reason)
    return None


class _Scan:
    """One pass of html5ever's tokenizer states over ``markup``, keeping a guess of its open elements."""

    def __init__(self, markup: str, max_depth: int, max_elements: int) -> None:
        self.markup = markup
        self.max_depth = max_depth
        self.max_elements = max_elements
        # Every "<" + letter, wherever it stands (quoted, commented): an upper bound on start tags.
        self.elements = len(ELEMENT_START.findall(markup))
        self._check_elements()
        self.stack: list[tuple[str, str, bool]] = []  # name, formatting key, foreign (svg/math)
        self.open_names: Counter[str] = Counter()
        self.pending: list[tuple[str, str]] = []  # formatting elements closed implicitly: name, key
        self.pending_keys: Counter[str] = Counter()
        self.pending_names: Counter[str] = Counter()

    def _check_elements(self) -> None:
        if self.elements > self.max_elements:
            raise TooMuch(f"HTML has more than {self.max_elements} elements")

    def run(self) -> None:
        markup, position = self.markup, 0
        while True:
            lt = markup.find("<", position)
            if self.pending and NONSPACE.search(markup, position, len(markup) if lt < 0 else lt):
                self._reopen()
            if lt < 0:
                return
            after = markup[lt + 1 : lt + 2]
            if after.isascii() and after.isalpha():
                end = self._start_tag(lt + 1)
            elif after == "/":
                end = self._end_tag(lt + 2)
            elif after == "!":
                end = self._declaration(lt + 2)
            elif after == "?":
                end = self._to_gt(lt + 2)
            else:  # a "<" of text
                if self.pending:
                    self._reopen()
                end = lt + 1
            if end < 0:  # the rest is a comment, an unfinished tag or text
                return
            position = end

    def _start_tag(self, at: int) -> int:
        markup = self.markup
        name_match = TAG_NAME.match(markup, at)
        assert name_match is not None  # both patterns match the empty string: they never fail
        name = name_match.group().lower()
        attributes = ATTRIBUTES.match(markup, name_match.end())
        assert attributes is not None
        end = attributes.end()
        parent_foreign = bool(self.stack) and self.stack[-1][2]
        foreign = name in FOREIGN_ROOTS or (
            parent_foreign and self.stack[-1][0] not in INTEGRATION_POINTS and name not in BREAKOUT
        )
        if (name in VOID and not foreign) or (foreign and attributes.group(1)):
            if self.pending:
                self._reopen()
            return end  # no content: no depth (html5ever ignores "/>" on other HTML elements)
        if name in SELF_CLOSING_SIBLINGS and self.open_names[name] and not foreign:
            self._close_implied(name)
        key = f"{name}{attributes.group()}" if name in FORMATTING and not foreign else ""
        self._push(name, key, foreign)
        if self.pending:
            self._reopen()  # after the element: its text would reopen them inside it
        if foreign or name not in RAW_TEXT:
            return end
        closing = re.compile(rf"</{re.escape(name)}[{SPACE}/>]", re.IGNORECASE).search(markup, end)
        return closing.start() if closing else -1

    def _end_tag(self, at: int) -> int:
        markup = self.markup
        after = markup[at : at + 1]
        if after == ">":
            return at + 1  # "</>" is nothing
        if not (after.isascii() and after.isalpha()):
            return self._to_gt(at) if after else -1  # a bogus comment; "</" at the end is text
        name_match = TAG_NAME.match(markup, at)
        assert name_match is not None  # matches the empty string: never fails
        name = name_match.group().lower()
        attributes = ATTRIBUTES.match(markup, name_match.end())  # quotes hide ">" here too
        assert attributes is not None
        end = attributes.end()
        if self.open_names[name]:
            while self.stack:  # each element is pushed once and popped once: linear overall
                popped, key, _ = self.stack.pop()
                self.open_names[popped] -= 1
                if popped == name:
                    break
                if key and self.pending_keys[key] < 3:  # html5ever keeps three alike at most
                    self.pending.append((popped, key))
                    self.pending_keys[key] += 1
                    self.pending_names[popped] += 1
        elif self.pending_names[name]:  # an explicit end of a formatting element closed earlier
            index = max(i for i, (pending, _) in enumerate(self.pending) if pending == name)
            _, key = self.pending.pop(index)
            self.pending_keys[key] -= 1
            self.pending_names[name] -= 1
        return end

    def _declaration(self, at: int) -> int:
        markup = self.markup
        if markup.startswith("--", at):  # a comment, ended by "-->" or "--!>" ("<!-->" too)
            body = at + 2
            if markup.startswith(">", body):
                return body + 1
            if markup.startswith("->", body):
                return body + 2
            found = COMMENT_END.search(markup, body)
            return found.end() if found else -1
        if self.stack and self.stack[-1][2] and markup.startswith("[CDATA[", at):
            close = markup.find("]]>", at + 7)
            return close + 3 if close >= 0 else -1
        return self._to_gt(at)  # doctype or bogus comment: the first ">" ends it

    def _to_gt(self, at: int) -> int:
        gt = self.markup.find(">", at)
        return gt + 1 if gt >= 0 else -1

    def _push(self, name: str, key: str, foreign: bool) -> None:
        self.stack.append((name, key, foreign))
        self.open_names[name] += 1
        if len(self.stack) > self.max_depth:
            raise TooMuch(f"HTML nested deeper than {self.max_depth} elements")

    def _reopen(self) -> None:
        """Formatting elements closed implicitly come back as new elements, one level each."""
        reopened, self.pending = self.pending, []
        self.pending_keys.clear()
        self.pending_names.clear()
        self.elements += len(reopened)
        self._check_elements()
        for name, key in reopened:
            self._push(name, key, False)

    def _close_implied(self, name: str) -> None:
        """``<td>`` after ``<td>x`` (or ``<tr>`` after ``<tr><td>x``) closes the open one, as browsers do.

        Only elements whose end tag may be left out are passed over, so a ``<td>``
        inside a ``<div>`` inside a ``<td>`` nests. The walk is bounded by the
        depth limit, since the stack never grows past it.
        """
        stack = self.stack
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == name:
                for popped, _, _ in stack[index:]:
                    self.open_names[popped] -= 1
                del stack[index:]
                return
            if stack[index][0] not in SELF_CLOSING_SIBLINGS:
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
