"""Single sign-on with OpenID Connect: the authorization code flow with PKCE.

OpenID Connect Core 1.0 (section 3.1) and RFC 7636. ``/signin/oidc`` sends the browser to
the provider with a fresh ``state``, ``nonce`` and PKCE challenge; ``/signin/oidc/callback``
takes the code back, redeems it with the verifier over the back channel, checks the ID
token, and signs in the person whose verified email it names (the desk decides the role).

The flow's secrets travel with the browser that started it, in a short-lived cookie it
cannot forge: the value is HMAC-signed with a key derived from the client secret, so any
worker process serving the site can check it (a per-process random key could not), and
nobody without the secret can make one. The ``state`` that comes back must be the cookie's
(a callback started in another browser, login CSRF, is refused); the ID token must carry the
cookie's ``nonce`` (a token minted for another flow is refused); the verifier proves to the
provider that whoever redeems the code started the flow.

The discovery document is cached an hour per process; the provider's keys by PyJWKClient,
which fetches them again when a token names a key it has not seen (key rotation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.config.settings import OidcSettings
from bot.errors import UserError
from bot.people.sign_in import SignedIn
from channels.web.signin import start_session
from channels.web.site import Site, guarded, local_path

logger = logging.getLogger(__name__)

FLOW_COOKIE = "sb_oidc"
FLOW_PATH = "/signin/oidc"  # the cookie goes to these two routes only
CALLBACK_PATH = "/signin/oidc/callback"
FLOW_SECONDS = 600
DISCOVERY_SECONDS = 3600
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
LEEWAY_SECONDS = 60
# Public-key signatures only: never "none", and never HS*, whose key would be the client
# secret, which the provider knows as well as we do.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MAX_TARGET = 2000
ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class Refused(Exception):
    """Single sign-on did not complete. ``reason`` is logged and shown: it never holds a token.
    ``status`` 401 when the answer was not good enough, 502 when the provider could not be
    used at all."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


# -- the flow cookie ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flow:
    state: str
    nonce: str
    verifier: str
    target: str
    expires: int  # seconds since the epoch, by the desk's clock


def flow_key(client_secret: str) -> bytes:
    return hashlib.sha256(b"supportbot-oidc-flow:" + client_secret.encode()).digest()


def seal(flow: Flow, key: bytes) -> str:
    fields = [flow.state, flow.nonce, flow.verifier, flow.target, flow.expires]
    payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
    return f"{payload}.{_sign(payload, key)}"


def unseal(value: str | None, key: bytes, now: int) -> Flow:
    """The flow this browser started, if the cookie is ours and still fresh."""
    if not value:
        raise Refused("this browser has no sign-in in progress (it may have expired)")
    payload, _, signature = value.rpartition(".")
    if not payload or not hmac.compare_digest(signature.encode(), _sign(payload, key).encode()):
        raise Refused("the sign-in cookie was not made by this site")
    try:
        state, nonce, verifier, target, expires = json.loads(base64.urlsafe_b64decode(payload + "=="))
        flow = Flow(str(state), str(nonce), str(verifier), str(target), int(expires))
    except (ValueError, TypeError):
        raise Refused("the sign-in cookie is unreadable") from None
    if flow.expires <= now:
        raise Refused(f"the sign-in took longer than {FLOW_SECONDS // 60} minutes")
    return flow


def _sign(payload: str, key: bytes) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def challenge_of(verifier: str) -> str:
    """RFC 7636's S256: the base64url SHA-256 of the verifier, without padding."""
    return _b64(hashlib.sha256(verifier.encode()).digest())


# -- the provider -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discovery:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    auth_methods: tuple[str, ...]


