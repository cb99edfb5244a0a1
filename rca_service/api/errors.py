"""Our error hierarchy mapped onto HTTP once, for every route of the app.

    NotFoundError          404
    PayloadTooLarge        413
    UnsupportedMediaType   415
    InputError (others)    400   (request validation errors too)
    AuthError              401 (with WWW-Authenticate) or 403, as the error says
    PolicyRefusal          409   body names the rule
    OverloadedError        503   with Retry-After
    ModelError             503   models not loaded yet
    NotImplementedError    501   a facade method not wired yet
    other RcaError         500

Bodies are JSON: {"error": "<kind>", "detail": "<message>"} (+ "rule" for policy refusals).
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rca_service.errors import (
    AuthError, InputError, ModelError, NotFoundError, OverloadedError, PayloadTooLarge, PolicyRefusal, RcaError,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)


def error_response(exc: BaseException) -> JSONResponse:
    """The JSON response for one of our errors."""
    headers: dict[str, str] = {}
    body: dict = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, PayloadTooLarge):
        status = 413
    elif isinstance(exc, UnsupportedMediaType):
        status = 415
    elif isinstance(exc, InputError):
        status = 400
    elif isinstance(exc, AuthError):
        status = exc.status_code
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="rca-service"'
    elif isinstance(exc, PolicyRefusal):
        status = 409
        body["rule"] = exc.rule
    elif isinstance(exc, OverloadedError):
        status = 503
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, ModelError):
        status = 503
    elif isinstance(exc, NotImplementedError):
        status, body = 501, {"error": "NotImplemented", "detail": str(exc) or "not available in this build"}
    else:
        status = 500
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping on an app."""

    async def on_rca_error(request: Request, exc: RcaError) -> JSONResponse:
        if not isinstance(exc, (InputError, NotFoundError, AuthError, PolicyRefusal, OverloadedError)):
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return error_response(exc)

    async def on_not_implemented(request: Request, exc: NotImplementedError) -> JSONResponse:
        return error_response(exc)

    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse({"error": "InputError", "detail": problems or "invalid request"}, status_code=400)

    app.add_exception_handler(RcaError, on_rca_error)
    app.add_exception_handler(NotImplementedError, on_not_implemented)
    app.add_exception_handler(RequestValidationError, on_validation)
