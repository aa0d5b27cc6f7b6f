"""Reports: 在线率 and 完好率 per township, village and grid, from the transition log.

The pure core: :mod:`.online_rate` (the definitions; a camera's logged states → seconds per
China-time day), :mod:`.areas` (cameras grouped into areas, sums per day, month or period,
ranking), :mod:`.chart` (the ranking as an SVG bar chart) and :mod:`.export` (JSON, CSV and
XLSX of a report, shared by the command line and the API).
:mod:`.compute` reads the store and runs the core: one report, the same numbers everywhere.
Definitions: docs/reports.md.
"""
