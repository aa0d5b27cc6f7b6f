"""``gridbridge workorders accept|on-site|repaired|close ORDER_ID --actor NAME [--note TEXT]``:
a crew's step, taken by the running daemon through its HTTP API (the daemon is the one
keeper of the order book; these commands never write the database themselves).

The API wants a token (docs/auth.md): ``--token``, else ``GRIDBRIDGE_API_TOKEN``, else the
daemon's local token ``<data_dir>/cli.token`` (`bridge.web.cli_token`), which the daemon
writes at start for commands on its own machine run as its own user.  The step's actor is
what ``--actor`` says, whichever token is used."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from typing import Any
from urllib.parse import quote

import aiohttp

from bridge.cli.commands import UserError
from bridge.settings import Settings
from bridge.web.cli_token import cli_token_path, read_cli_token
from bridge.workorders.model import Step

STEP_OF = {
    "accept": Step.ACCEPTED,
    "on-site": Step.ON_SITE,
    "repaired": Step.REPAIRED,
    "close": Step.CLOSED,
}
REQUEST_TIMEOUT_S = 15.0  # the daemon records the step before it answers
TOKEN_ENV = "GRIDBRIDGE_API_TOKEN"  # noqa: S105 - the variable's name


def api_base(settings: Settings) -> str:
    """Where this machine reaches the daemon's API: ``http.listen``, with a wildcard host
    (0.0.0.0, ::) read as loopback."""
    host, _, port = settings.http.listen.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a wildcard listen is reached on loopback
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def crew_step(args: argparse.Namespace, settings: Settings) -> int:
    step = STEP_OF[args.action]
    if step is Step.CLOSED and not (args.note or "").strip():
        raise UserError("closing by hand needs --note saying why (手工结案须填写原因)")
    base = api_base(settings)
    url = f"{base}/api/workorders/{quote(args.order_id, safe='')}/steps"  # one path segment
    body = {"step": step.value, "actor": args.actor, "note": args.note or ""}
    token, source = api_token(args, settings)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            asyncio.timeout(REQUEST_TIMEOUT_S),
            aiohttp.ClientSession(headers=headers) as session,
            session.post(url, json=body) as reply,
        ):
            status = reply.status
            text = await reply.text()
    except (aiohttp.ClientConnectionError, OSError):
        raise UserError(
            f"the daemon does not answer at {base} (http.listen): crew steps go through the "
            "running daemon (gridbridge run)",
            1,
        ) from None
    except TimeoutError:
        raise UserError(
            f"the daemon at {base} did not answer within {REQUEST_TIMEOUT_S:g} s", 1
        ) from None
    answer: Any = None
    with contextlib.suppress(json.JSONDecodeError):
        answer = json.loads(text)
    if status == 401:
        raise UserError(
            f"the daemon at {base} refused the token ({source}): "
            + (
                "was the daemon restarted by another user, or is this another daemon's data_dir?"
                if source == "cli.token"
                else "revoked, or its user disabled? (gridbridge users list)"
            ),
            1 if source == "cli.token" else 2,
        )
    if status != 200 or not isinstance(answer, dict):
        message = answer.get("error") if isinstance(answer, dict) else None
        raise UserError(
            f"order {args.order_id}: {message or f'HTTP {status}'}", 1 if status >= 500 else 2
        )
    print(
        f"工单 {answer['id']}: {step.label_zh} ({step.value}) — {args.actor}; now {answer['state']}"
    )
    return 0


def api_token(args: argparse.Namespace, settings: Settings) -> tuple[str, str]:
    """The token for the API and where it came from: ``--token``, ``GRIDBRIDGE_API_TOKEN``,
    or the daemon's ``cli.token`` (a `UserError` saying what to do when it is missing)."""
    given = getattr(args, "token", None)
    if given:
        return given.strip(), "--token"
    if os.environ.get(TOKEN_ENV, "").strip():
        return os.environ[TOKEN_ENV].strip(), TOKEN_ENV
    path = cli_token_path(settings.store.data_dir)
    try:
        token = read_cli_token(settings.store.data_dir)
    except FileNotFoundError:
        raise UserError(
            f"{path} is missing: is the daemon running? Run this command on the daemon's "
            f"machine as its user, or give --token / {TOKEN_ENV} (docs/auth.md)",
            1,
        ) from None
    except OSError as exc:
        raise UserError(
            f"cannot read {path} ({exc.strerror}): run this command as the daemon's user, "
            f"or give --token / {TOKEN_ENV} (docs/auth.md)",
            1,
        ) from None
    return token, "cli.token"
