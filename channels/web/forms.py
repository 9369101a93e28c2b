"""What the portal's and the workspace's forms share: ticket numbers in paths, a form's
own key against double submits, attached files within the limits."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from bot.config.settings import AttachmentSettings
from bot.errors import NotFound, UserError
from bot.messages import IncomingFile
from bot.model import Actor, format_number, parse_number
from bot.tickets.attachments import content_type_of

FILES = "files"
SHORT = 320  # a one-line field: an address, a name, a choice
KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def path_number(prefix: str, request: Request) -> str:
    """The ticket number in the path, spelled as the desk spells it; a malformed one is a
    missing ticket like any other, not a different error."""
    raw: str = request.path_params["number"]
    try:
        return format_number(prefix, parse_number(prefix, raw))
    except UserError:
        raise NotFound(f"no ticket {raw[:40]}", field="number") from None


def new_key() -> str:
    """A form's own key: sent twice (a double click), the form writes once."""
    return secrets.token_urlsafe(18)


def kept_key(sent: str) -> str:
    """The key a form came back with, or a new one for anything that is not one of ours."""
    return sent if KEY.fullmatch(sent) else new_key()


def person(actor: Actor | None) -> Actor:
    assert actor is not None, "signed_in answers only with a person"
    return actor


def human_bytes(size: int) -> str:
    """As the pages' ``filesizeformat`` writes sizes (decimal units), so a limit reads the same."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


async def read_files(form: FormData, limits: AttachmentSettings) -> tuple[list[IncomingFile], str | None]:
    """The files chosen, or why they are refused. The server's body limit has already bounded
    what came; each file is checked against ``max_bytes`` and all of them against the total."""
    files: list[IncomingFile] = []
    total = 0
    for item in form.getlist(FILES):
        if not isinstance(item, UploadFile) or not item.filename:
            continue  # a file input left empty still sends a part, with no name
        name = item.filename.replace("\x00", "")
        data = await item.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            return [], f"{name} is larger than {human_bytes(limits.max_bytes)}, the limit for one file."
        total += len(data)
        if total > limits.max_total_bytes:
            return [], f"Together the files are larger than {human_bytes(limits.max_total_bytes)}."
        files.append(
            IncomingFile(filename=name, content_type=content_type_of(name, item.content_type), data=data)
        )
    return files, None


def values_of(form: FormData) -> dict[str, list[str]]:
    """The form's text fields, each a list (checkboxes and multiple selects repeat a name);
    NUL characters, which no store keeps, go."""
    values: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            values.setdefault(name, []).append(value.replace("\x00", ""))
    return values


def one(values: Mapping[str, list[str]], name: str, limit: int = SHORT) -> str:
    """A field's first value, cut to ``limit`` and stripped; "" when it was not sent."""
    given = values.get(name)
    return given[0][:limit].strip() if given else ""
