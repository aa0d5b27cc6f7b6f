"""The MQTT bus: the v1 contract that grid workstations subscribe to (DESIGN §4, docs/bus.md).

Pure modules (no asyncio, no I/O), usable anywhere:

- :mod:`bridge.bus.topics` — every topic, built and parsed in one place (``Topics``,
  ``GridPath``);
- :mod:`bridge.bus.payloads` — the JSON payloads (status, summary, response) and request
  parsing;
- :mod:`bridge.bus.summaries` — counts per grid, village and township, kept incrementally.

The I/O side (publisher, outbox, embedded broker, broker accounts) lives in its own modules.
This package imports nothing on purpose: importing a pure module never pulls in an MQTT client.
"""
