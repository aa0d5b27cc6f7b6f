"""Simulated IP cameras for demos, tests and benchmarks (DESIGN §11 ``gridbridge simulate``).

Every camera of an inventory is served at its own loopback address: RTSP (OPTIONS, DESCRIBE,
SETUP/PLAY/TEARDOWN streaming RTP/JPEG over TCP) with Digest or Basic auth, ONVIF device and
media services with WS-Security, and an HTTP snapshot — the picture a street scene of its
own, live each second.  Faults per camera (network, protocol and picture faults) come from a
JSON mapping and change at run time through a small HTTP control API.

Public API: ``SimCamera``, ``load_inventory``, ``Simulator``, ``ShardedSimulator``,
``run_simulate``, ``KINDS``, ``Fault``, ``FaultError``, ``SimulatorError``, ``ControlServer``,
``StreamLimits``.
See docs/simulator.md.
"""

from bridge.simulator.control import DEFAULT_CONTROL, ControlServer, build_app
from bridge.simulator.faults import KINDS, Fault, FaultError, parse_faults
from bridge.simulator.media import StreamLimits
from bridge.simulator.model import AuthMode, SimCamera, SimulatorError, load_inventory, serial_for
from bridge.simulator.run import run_simulate
from bridge.simulator.server import Simulator, fds_needed
from bridge.simulator.shards import ShardedSimulator

__all__ = [
    "DEFAULT_CONTROL",
    "KINDS",
    "AuthMode",
    "ControlServer",
    "Fault",
    "FaultError",
    "ShardedSimulator",
    "SimCamera",
    "Simulator",
    "SimulatorError",
    "StreamLimits",
    "build_app",
    "fds_needed",
    "load_inventory",
    "parse_faults",
    "run_simulate",
    "serial_for",
]
