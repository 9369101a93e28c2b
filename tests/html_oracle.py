"""A reading of HTML mail of its own, to judge what the email channel keeps of it.

Nothing here uses the channel's parsers (mail-parser, lxml, inscriptis, nh3): the
MIME structure is read with the standard library, and every tree is built by
html5lib, which follows the WHATWG parsing algorithm as browsers do.

- :func:`visible_text`: the text a mail client shows: no head, script, style or
  comment (so no Outlook-only ``<!--[if mso]>`` block), nothing ``display:none``;
  line breaks where blocks, cells and ``<br>`` end.
- :func:`dangers`: every element, attribute, URL or style that could run script,
  as four browsers' parses would see it (document and fragment, scripting on and
  off: ``<noscript>`` reads differently) and again after a round trip through a
  serializer, where mutation XSS would show.
"""

from __future__ import annotations

import difflib
import email
import re
import unicodedata
from collections.abc import Iterator
from email import policy
from email.message import Message
from urllib.parse import unquote
from xml.etree.ElementTree import Element

import html5lib

SVG = "{http://www.w3.org/2000/svg}"
# Not shown by any browser: the page's head, what runs or styles, the fallback content of
# embedded things that browsers do show (iframe, audio, video), and svg's own metadata.
HIDDEN = frozenset(
    "head title script style template iframe noembed noframes audio video datalist param".split()
    + [f"{SVG}{name}" for name in "title desc style script defs metadata".split()]
)
# Where a browser starts a new line (its default style sheet's blocks, table parts, <br>).
BLOCKS = frozenset(
    "address article aside blockquote br caption center dd details dialog div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html body legend li main "
    "menu nav ol p pre search section summary table tbody td tfoot th thead tr ul".split()
)
DISPLAY_NONE = re.compile(r"(?:^|;)\s*display\s*:\s*none\b", re.IGNORECASE)

# Elements that can hold no script, load nothing active and submit nothing.
INERT_ELEMENTS = frozenset(
    "html head body a abbr acronym area article aside b bdi bdo blockquote br caption center cite "
    "code col colgroup data dd del details dfn div dl dt em figcaption figure footer h1 h2 h3 h4 "
    "h5 h6 header hgroup hr i img ins kbd li map mark nav ol p pre q rp rt rtc ruby s samp small "
    "span strike strong sub summary sup table tbody td tfoot th thead time tr tt u ul var wbr".split()
)
# Attributes that hold a URL somewhere in some browser (a fetch, a navigation, a submission).
URL_ATTRIBUTES = frozenset(
    "action archive background cite classid code codebase content data dynsrc formaction href "
    "icon longdesc lowsrc manifest ping poster profile src srcset usemap".split()
)
# Attributes that are markup or script in themselves.
ACTIVE_ATTRIBUTES = frozenset(("srcdoc", "http-equiv", "formaction", "action"))
# URL schemes that name no script: the web, mail, phone and the like, and a message's own parts.
INERT_SCHEMES = frozenset(
    "bitcoin cid ftp ftps geo http https im irc ircs magnet mailto mms mx news nntp openpgp4fpr "
    "sip sms smsto ssh tel url webcal wtai xmpp".split()
)
# What the WHATWG URL parser drops before reading a scheme: C0 controls and spaces around the
# URL, and tabs and newlines anywhere in it.
URL_EDGES = "".join(map(chr, range(0x21)))
URL_NEWLINES = re.compile(r"[\t\n\r]")
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)")
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
CSS_ACTIVE = re.compile(r"expression|url\s*\(|@import|behavior|binding|javascript|vbscript", re.I)


def parse(markup: str, *, scripting: bool = False) -> Element:
    """The whole document, as a browser builds it (HTML elements without a namespace)."""
    parser = html5lib.HTMLParser(namespaceHTMLElements=False)
    return parser.parse(markup, scripting=scripting)


def parse_fragment(markup: str, *, scripting: bool = False) -> Element:
    """``markup`` as ``innerHTML`` of a ``<div>``, as a page that shows it would insert it."""
    parser = html5lib.HTMLParser(namespaceHTMLElements=False)
    return parser.parseFragment(markup, container="div", scripting=scripting)


def visible_text(markup: str) -> str:
    parts: list[str] = []

    def walk(element: Element) -> None:
        tag = element.tag
        hidden = (
            not isinstance(tag, str)  # a comment: its text is hidden, not what follows it
            or tag in HIDDEN
            or "hidden" in element.attrib
            or bool(DISPLAY_NONE.search(element.attrib.get("style", "")))
        )
        block = isinstance(tag, str) and tag in BLOCKS
        parts.append("\n" if block else "")
        if not hidden:
            parts.append(element.text or "")
            for child in element:
                walk(child)
        parts.append("\n" if block else "")
        parts.append(element.tail or "")

    walk(parse(markup))
    return "".join(parts)


