"""An MQTT broker on loopback for ``mqtt.url = ""`` (``gridbridge demo``, single-machine sites).

:func:`embedded_broker` starts a broker on a loopback address, yields its URL
(``mqtt://127.0.0.1:PORT``) once it accepts connections, and stops it on exit.  Which broker
(measured in ``bench/bench_broker.py``, reasons in ``docs/broker.md``):

- the system's **Mosquitto** binary when one is installed (``mosquitto`` on ``PATH``, or in
  ``/usr/sbin`` where Debian puts it): a separate process, so its work never runs on the
  daemon's event loop, and the broker real sites run;
- else **amqtt** in this process (a Python package, nothing to install beyond it).

Either way: loopback only (a non-loopback ``host`` is refused), anonymous clients allowed
(only local processes can reach it), no persistence (the daemon re-publishes its retained
state after every reconnect, DESIGN §12), no ``$SYS`` topics.  ``port=0`` picks a free port.
Start and stop each have a deadline; a broker that did not start in time is stopped and
:class:`EmbeddedBrokerError` raised with the broker's own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import ipaddress
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

__all__ = ["BrokerKind", "EmbeddedBrokerError", "embedded_broker", "find_mosquitto"]

log = logging.getLogger(__name__)

BrokerKind = Literal["auto", "mosquitto", "amqtt"]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
_POLL_S = 0.02
_PORT_TRIES = 3  # port=0: a port found free may be taken before the broker binds it
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# What a workstation or the daemon may leave queued at the broker: more than a whole
# district's retained statuses, so a subscriber of everything gets all of them (Mosquitto's
# default of 1000 would drop the rest of a retained burst, docs/broker.md).
_MAX_QUEUED = 100_000


class EmbeddedBrokerError(Exception):
    """The embedded broker could not be started (none available, bad host, start failed)."""


def find_mosquitto() -> Path | None:
    """The ``mosquitto`` executable: on ``PATH``, else in an sbin directory; ``None`` if none."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path=os.pathsep.join(_SBIN_DIRS))
    return Path(found) if found else None


def _loopback(host: str) -> str:
    """``host`` as a loopback IP literal; ``EmbeddedBrokerError`` for anything else."""
    literal = "127.0.0.1" if host == "localhost" else host
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        raise EmbeddedBrokerError(
            f"embedded broker host {host!r} is not an IP address (use 127.0.0.1)"
        ) from None
    if not address.is_loopback:
        raise EmbeddedBrokerError(
            f"embedded broker host {host} is not a loopback address: it allows anonymous "
            "clients, so it listens on loopback only (set mqtt.url for a real broker)"
        )
    return str(address)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _url(host: str, port: int) -> str:
    return f"mqtt://[{host}]:{port}" if ":" in host else f"mqtt://{host}:{port}"


@asynccontextmanager
async def embedded_broker(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    kind: BrokerKind = "auto",
    start_timeout_s: float = START_TIMEOUT_S,
    stop_timeout_s: float = STOP_TIMEOUT_S,
) -> AsyncIterator[str]:
    """Run a broker on ``host:port`` (loopback; ``port=0``: a free one) and yield its URL.

    ``kind="auto"`` takes Mosquitto when :func:`find_mosquitto` finds it, else amqtt;
    ``"mosquitto"`` / ``"amqtt"`` insist on one.  The URL is yielded only once the broker
    accepts connections, within ``start_timeout_s``; on exit the broker is stopped within
    ``stop_timeout_s`` (Mosquitto: SIGTERM, then SIGKILL).  Raises
    :class:`EmbeddedBrokerError` when no broker is available or it did not start.
    """
    bind = _loopback(host)
    if not 0 <= port <= 65535:
        raise EmbeddedBrokerError(f"embedded broker port {port} is out of range")
    exe = find_mosquitto() if kind in ("auto", "mosquitto") else None
    if kind == "mosquitto" and exe is None:
        raise EmbeddedBrokerError("no mosquitto executable found (apt-get install mosquitto)")
    stack = contextlib.AsyncExitStack()
    for attempt in range(1, (_PORT_TRIES if port == 0 else 1) + 1):
        chosen = port or _free_port(bind)
        starter = (
            _run_mosquitto(exe, bind, chosen, start_timeout_s, stop_timeout_s)
            if exe is not None
            else _run_amqtt(bind, chosen, start_timeout_s, stop_timeout_s)
        )
        try:
            what = await stack.enter_async_context(starter)
            break
        except _PortTaken:
            if port or attempt == _PORT_TRIES:
                raise EmbeddedBrokerError(f"port {chosen} on {bind} is in use") from None
    async with stack:
        url = _url(bind, chosen)
        log.info("embedded broker (%s) listening on %s", what, url)
        yield url


class _PortTaken(Exception):
    """The chosen port was taken between choosing it and binding it."""


# --- Mosquitto --------------------------------------------------------------------------

_MOSQUITTO_CONF = """\
# gridbridge embedded broker: loopback only, written to a temporary directory, gone on exit.
listener {port} {host}
allow_anonymous true
persistence false
sys_interval 0
max_queued_messages {max_queued}
max_inflight_messages 100
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type information
log_timestamp false
"""
_RUNNING = "running"  # mosquitto logs "mosquitto version X running" once it listens


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when this process dies.

    So a ``kill -9`` of the daemon does not leave its broker behind.  Resolved before the
    fork: the child only makes one foreign call.  ``None`` off Linux.  (The kernel forgets
    the request when the child changes its user: Mosquitto started as root drops to the
    ``mosquitto`` user, and then only the normal exit path stops it.)
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def preexec() -> None:
        prctl(pr_set_pdeathsig, sigterm)

    return preexec


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


