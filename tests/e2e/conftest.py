"""Fixtures for the end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import POSTGRES_URL


@pytest.fixture
def empty_schema(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL schema with no tables at all; ``postgres_url`` only vouches the server is there."""
    name = f"sbe2e_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        admin.dispose()
