"""What every handler of the web page and API shares: who is asking, and the answers for
someone who may not (one place, so every endpoint says it the same way).

The auth middleware (`bridge.web.auth`) sets the request's `Principal`; handlers call
:func:`principal_of` (401 when nobody signed in — the middleware normally answered before)
and the ``deny``/``hidden`` helpers:

- **403** — the role may not do this at all (an operator taking a step of an order).
- **404** — the thing is outside the principal's scope: answered exactly as for a thing that
  does not exist, so an operator of grid A cannot even learn which cameras grid B has.
"""

from __future__ import annotations

import json
from typing import NoReturn

from aiohttp import web

from bridge.web.principal import Principal

__all__ = ["PRINCIPAL_KEY", "deny", "hidden", "principal_of", "set_principal"]

# The request key the auth middleware stores the principal under.
PRINCIPAL_KEY = web.RequestKey("gridbridge.principal", Principal)
JSON = "application/json"


def set_principal(request: web.Request, principal: Principal) -> None:
    request[PRINCIPAL_KEY] = principal


def principal_of(request: web.Request) -> Principal:
    """The signed-in principal; raises 401 when there is none."""
    principal = request.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise web.HTTPUnauthorized(text=_error("需要登录 / login required"), content_type=JSON)
    return principal


def deny(what: str) -> NoReturn:
    """403: the role may not do ``what`` (a short English phrase, shown with its Chinese)."""
    raise web.HTTPForbidden(text=_error(f"无权操作 / not allowed: {what}"), content_type=JSON)


def hidden(what: str = "not found") -> NoReturn:
    """404 for a thing that does not exist *or* lies outside the principal's scope."""
    raise web.HTTPNotFound(text=_error(f"未找到 / {what}"), content_type=JSON)


def _error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)
