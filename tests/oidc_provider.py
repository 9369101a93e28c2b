"""A local OpenID Connect provider, for the web desk's single sign-on tests.

A real HTTP server on a loopback port (Starlette under uvicorn in a thread, as
:class:`tests.live_http.LiveServer` runs the desk) serving discovery, its JWKS (an RSA key
made here), ``/authorize``, ``/token`` and ``/userinfo``. ``/authorize`` asks nobody
anything: it answers at once for :attr:`OidcProvider.person`, remembering the nonce and the
PKCE challenge; ``/token`` checks the client's credentials, the code, the redirect URI and
the verifier as a strict provider would, then hands out an RS256 ID token. The knobs
(:attr:`~OidcProvider.claims`, :attr:`~OidcProvider.signature`, ...) make that token or
the answers wrong in one way each, so a test can see the desk refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.live_http import LiveServer

CLIENT_ID = "supportbot-desk"
# Long enough for an HS256 key, so the HS256 knob signs without PyJWT's short-key warning.
CLIENT_SECRET = "stand-in-client-secret-0123456789abcdef"
KEY_ID = "stand-in-key-1"


@dataclass(slots=True)
class Person:
    email: str
    email_verified: Any = True
    name: str = ""

    @property
    def sub(self) -> str:
        return "user-" + hashlib.sha256(self.email.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str
    person: Person


@dataclass(slots=True)
class OidcProvider:
    """The provider; use as a context manager. Knobs are read when a request arrives."""

    # Token endpoint authentication the provider takes (and advertises).
    auth_methods: tuple[str, ...] = ("client_secret_basic",)
    # Who /authorize signs in.
    person: Person = field(default_factory=lambda: Person("rita@customer.test", name="Rita Requester"))
    # Claims of the next ID tokens replaced (a value of None removes the claim).
    claims: dict[str, Any] = field(default_factory=dict)
    # "good"; "forged": signed by another RSA key under the same key id; "hs256": signed with
    # the client secret; "none": unsigned.
    signature: Literal["good", "forged", "hs256", "none"] = "good"
    # Leave the email out of the ID token: the desk must ask /userinfo.
    email_in_id_token: bool = True
    # /authorize answers with this OAuth error instead of a code.
    deny: str | None = None
    # The issuer the discovery document names (None: the true one).
    discovery_issuer: str | None = None

    hits: Counter[str] = field(default_factory=Counter)
    authorizations: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, Grant] = field(default_factory=dict)
    _access: dict[str, Person] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    _server: LiveServer | None = None

    @property
    def issuer(self) -> str:
        assert self._server is not None, "start the provider first"
        return f"http://127.0.0.1:{self._server.port}"

    def __enter__(self) -> OidcProvider:
        self._server = LiveServer(self.app()).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.__exit__(*exc)

    def sign_in_as(self, email: str, *, verified: Any = True, name: str = "") -> None:
        self.person = Person(email, verified, name)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/userinfo", self._userinfo),
            ]
        )

    # -- endpoints --------------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        self.hits["discovery"] += 1
        return JSONResponse(
            {
                "issuer": self.discovery_issuer or self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": list(self.auth_methods),
            }
        )

    async def _jwks(self, request: Request) -> Response:
        self.hits["jwks"] += 1
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]})

    async def _authorize(self, request: Request) -> Response:
        self.hits["authorize"] += 1
        params = dict(request.query_params)
        with self._lock:
            self.authorizations.append(params)
        redirect_uri = params.get("redirect_uri", "")
        problems = [
            params.get("client_id") != CLIENT_ID and "unknown client_id",
            params.get("response_type") != "code" and "response_type must be code",
            not redirect_uri.startswith("http") and "no redirect_uri",
            params.get("code_challenge_method") != "S256" and "PKCE with S256 required",
            not params.get("code_challenge") and "no code_challenge",
            "openid" not in params.get("scope", "").split() and "scope lacks openid",
        ]
        wrong = [p for p in problems if p]
        if wrong:  # a real provider shows an error page and does not redirect
            return PlainTextResponse("; ".join(wrong), status_code=400)
        answer: dict[str, str] = {"state": params.get("state", "")}
        if self.deny:
            answer |= {"error": self.deny, "error_description": "The person said no."}
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._grants[code] = Grant(
                    CLIENT_ID, redirect_uri, params.get("nonce"), params["code_challenge"], self.person
                )
            answer["code"] = code
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(redirect_uri + separator + urlencode(answer), status_code=302)

    async def _token(self, request: Request) -> Response:
        self.hits["token"] += 1
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id, method = self._client(request, form)
        with self._lock:
            self.token_requests.append({**form, "auth_method": method or "", "client_secret": "*"})
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code is good once
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (
            grant is None
            or grant.client_id != client_id
            or grant.redirect_uri != form.get("redirect_uri")
            or not 43 <= len(verifier) <= 128
            or challenge != grant.challenge
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access[access_token] = grant.person
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self._id_token(grant),
            },
            headers={"cache-control": "no-store"},
        )

    async def _userinfo(self, request: Request) -> Response:
        self.hits["userinfo"] += 1
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        person = self._access.get(token) if scheme.lower() == "bearer" else None
        if person is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(
            {
                "sub": person.sub,
                "email": person.email,
                "email_verified": person.email_verified,
                "name": person.name,
            }
        )

    # -- parts ------------------------------------------------------------------------------

    def _client(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        """The authenticated client id and the method used, or (None, method) when refused."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            method = "client_secret_basic"
            decoded = base64.b64decode(credentials).decode()
            client_id, _, secret = (unquote(part) for part in decoded.partition(":"))
        elif "client_secret" in form:
            method = "client_secret_post"
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            return None, None
        if method not in self.auth_methods or client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return None, method
        return client_id, method

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        person = grant.person
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": person.sub,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "nonce": grant.nonce,
            "name": person.name,
        }
        if self.email_in_id_token:
            claims |= {"email": person.email, "email_verified": person.email_verified}
        for name, value in self.claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        headers = {"kid": KEY_ID}
        if self.signature == "none":
            return jwt.encode(claims, None, algorithm="none", headers=headers)
        if self.signature == "hs256":
            return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256", headers=headers)
        key = self._key
        if self.signature == "forged":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)
