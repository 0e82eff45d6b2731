"""Who may use the lab and how: the access token, the Host check, cross-site request protection, safe headers.

- The server answers only to its own host names, so a page on another site cannot reach it through a DNS name
  that points at 127.0.0.1 (DNS rebinding).
- With an access token (required off loopback), every request carries it: ``?token=`` once (it is then kept in
  an HttpOnly cookie and the URL is cleaned), or ``Authorization: Bearer``.
- Every request that changes something must carry the page's CSRF token, in the ``X-CSRF-Token`` header (the
  lab's script sends it) or a ``csrf_token`` form field, matching the SameSite=Strict cookie; and when the browser
  says where the request came from (``Origin``), it must be this server.
- Pages forbid scripts other than the lab's own file, framing, and plugins (Content-Security-Policy), so text that
  slipped through escaping still could not run.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from characterlab.web._settings import LabSettings

__all__ = ["CSRF_COOKIE", "TOKEN_COOKIE", "SecurityMiddleware", "csrf_token", "require_csrf"]

CSRF_COOKIE = "characterlab_csrf"
TOKEN_COOKIE = "characterlab_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

LAB_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SHARED_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
"""A shared page is self-contained: its own styles and inlined images, nothing else, and never a script."""


class CsrfError(Exception):
    """A state-changing request without a valid CSRF token or from another origin."""


def csrf_token(request: Request) -> str:
    """The CSRF token for this browser (made on its first visit; the middleware sets the cookie)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return str(token)


async def require_csrf(request: Request) -> None:
    """A dependency for routes that change state: the CSRF token must match and the origin must be ours.

    Raises:
        CsrfError: it does not (answered with 403).
    """
    if request.method in _SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        if urlsplit(origin).netloc != request.headers.get("host", ""):
            raise CsrfError(f"a request from {origin} may not change anything here")
    elif origin == "null":
        raise CsrfError("a request from an opaque origin may not change anything here")
    expected = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise CsrfError("this request lacks the page's CSRF token; reload the page and try again")


class SecurityMiddleware:
    """ASGI middleware: checks the host and the access token, and adds the safety headers to every response.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which runs each request's body through a task and
    a memory stream of its own: that is a cost on every server-sent event of a streamed reply.
    """

    def __init__(self, app: ASGIApp, settings: LabSettings) -> None:
        """Guard ``app`` with ``settings``' host names and access token."""
        self._app = app
        self._settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refused request at once; pass the others on, adding the headers as their response starts."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", LAB_POLICY)
                headers["X-Content-Type-Options"] = "nosniff"
                # Same-origin: with no-referrer, Chrome sends "Origin: null" on form posts, which the CSRF check
                # refuses.
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                new = getattr(request.state, "new_csrf", None)
                if new is not None and CSRF_COOKIE not in request.cookies:
                    headers.append("set-cookie", _cookie(CSRF_COOKIE, str(new), httponly=False))
            await send(message)

        await self._app(scope, receive, send_with_headers)

    def _refusal(self, request: Request) -> Response | None:
        settings = self._settings
        if not settings.host_allowed(request.headers.get("host", "")):
            return PlainTextResponse("this lab does not answer to that host name", status_code=400)
        if settings.token is None:
            return None
        given = request.query_params.get("token")
        if given is not None and secrets.compare_digest(given, settings.token):
            clean = request.url.remove_query_params("token")
            redirect = RedirectResponse(clean.path + (f"?{clean.query}" if clean.query else ""), 303)
            redirect.set_cookie(TOKEN_COOKIE, settings.token, httponly=True, samesite="strict")
            return redirect
        bearer = request.headers.get("authorization", "")
        presented = request.cookies.get(TOKEN_COOKIE) or (bearer[7:] if bearer.startswith("Bearer ") else "")
        if not presented or not secrets.compare_digest(presented, settings.token):
            return PlainTextResponse(
                "this lab needs its access token: open the address `characterlab serve` printed (it ends in "
                "?token=...)",
                status_code=401,
            )
        return None


def _cookie(name: str, value: str, *, httponly: bool) -> str:
    """A ``Set-Cookie`` value for the whole site, SameSite=Strict, as Starlette writes it."""
    response = Response()
    response.set_cookie(name, value, httponly=httponly, samesite="strict")
    return response.headers["set-cookie"]
