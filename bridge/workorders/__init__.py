"""Work orders: lasting faults become maintenance orders, verified and closed by themselves.

The pure core (DESIGN §6): :mod:`.model` (values, the common-cause Protocol), :mod:`.rules`
(knobs), :mod:`.engine` (the order book), :mod:`.steps` (legal steps), :mod:`.verify`
(automatic verification).
"""