@asynccontextmanager
async def _run_mosquitto(
    exe: Path, host: str, port: int, start_timeout_s: float, stop_timeout_s: float
) -> AsyncIterator[str]:
    # The deadline counts from before the spawn: starting includes getting the process going.
    deadline = asyncio.get_running_loop().time() + start_timeout_s
    with tempfile.TemporaryDirectory(prefix="gridbridge-mosquitto-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(
            _MOSQUITTO_CONF.format(host=host, port=port, max_queued=_MAX_QUEUED), encoding="utf-8"
        )
        log_path = Path(tmp) / "mosquitto.log"
        # The log goes to a file, not a pipe: nobody has to keep reading it, and the file
        # descriptor stays writable after Mosquitto (started as root) drops privileges.
        with log_path.open("wb") as log_file:
            try:
                proc = await asyncio.create_subprocess_exec(
                    str(exe),
                    "-c",
                    str(conf),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    # Its own session (so its own process group): a Ctrl-C in the terminal
                    # reaches the daemon only, which stops the broker after its orderly
                    # shutdown.  (Not process_group=0: uvloop does not take it.)
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),
                )
            except OSError as exc:
                raise EmbeddedBrokerError(f"cannot run {exe}: {exc}") from None
        try:
            await _await_running(proc, log_path, host, port, deadline, start_timeout_s)
        except BaseException:
            await _stop(proc, stop_timeout_s, log_path, quiet=True)  # the error says why
            raise
        try:
            yield f"mosquitto pid {proc.pid}"
        finally:
            await _stop(proc, stop_timeout_s, log_path)


async def _await_running(
    proc: asyncio.subprocess.Process,
    log_path: Path,
    host: str,
    port: int,
    deadline: float,
    timeout_s: float,
) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(deadline):
            while _RUNNING not in _tail(log_path, 20):
                if proc.returncode is not None:
                    said = _tail(log_path)
                    if "Address already in use" in said:
                        raise _PortTaken
                    raise EmbeddedBrokerError(
                        f"mosquitto exited with code {proc.returncode}: {said or 'no output'}"
                    )
                await asyncio.sleep(_POLL_S)
            if loop.time() >= deadline:
                # Seen running only after the deadline (the first look does not await, so
                # the timeout alone would miss it): still too late.
                raise TimeoutError
    except TimeoutError:
        raise EmbeddedBrokerError(
            f"mosquitto did not start on {host}:{port} within {timeout_s:g} s: "
            f"{_tail(log_path) or 'no output'}"
        ) from None


async def _stop(
    proc: asyncio.subprocess.Process, timeout_s: float, log_path: Path, *, quiet: bool = False
) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL; never raises for a gone process.

    Warns when the broker had died on its own while in use (unless ``quiet``).
    """
    if proc.returncode is not None:
        if proc.returncode != 0 and not quiet:
            log.warning(
                "embedded mosquitto had exited with code %s: %s", proc.returncode, _tail(log_path)
            )
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        async with asyncio.timeout(timeout_s):
            await proc.wait()
    except TimeoutError:
        log.warning("embedded mosquitto ignored SIGTERM for %g s; killing it", timeout_s)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


# --- amqtt ------------------------------------------------------------------------------


def _amqtt_config(host: str, port: int) -> dict[str, Any]:
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {
        # amqtt's defaults bind 0.0.0.0:1883 and load $SYS and packet-logging plugins:
        # everything is spelled out instead.
        "listeners": {"default": {"type": "tcp", "bind": bind, "max_connections": 0}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


@asynccontextmanager
async def _run_amqtt(
    host: str, port: int, start_timeout_s: float, stop_timeout_s: float
) -> AsyncIterator[str]:
    try:
        from amqtt.broker import Broker  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from amqtt.errors import BrokerError  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise EmbeddedBrokerError(
            "no embedded broker available: install mosquitto, or the amqtt package"
        ) from None
    for name in ("amqtt", "transitions"):  # they log every connection and state at INFO
        chatty = logging.getLogger(name)
        if chatty.level == logging.NOTSET:
            chatty.setLevel(logging.WARNING)
    broker = Broker(_amqtt_config(host, port))
    try:
        async with asyncio.timeout(start_timeout_s):
            await broker.start()
    except TimeoutError:
        raise EmbeddedBrokerError(
            f"amqtt did not start on {host}:{port} within {start_timeout_s:g} s"
        ) from None
    except BrokerError as exc:
        if isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.EADDRINUSE:
            raise _PortTaken from None
        raise EmbeddedBrokerError(f"amqtt did not start on {host}:{port}: {exc}") from None
    try:
        yield "amqtt, in process"
    finally:
        try:
            async with asyncio.timeout(stop_timeout_s):
                await broker.shutdown()
                await _cancel_amqtt_leftovers()
        except TimeoutError:
            log.warning("embedded amqtt did not shut down within %g s", stop_timeout_s)


async def _cancel_amqtt_leftovers() -> None:
    """Cancel the tasks amqtt left running after ``shutdown()``, and wait for them.

    amqtt 0.12.1 leaves one task per QoS-1 message it was still sending to a subscriber that
    had gone (seen in bench/bench_broker.py: ~1,800 after a 2,000-message retained burst);
    left alone, ``asyncio.run`` prints a traceback for each when the daemon exits.
    """
    import amqtt  # type: ignore[import-untyped,import-not-found,unused-ignore]

    package = os.path.dirname(amqtt.__file__) + os.sep
    current = asyncio.current_task()
    leftovers = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task is not current and code is not None and code.co_filename.startswith(package):
            task.cancel()
            leftovers.append(task)
    if leftovers:
        log.debug("cancelling %d task(s) amqtt left after shutdown", len(leftovers))
        await asyncio.gather(*leftovers, return_exceptions=True)