class Provider:
    """The configured issuer, as its discovery document describes it; one per process."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._discovery: Discovery | None = None
        self._fetched_at = 0.0
        self._keys: jwt.PyJWKClient | None = None

    async def discovery(self) -> Discovery:
        if self._discovery is not None and time.monotonic() - self._fetched_at < DISCOVERY_SECONDS:
            return self._discovery
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            document = await _json(client, "GET", url, "discovery document", refusal=502)
        if document.get("issuer") != self.settings.issuer:
            raise Refused(
                f"the provider's discovery document names the issuer {str(document.get('issuer'))[:200]!r},"
                f" not the configured {self.settings.issuer!r}",
                502,
            )
        endpoints = [document.get(name) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
        userinfo = document.get("userinfo_endpoint")
        for endpoint in [*endpoints, userinfo]:
            if endpoint is not None and not (isinstance(endpoint, str) and _is_http(endpoint)):
                raise Refused(
                    "the provider's discovery document has an endpoint that is not an http(s) URL", 502
                )
        if any(endpoint is None for endpoint in endpoints):
            raise Refused("the provider's discovery document lacks an endpoint this desk needs", 502)
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        found = Discovery(
            authorization_endpoint=str(endpoints[0]),
            token_endpoint=str(endpoints[1]),
            jwks_uri=str(endpoints[2]),
            userinfo_endpoint=userinfo,
            auth_methods=tuple(str(m) for m in methods) if isinstance(methods, list) else (),
        )
        if self._keys is None or self._keys.uri != found.jwks_uri:
            self._keys = jwt.PyJWKClient(found.jwks_uri, lifespan=DISCOVERY_SECONDS, timeout=10)
        self._discovery, self._fetched_at = found, time.monotonic()
        return found

    def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience, times and nonce check
        out (OIDC Core 3.1.3.7). Blocking: fetches the provider's keys when needed."""
        client_id = self.settings.client_id
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise Refused("the provider's ID token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise Refused(
                f"the ID token is signed with {str(algorithm)[:20]!r}, which this desk does not accept"
            )
        key = self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=list(ALGORITHMS),
                audience=client_id,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.InvalidSignatureError:
            raise Refused("the ID token's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise Refused("the ID token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Refused("the ID token is dated in the future") from None
        except jwt.InvalidAudienceError:
            raise Refused("the ID token was issued to another client") from None
        except jwt.InvalidIssuerError:
            raise Refused("the ID token comes from another issuer") from None
        except jwt.InvalidTokenError as error:
            raise Refused(f"the ID token is not valid ({type(error).__name__}: {error})") from None
        audiences = [claims["aud"]] if isinstance(claims["aud"], str) else list(claims["aud"])
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != client_id:
            raise Refused("the ID token was authorized for another client")
        said = claims.get("nonce")
        if not isinstance(said, str) or not hmac.compare_digest(said.encode(), nonce.encode()):
            raise Refused("the ID token was not issued for this sign-in (its nonce differs)")
        return claims

    def _signing_key(self, kid: object) -> jwt.PyJWK:
        assert self._keys is not None, "discovery comes first"
        try:
            if isinstance(kid, str):
                return self._keys.get_signing_key(kid)
            # No key id: acceptable only while the provider publishes a single signing key.
            keys = [k for k in self._keys.get_jwk_set().keys if k.public_key_use in ("sig", None)]
        except jwt.PyJWKClientConnectionError:
            raise Refused("could not fetch the provider's signing keys", 502) from None
        except (jwt.PyJWKClientError, jwt.PyJWKSetError) as error:
            raise Refused(f"no signing key of the provider's fits the ID token ({error})") from None
        if len(keys) != 1:
            raise Refused("the ID token names no key, and the provider publishes several")
        return keys[0]


async def _json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    what: str,
    *,
    bearer: str | None = None,
    refusal: int = 401,
    **kwargs: Any,
) -> dict[str, Any]:
    """A JSON object from the provider. A provider that cannot be reached, fails (5xx) or
    answers nonsense is a 502; its 4xx answer (an OAuth error, RFC 6749 5.2) is ``refusal``,
    naming the error's code."""
    try:
        headers = {"accept": "application/json"}
        if bearer is not None:
            headers["authorization"] = f"Bearer {bearer}"
        response = await client.request(method, url, headers=headers, **kwargs)
    except httpx.HTTPError as error:
        raise Refused(
            f"could not reach the sign-in provider for its {what} ({type(error).__name__})", 502
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        code = body.get("error") if isinstance(body, dict) else None
        said = f" ({code})" if isinstance(code, str) and ERROR_CODE.fullmatch(code) else ""
        status = refusal if 400 <= response.status_code < 500 else 502
        raise Refused(f"the provider refused the {what} request: HTTP {response.status_code}{said}", status)
    if not isinstance(body, dict):
        raise Refused(f"the provider's {what} is not a JSON object", 502)
    return body


def _is_http(url: str) -> bool:
    return url.startswith(("https://", "http://"))


# -- the routes ----------------------------------------------------------------------------


def routes(site: Site) -> list[BaseRoute]:
    settings = site.settings.web.oidc
    provider = Provider(settings)
    key = flow_key(settings.client_secret)
    redirect_uri = site.base_url + CALLBACK_PATH

    def now() -> int:
        return int(site.desk.clock.now().timestamp())

    async def start(request: Request) -> Response:
        viewer = await site.viewer(request)
        if not settings.enabled:
            return site.error(request, 404, "no such page")
        target = local_path(request.query_params.get("next"))
        if viewer.signed_in:
            return site.redirect(request, target)
        try:
            discovery = await provider.discovery()
        except Refused as refused:
            return _refusal(site, request, refused)
        flow = Flow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),  # 86 characters: RFC 7636 asks for 43 to 128
            target=target if len(target) <= MAX_TARGET else "/",
            expires=now() + FLOW_SECONDS,
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": settings.scopes,
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": challenge_of(flow.verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = discovery.authorization_endpoint
        response = site.redirect(request, endpoint + ("&" if "?" in endpoint else "?") + query)
        response.set_cookie(
            FLOW_COOKIE,
            seal(flow, key),
            max_age=FLOW_SECONDS,
            path=FLOW_PATH,
            httponly=True,
            samesite="lax",
            secure=site.secure,
        )
        return response

    async def callback(request: Request) -> Response:
        await site.viewer(request)
        if not settings.enabled:
            return site.error(request, 404, "no such page")
        try:
            signed, target = await finish(request)
        except Refused as refused:
            response = _refusal(site, request, refused)
        else:
            response = start_session(site, request, signed, target)
        # Spent either way: a flow's state and nonce are good for one answer.
        response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax", secure=site.secure)
        return response

    async def finish(request: Request) -> tuple[SignedIn, str]:
        params = request.query_params
        error = params.get("error")
        code_said = f" ({error})" if error and ERROR_CODE.fullmatch(error) else ""
        try:
            flow = unseal(request.cookies.get(FLOW_COOKIE), key, now())
            if not hmac.compare_digest(params.get("state", "").encode(), flow.state.encode()):
                raise Refused("the answer belongs to another sign-in than the one this browser started")
        except Refused:
            if error:  # the provider's own words are shown only for a flow we know
                raise Refused(f"the sign-in provider refused the sign-in{code_said}") from None
            raise
        if error:
            described = "".join(c for c in params.get("error_description", "")[:200] if c.isprintable())
            raise Refused(
                f"the sign-in provider refused the sign-in{code_said}"
                + (f": {described}" if described else "")
            )
        code = params.get("code")
        if not code:
            raise Refused("the provider's answer has no authorization code")
        discovery = await provider.discovery()
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            tokens = await redeem(client, discovery, code, flow.verifier)
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise Refused("the provider's token answer has no ID token")
            claims = await site.call(provider.verify, id_token, flow.nonce)
            said = claims  # the address and whether it is verified, from one source
            if "email" not in claims or "email_verified" not in claims:
                said = await userinfo(client, discovery, tokens, claims["sub"])
        email, verified = said.get("email"), said.get("email_verified")
        name = claims.get("name") or said.get("name")
        if not isinstance(email, str) or "@" not in email:
            raise Refused("the provider did not say the person's email address (is the email scope allowed?)")
        if verified is not True:
            raise Refused("the provider has not verified this person's email address")
        for claim, wanted in settings.required_claim_pairs():
            if str(claims.get(claim, "")) != wanted:
                raise Refused(f"this account is not one the desk accepts ({claim} is not {wanted})")
        try:
            signed = await site.call(
                site.desk.sign_in_verified_email,
                email,
                name if isinstance(name, str) else "",
                settings.agent_domain_set(),
            )
        except UserError as refusal:
            raise Refused(refusal.message) from None
        return signed, local_path(flow.target)

    async def redeem(
        client: httpx.AsyncClient, discovery: Discovery, code: str, verifier: str
    ) -> dict[str, Any]:
        """The token request (OIDC Core 3.1.3.1), authenticated as discovery allows."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth: httpx.BasicAuth | None = None
        if "client_secret_basic" in discovery.auth_methods:
            # RFC 6749 2.3.1: each part form-encoded before the Basic scheme's base64.
            auth = httpx.BasicAuth(quote(settings.client_id, safe=""), quote(settings.client_secret, safe=""))
        elif "client_secret_post" in discovery.auth_methods:
            form |= {"client_id": settings.client_id, "client_secret": settings.client_secret}
        else:
            raise Refused("the provider takes neither client_secret_basic nor client_secret_post", 502)
        return await _json(client, "POST", discovery.token_endpoint, "token", data=form, auth=auth)

    async def userinfo(
        client: httpx.AsyncClient, discovery: Discovery, tokens: dict[str, Any], subject: object
    ) -> dict[str, Any]:
        """The email from the UserInfo endpoint when the ID token leaves it out (OIDC Core 5.3),
        only if it speaks of the same subject."""
        access_token = tokens.get("access_token")
        if discovery.userinfo_endpoint is None or not isinstance(access_token, str):
            return {}
        info = await _json(client, "GET", discovery.userinfo_endpoint, "userinfo", bearer=access_token)
        if info.get("sub") != subject:
            raise Refused("the provider's userinfo speaks of another person than the ID token")
        return info

    return [
        Route(FLOW_PATH, guarded(site, start), methods=["GET"]),
        Route(CALLBACK_PATH, guarded(site, callback), methods=["GET"]),
    ]


def _refusal(site: Site, request: Request, refused: Refused) -> Response:
    logger.info("web: single sign-on refused: %s", refused.reason)
    return site.error(
        request,
        refused.status,
        f"Single sign-on did not complete: {refused.reason}. Nobody was signed in; start again from the "
        "sign-in page.",
    )