def words(text: str) -> list[str]:
    """Words as a reader compares them: case, width and invisible characters (soft hyphens,
    zero-width joiners) set aside; punctuation and layout are not words."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return re.findall(r"\w+", text)


def differences(expected: list[str], got: list[str]) -> list[tuple[str, list[str], list[str]]]:
    """The edits from ``expected`` to ``got``: what was dropped, replaced or added, with context."""
    matcher = difflib.SequenceMatcher(a=expected, b=got, autojunk=False)
    return [
        (op, expected[a1:a2], got[b1:b2]) for op, a1, a2, b1, b2 in matcher.get_opcodes() if op != "equal"
    ]


def missing(expected: list[str], got: list[str]) -> list[tuple[str, list[str], list[str]]]:
    """The edits that drop or change a word of ``expected`` (added words are not counted)."""
    return [edit for edit in differences(expected, got) if edit[0] != "insert"]


def pre_texts(markup: str) -> list[str]:
    """The text of each ``<pre>``, whitespace and all."""
    return ["".join(pre.itertext()) for pre in parse(markup).iter("pre")]


def cid_of(url: str) -> str | None:
    """The Content-ID a ``cid:`` URL names (RFC 2392: percent-encoded), else None."""
    url = URL_NEWLINES.sub("", url).strip(URL_EDGES)
    return unquote(url[4:]) if url[:4].lower() == "cid:" else None


def cid_sources(markup: str) -> list[str]:
    """The Content-IDs an HTML part's images name, in order."""
    found = (cid_of(img.attrib.get("src", "")) for img in parse(markup).iter("img"))
    return [content_id for content_id in found if content_id is not None]


def url_scheme(value: str) -> str | None:
    """The scheme a browser reads from an attribute value (entities are already decoded)."""
    found = SCHEME.match(URL_NEWLINES.sub("", value).strip(URL_EDGES))
    return found.group(1).lower() if found else None


def _css(value: str) -> str:
    unescaped = CSS_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2), value)
    return CSS_COMMENT.sub("", unescaped)


def _element_dangers(element: Element) -> Iterator[str]:
    tag = element.tag
    if not isinstance(tag, str) or tag == "DOCUMENT_FRAGMENT":
        return
    if tag not in INERT_ELEMENTS:
        yield f"element <{tag}>"
    for name, value in element.attrib.items():
        local = name.rsplit("}", 1)[-1].lower()
        if "}" in name or ":" in name:
            yield f"<{tag}> namespaced attribute {name}"
        if local.startswith("on"):
            yield f"<{tag}> event attribute {local}"
        if local in ACTIVE_ATTRIBUTES:
            yield f"<{tag}> active attribute {local}"
        if local == "style" and CSS_ACTIVE.search(_css(value)):
            yield f"<{tag}> style {value!r}"
        if local in URL_ATTRIBUTES:
            candidates = [c.strip().split(" ")[0] for c in value.split(",")] if local == "srcset" else [value]
            for candidate in candidates:
                scheme = url_scheme(candidate)
                if scheme is not None and scheme not in INERT_SCHEMES:
                    yield f"<{tag} {local}> URL scheme {scheme!r}"
                if scheme == "cid" and (tag, local) != ("img", "src"):
                    yield f"<{tag} {local}> cid: URL outside an image"


def dangers(markup: str) -> list[str]:
    """What in ``markup`` could run script, as any of several parses reads it; empty when nothing."""
    found: set[str] = set()
    for scripting in (True, False):
        for tree in (parse(markup, scripting=scripting), parse_fragment(markup, scripting=scripting)):
            for element in tree.iter():
                found.update(_element_dangers(element))
            # A second parse of the first parse's serialization: mutation XSS would differ.
            again = html5lib.serialize(tree, tree="etree", omit_optional_tags=False)
            for element in parse_fragment(again, scripting=scripting).iter():
                found.update(_element_dangers(element))
    return sorted(found)


# ---------------------------------------------------------------- the MIME side, by the stdlib


def read_mail(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=policy.default)


def html_body(raw: bytes) -> str | None:
    """The HTML a mail client would show (the preferred alternative), decoded by its charset."""
    body = read_mail(raw).get_body(preferencelist=("html",))
    return None if body is None else str(body.get_content())


def has_plain_alternative(raw: bytes) -> bool:
    return any(
        part.get_content_type() == "text/plain" and part.get_content_disposition() != "attachment"
        for part in read_mail(raw).walk()
    )


def parts_by_content_id(raw: bytes) -> dict[str, bytes]:
    """Each part with a Content-ID (without its <>): its decoded bytes."""
    found = {}
    for part in read_mail(raw).walk():
        content_id = str(part.get("Content-ID", "")).strip()
        if content_id and not part.is_multipart():
            found[content_id.strip("<>")] = part.get_payload(decode=True)
    return found


def without_plain(raw: bytes, message_id: str) -> bytes:
    """The same message sent as many clients send HTML: its text/plain alternatives left out,
    under another Message-ID (else it would be the same message again)."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    for part in message.walk():
        if part.get_content_type() == "multipart/alternative":
            kept = [p for p in part.get_payload() if p.get_content_type() != "text/plain"]
            part.set_payload(kept)
    message.replace_header("Message-ID", message_id)
    return message.as_bytes().replace(b"\n", b"\r\n")  # as SMTP carries it
