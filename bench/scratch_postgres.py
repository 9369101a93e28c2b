"""A private PostgreSQL schema for one benchmark run, dropped afterwards; shared by the benches."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_schema(notes: list[str]) -> Iterator[str | None]:
    """Yield a URL whose search_path is a new schema, or ``None`` (and a note) when out of reach."""
    schema = f"sbbench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 - any failure to reach it means "skip PostgreSQL"
        admin.dispose()
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        notes.append(f"note: PostgreSQL skipped, not reachable at {POSTGRES_URL}: {first_line}")
        print(notes[-1], file=sys.stderr)
        yield None
        return
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
