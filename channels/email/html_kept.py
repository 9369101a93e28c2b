"""What is kept of a message's HTML: the markup, sanitized, and its text as a reader reads it.

Both run only on HTML that :mod:`channels.email.html_guard` found within bounds.
nh3 sanitizes with its defaults, changed only where mail needs it (each change
says why beside it). inscriptis reads the text, with layout tables read in their
reading order and blocks ending lines as browsers end them.
"""

from __future__ import annotations

import copy
import re

import nh3
from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.html_properties import Display
from inscriptis.model.config import ParserConfig
from inscriptis.model.html_element import HtmlElement as Layout
from lxml.etree import ParserError, iterwalk
from lxml.html import HtmlElement, document_fromstring

# What nh3 keeps, changed from its defaults only where mail needs it (each change says why):
# - title: its text is the window title, never shown in a message; kept, it would open
#   every newsletter and report with a stray line.
CLEAN_CONTENT = frozenset(("script", "style", "title"))
# - cite (blockquote, q, del, ins): nh3 does not check its URL's scheme, so
#   cite="javascript:..." would be kept; it is never shown, so nothing is lost.
KEPT_ATTRIBUTES = {
    tag: {name for name in names if name != "cite"} for tag, names in nh3.ALLOWED_ATTRIBUTES.items()
}
# - cid: how a message's HTML shows its own inline parts (RFC 2392); kept on img src only
#   (see _url_filter), for a page showing it to point at the ticket's attachment of that
#   Content-ID (attachments.content_id).
URL_SCHEMES = frozenset(nh3.ALLOWED_URL_SCHEMES) | {"cid"}
URL_ATTRIBUTES = frozenset(("href", "src"))
# What a browser ignores of a URL before its scheme: C0 controls and spaces around it, tabs and
# newlines anywhere (WHATWG URL); nh3 reads it so too.
URL_IGNORED = re.compile(r"[\t\n\r]")
URL_EDGES = "".join(map(chr, range(0x21)))
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _url_filter(tag: str, attribute: str, value: str) -> str | None:
    """Past nh3's scheme check: ``cid:`` on an img's src only, and no relative URL.

    A relative URL in a message has no base of its own: wherever its HTML is shown it would
    point into that site (``<img src="/desk/...">`` would request a desk page as the viewer).
    """
    if attribute not in URL_ATTRIBUTES:
        return value
    scheme = URL_SCHEME.match(URL_IGNORED.sub("", value).strip(URL_EDGES))
    if scheme is None:
        return None
    if scheme.group().lower() == "cid:" and (tag, attribute) != ("img", "src"):
        return None
    return value


SANITIZER = nh3.Cleaner(
    clean_content_tags=set(CLEAN_CONTENT),
    attributes=KEPT_ATTRIBUTES,
    attribute_filter=_url_filter,
    url_schemes=set(URL_SCHEMES),
)


def sanitize(markup: str) -> str:
    """``markup`` with nothing that can run script or leave a relative URL; its text all kept."""
    return SANITIZER.clean(markup)


# Elements that end a line where they stand, in a table cell as anywhere.
LINE_BREAKS = frozenset(
    "address article aside blockquote br caption center dd details div dl dt fieldset figure footer "
    "form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table ul".split()
)
TABLE_PARTS = frozenset(("thead", "tbody", "tfoot"))
CELLS = frozenset(("td", "th"))
XML_DECLARATION = re.compile(r"^<\?xml [^>]+?\?>")


def text_of(markup: str) -> str:
    """The readable text of ``markup``, in the order it is read.

    inscriptis lays tables out as a grid, which is right for a table of data
    (each cell one line) but mixes the lines of a layout table's columns (a
    newsletter's two products, a footer's address beside its links) and pads
    them with runs of spaces. So a table with a cell of more than one line is
    read as blocks first, cell after cell, as a screen reader reads it.

    Its "strict" profile, as browsers show HTML: the default ("relaxed") puts a
    space between adjacent spans, splitting a word that Outlook wrote in two
    spans, and indents each nested div.
    """
    markup = XML_DECLARATION.sub("", markup.strip(), count=1)
    if not markup:
        return ""
    try:
        tree = document_fromstring(markup)
    except ParserError:  # nothing but comments or a stray declaration: inscriptis' own fallback
        tree = document_fromstring("<pre>" + markup + "</pre>")
    for table in [t for t in tree.iter("table") if _is_layout(t)]:
        _read_as_blocks(table)
    text = Inscriptis(tree, _config()).get_text()
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


# Blocks in every browser's default style sheet that inscriptis' profile leaves inline: their
# text would run into the next word ("<dt>Order</dt><dd>4471</dd>" read as "Order4471").
MORE_BLOCKS = {
    name: Layout(display=Display.block)
    for name in "caption center details dd dialog dl dt fieldset form hr legend menu search section "
    "summary".split()
}


def _config() -> ParserConfig:
    """A profile of its own for each document: inscriptis points the profile's shared body
    element at the document being read, so two threads reading at once could swap their text."""
    css = CSS_PROFILES["strict"] | MORE_BLOCKS
    css["body"] = copy.copy(css["body"])
    return ParserConfig(css=css)


def _own_rows(table: HtmlElement) -> list[HtmlElement]:
    """Its rows, directly or in its head, body and foot; a nested table's rows are that table's."""
    rows: list[HtmlElement] = []
    for child in table:
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in TABLE_PARTS:
            rows.extend(row for row in child if row.tag == "tr")
    return rows


def _own_cells(table: HtmlElement) -> list[HtmlElement]:
    return [cell for row in _own_rows(table) for cell in row if cell.tag in CELLS]


def _is_layout(table: HtmlElement) -> bool:
    """A cell shows more than one line of text, or holds a table: on screen its lines stand
    beside its neighbours' lines, and read across they mix."""
    return any(_more_than_a_line(cell) for cell in _own_cells(table))


def _more_than_a_line(cell: HtmlElement) -> bool:
    """Counts lines of text between line breaks. It stops at a nested table, so an element is
    looked at for its nearest table only: linear in the document."""
    lines = 0
    text = False  # since the last line break
    for event, element in iterwalk(cell, events=("start", "end")):
        tag = element.tag
        if event == "start" and tag == "table" and element is not cell:
            return True
        if tag in LINE_BREAKS and (event == "start" or tag != "br"):
            lines, text = lines + text, False
            if lines > 1:
                return True
        if event == "start" and isinstance(tag, str) and element.text and element.text.strip():
            text = True
        if event == "end" and element is not cell and element.tail and element.tail.strip():
            text = True
    return lines + text > 1


def _read_as_blocks(table: HtmlElement) -> None:
    """The table's own rows and cells (not a nested table's) become blocks, in document order."""
    for row in _own_rows(table):
        for cell in row:
            if cell.tag in CELLS:
                cell.tag = "div"
        row.tag = "div"
    for child in table:
        if child.tag in TABLE_PARTS or child.tag == "caption":
            child.tag = "div"
    table.tag = "div"
