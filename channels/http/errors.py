"""Every API error as JSON ``{"error": {"message": ..., "field": ...}}`` with the status it means."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from bot.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    StoreUnavailable,
    TooLarge,
    Unauthenticated,
    UserError,
)

logger = logging.getLogger(__name__)

# Most specific first: every one of them is a UserError.
STATUS_OF: tuple[tuple[type[UserError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidTransition, 409),
    (TooLarge, 413),
)


class Malformed(Exception):
    """Input the API cannot even read (a cursor it never handed out): 400."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def error_response(status: int, message: str, field: str | None = None, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "field": field}}, status_code=status, headers=headers)


def status_of(error: UserError) -> int:
    for kind, status in STATUS_OF:
        if isinstance(error, kind):
            return status
    return 422


async def _user_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UserError)
    status = status_of(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return error_response(status, error.message, error.field, **headers)


async def _malformed(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Malformed)
    return error_response(400, error.message, error.field)


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors: list[Any] = list(error.errors())
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return error_response(400, f"the body is not valid JSON: {first.get('msg', '')}", "body")
    loc = [str(part) for part in first.get("loc", ())]
    # ("body", "subject") -> "subject"; ("query", "limit") -> "limit"
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
    return error_response(422, f"{field or 'request'}: {first.get('msg', 'invalid')}", field)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    return JSONResponse(
        {"error": {"message": str(error.detail), "field": None}},
        status_code=error.status_code,
        headers=headers,
    )


async def _store_unavailable(request: Request, error: Exception) -> JSONResponse:
    return error_response(503, "the database is unavailable; retry shortly", None, **{"Retry-After": "5"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(Malformed, _malformed)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
