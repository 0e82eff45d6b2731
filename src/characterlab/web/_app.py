"""The lab's FastAPI application: its routers, security middleware, error pages and static files."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from characterlab import __version__
from characterlab.errors import CharacterlabError
from characterlab.store import NotFoundError
from characterlab.web import _characters, _chats, _compare, _dialogues, _home, _runs, _sharing
from characterlab.web._lab import Lab
from characterlab.web._pages import page
from characterlab.web._security import CsrfError, SecurityMiddleware
from characterlab.web._settings import LabSettings

__all__ = ["create_app"]


def create_app(settings: LabSettings) -> FastAPI:
    """The lab as an ASGI app (serve it with uvicorn, or test it with httpx).

    Args:
        settings: Its database, host, access token and run folders.
    """
    app = FastAPI(
        title="characterlab", version=__version__, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json"
    )
    app.state.lab = Lab(settings)
    app.add_middleware(SecurityMiddleware, settings=settings)
    app.mount("/static", StaticFiles(packages=[("characterlab.web", "static")]), name="static")
    for module in (_home, _characters, _chats, _compare, _dialogues, _sharing, _runs):
        app.include_router(module.router)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, error: CsrfError) -> Response:
        return _problem(request, 403, str(error))

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, error: NotFoundError) -> Response:
        return _problem(request, 404, str(error))

    @app.exception_handler(CharacterlabError)
    async def _bad_input(request: Request, error: CharacterlabError) -> Response:
        return _problem(request, 400, str(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        return _problem(request, error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc'] if part != 'body') or 'request'}: {problem['msg']}"
            for problem in error.errors()
        ]
        return _problem(request, 422, "; ".join(problems))

    return app


def _problem(request: Request, status: int, message: str) -> Response:
    """An error as the asker wants it: JSON for the lab's script, a page for a browser, text otherwise."""
    accept = request.headers.get("accept", "")
    if request.headers.get("x-csrf-token") is not None or "application/json" in accept:
        return JSONResponse({"error": message}, status_code=status)
    if "text/html" in accept:
        response: HTMLResponse = page(request, "error.html", status_code=status, status=status, message=message)
        return response
    return PlainTextResponse(message, status_code=status)
