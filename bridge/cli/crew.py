"""``gridbridge workorders accept|on-site|repaired|close ORDER_ID --actor NAME [--note TEXT]``:
a crew's step, taken by the running daemon through its HTTP API (the daemon is the one
keeper of the order book; these commands never write the database themselves)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

import aiohttp

from bridge.cli.commands import UserError
from bridge.settings import Settings
from bridge.workorders.model import Step

STEP_OF = {
    "accept": Step.ACCEPTED,
    "on-site": Step.ON_SITE,
    "repaired": Step.REPAIRED,
    "close": Step.CLOSED,
}
REQUEST_TIMEOUT_S = 15.0  # the daemon records the step before it answers


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
    url = f"{base}/api/workorders/{args.order_id}/steps"
    body = {"step": step.value, "actor": args.actor, "note": args.note or ""}
    headers = {}
    if settings.http.username and settings.http.password is not None:
        headers["Authorization"] = aiohttp.encode_basic_auth(
            settings.http.username, settings.http.password.get_secret_value()
        )
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
    if status != 200 or not isinstance(answer, dict):
        message = answer.get("error") if isinstance(answer, dict) else None
        raise UserError(
            f"order {args.order_id}: {message or f'HTTP {status}'}", 1 if status >= 500 else 2
        )
    print(
        f"工单 {answer['id']}: {step.label_zh} ({step.value}) — {args.actor}; now {answer['state']}"
    )
    return 0
