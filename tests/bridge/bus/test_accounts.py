"""Broker accounts and ACL (pure), and the broker-accounts command.

The real broker's verdict on these files is in test_acl_mosquitto.py; here the rules are
checked against the topics :class:`bridge.bus.topics.Topics` builds, with MQTT's own
matching (paho's ``topic_matches_sub``), so that ACL and topic tree cannot drift apart.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import topic_matches_sub

from bridge.bootstrap import build_store
from bridge.bus.accounts import (
    Access,
    Account,
    AccountLevel,
    acl_text,
    build_accounts,
    check_code,
    workstation_user,
)
from bridge.bus.mosquitto_passwd import parse_password_file, verify_password
from bridge.bus.topics import UNMAPPED, GridPath, Topics
from bridge.cli.accounts import account_files, broker_accounts, read_accounts_csv
from bridge.cli.commands import UserError
from bridge.model import GridCell, Level
from bridge.settings import MqttSettings, Settings, StoreSettings

ROOT = "gb"
SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


def cell(code: str, level: Level, parent: str | None, name: str = "") -> GridCell:
    return GridCell(code, name or f"{level.value} {code}", level, parent, SQUARE)


# Two townships; T1 has two villages, V1 with two grids.  Given out of tree order on purpose.
CELLS = [
    cell("G3", Level.GRID, "V2"),
    cell("T2", Level.TOWNSHIP, "D", "西城街道"),
    cell("T1", Level.TOWNSHIP, "D", "东关街道"),
    cell("V1", Level.VILLAGE, "T1", "东关社区"),
    cell("G2", Level.GRID, "V1"),
    cell("G1", Level.GRID, "V1", "东关一网格"),
    cell("V2", Level.VILLAGE, "T1"),
    cell("V3", Level.VILLAGE, "T2"),
    cell("G4", Level.GRID, "V3"),
]
PATHS = {  # where a camera of each kind sits
    "G1": GridPath("T1", "V1", "G1"),
    "G2": GridPath("T1", "V1", "G2"),
    "G3": GridPath("T1", "V2", "G3"),
    "G4": GridPath("T2", "V3", "G4"),
    "V1": GridPath("T1", "V1", "_"),  # linked to village V1 directly
    "T1": GridPath("T1", "_", "_"),  # linked to township T1 directly
    "unmapped": UNMAPPED,
}
SEES = {  # account → camera paths whose topics it may read (and request on)
    "ws-T1": {"G1", "G2", "G3", "V1", "T1"},
    "ws-T2": {"G4"},
    "ws-V1": {"G1", "G2", "V1"},
    "ws-V2": {"G3"},
    "ws-V3": {"G4"},
    "ws-G1": {"G1"},
    "ws-G2": {"G2"},
    "ws-G3": {"G3"},
    "ws-G4": {"G4"},
}


def allowed(account: Account, access: Access, topic: str) -> bool:
    return any(
        g.access in (access, Access.READWRITE) and topic_matches_sub(g.pattern, topic)
        for g in account.grants
    )


def test_one_account_per_cell_in_tree_order_after_the_bridge() -> None:
    accounts = build_accounts(CELLS, ROOT)
    assert [(a.user, a.level, a.path) for a in accounts] == [
        ("gridbridge", AccountLevel.BRIDGE, ()),
        ("ws-T1", AccountLevel.TOWNSHIP, ("T1",)),
        ("ws-V1", AccountLevel.VILLAGE, ("T1", "V1")),
        ("ws-G1", AccountLevel.GRID, ("T1", "V1", "G1")),
        ("ws-G2", AccountLevel.GRID, ("T1", "V1", "G2")),
        ("ws-V2", AccountLevel.VILLAGE, ("T1", "V2")),
        ("ws-G3", AccountLevel.GRID, ("T1", "V2", "G3")),
        ("ws-T2", AccountLevel.TOWNSHIP, ("T2",)),
        ("ws-V3", AccountLevel.VILLAGE, ("T2", "V3")),
        ("ws-G4", AccountLevel.GRID, ("T2", "V3", "G4")),
    ]
    assert accounts[3].cell_name == "东关一网格"
    assert build_accounts(list(reversed(CELLS)), ROOT) == accounts


@pytest.mark.parametrize("user", sorted(SEES))
def test_each_workstation_reads_and_requests_exactly_its_subtree(user: str) -> None:
    topics = Topics(ROOT)
    account = {a.user: a for a in build_accounts(CELLS, ROOT)}[user]
    for where, path in PATHS.items():
        mine = where in SEES[user]
        for topic in (topics.status(path, "c1"), topics.snapshot(path, "c1")):
            assert allowed(account, Access.READ, topic) is mine, topic
            assert not allowed(account, Access.WRITE, topic), topic
        assert allowed(account, Access.READ, topics.response(path, "c1")) is mine
        assert allowed(account, Access.WRITE, topics.request(path, "c1")) is mine
        assert not allowed(account, Access.WRITE, topics.response(path, "c1"))
    assert allowed(account, Access.READ, topics.bridge_state())
    assert not allowed(account, Access.WRITE, topics.bridge_state())
    # Summaries: its own cell's and those below it, none above or beside.
    assert allowed(account, Access.READ, topics.grid_summary(PATHS["G1"])) is ("G1" in SEES[user])
    assert allowed(account, Access.READ, topics.village_summary("T1", "V1")) is (
        user in ("ws-T1", "ws-V1")
    )
    assert allowed(account, Access.READ, topics.town_summary("T1")) is (user == "ws-T1")
    # Work orders go to the township's account only.
    assert allowed(account, Access.READ, topics.workorder("T1", "wo-1")) is (user == "ws-T1")
    assert not allowed(account, Access.READ, "$SYS/broker/clients/connected")


def test_bridge_account_reads_and_writes_the_whole_root_only() -> None:
    topics = Topics(ROOT)
    bridge = build_accounts(CELLS, ROOT, bridge_user="daemon")[0]
    assert bridge.user == "daemon"
    for topic in (
        topics.status(UNMAPPED, "c1"),
        topics.bridge_state(),
        topics.workorder("T1", "1"),
    ):
        assert allowed(bridge, Access.READ, topic)
        assert allowed(bridge, Access.WRITE, topic)
    assert not allowed(bridge, Access.WRITE, "other/topic")


def test_acl_text_is_mosquitto_syntax_and_deterministic() -> None:
    cells = [cell("T1", Level.TOWNSHIP, "D", "东关\n街道"), cell("V1", Level.VILLAGE, "T1")]
    text = acl_text(build_accounts(cells, "city/gb"), "city/gb")
    assert text.endswith(
        "\n"
        "# the gridbridge daemon\n"
        "user gridbridge\n"
        "topic readwrite city/gb/#\n"
        "\n"
        "# 东关 街道 (township T1)\n"
        "user ws-T1\n"
        "topic read city/gb/bridge/state\n"
        "topic read city/gb/grid/T1/#\n"
        "topic read city/gb/workorders/T1/#\n"
        "topic write city/gb/grid/T1/+/+/camera/+/request\n"
        "\n"
        "# village V1 (village V1)\n"
        "user ws-V1\n"
        "topic read city/gb/bridge/state\n"
        "topic read city/gb/grid/T1/V1/#\n"
        "topic write city/gb/grid/T1/V1/+/camera/+/request\n"
    )
    # Only comments before the first user block: nothing granted to anonymous clients.
    head = text.split("\nuser ", 1)[0]
    assert all(line.startswith("#") or not line for line in head.splitlines())
    assert "1 bridge, 1 township, 1 village, 0 grid" in text
    assert acl_text(build_accounts(cells, "city/gb"), "city/gb") == text


@pytest.mark.parametrize(
    "code", ["", "_", "a/b", "a+", "#", "a:b", "a b", "a\nb", "a\x00", "\u0085x", " a"]
)
def test_odd_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="code"):
        check_code(code)
    with pytest.raises(ValueError, match="code"):
        build_accounts([cell(code, Level.TOWNSHIP, None)], ROOT)


def test_codes_are_strings_not_digits() -> None:
    assert workstation_user("东关-01.A") == "ws-东关-01.A"


@pytest.mark.parametrize(
    ("cells", "match"),
    [
        ([cell("V1", Level.VILLAGE, "T9")], "township T9 is not in the grid map"),
        ([cell("T1", Level.TOWNSHIP, None), cell("G1", Level.GRID, "T1")], "village T1"),
        ([cell("T1", Level.TOWNSHIP, None), cell("T1", Level.TOWNSHIP, None)], "twice"),
    ],
)
def test_broken_maps_are_refused(cells: list[GridCell], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_accounts(cells, ROOT)


@pytest.mark.parametrize(
    ("root", "bridge_user", "match"),
    [
        ("gb/#", "gridbridge", "topic root"),
        ("", "gridbridge", "topic root"),
        ("$SYS", "gridbridge", "topic root"),
        ("a b", "gridbridge", "whitespace"),
        ("gb", "ws-bridge", "must not start with 'ws-'"),
        ("gb", "a:b", "user name"),
        ("gb", "a b", "user name"),
        ("gb", "", "user name"),
    ],
)
def test_bad_roots_and_bridge_users_are_refused(root: str, bridge_user: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_accounts(CELLS, root, bridge_user=bridge_user)


# --- the files of broker-accounts -------------------------------------------------------


def csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_account_files_keep_generate_remove_and_rotate() -> None:
    accounts = build_accounts(CELLS, ROOT)
    first = account_files(accounts, ROOT, previous={}, previous_hashes={})
    assert first.kept == []
    assert len(first.generated) == len(accounts)
    rows = csv_rows(first.csv)
    assert [r["account"] for r in rows] == [a.user for a in accounts]
    assert rows[0] == {
        "account": "gridbridge",
        "level": "bridge",
        "code": "",
        "name": "",
        "password": rows[0]["password"],
        "subscribe": "gb/#",
    }
    assert rows[3]["subscribe"] == "gb/grid/T1/V1/G1/#"
    passwords = {r["account"]: r["password"] for r in rows}
    hashes = parse_password_file(first.passwd)
    assert all(verify_password(passwords[u], h) for u, h in hashes.items())

    # Same map, previous files: every password and every hash line kept, byte for byte.
    again = account_files(
        accounts, ROOT, previous=passwords | {"ws-gone": "x"}, previous_hashes=hashes
    )
    assert (again.csv, again.passwd, again.acl) == (first.csv, first.passwd, first.acl)
    assert again.removed == ["ws-gone"]
    assert again.generated == []

    rotated = account_files(
        accounts, ROOT, previous=passwords, previous_hashes=hashes, rotate=["ws-G1"]
    )
    assert rotated.generated == ["ws-G1"]
    new = {r["account"]: r["password"] for r in csv_rows(rotated.csv)}
    assert new["ws-G1"] != passwords["ws-G1"]
    assert {u: p for u, p in new.items() if u != "ws-G1"} == {
        u: p for u, p in passwords.items() if u != "ws-G1"
    }
    everything = account_files(
        accounts, ROOT, previous=passwords, previous_hashes=hashes, rotate=[]
    )
    assert len(everything.generated) == len(accounts)


def test_names_cannot_become_spreadsheet_formulas() -> None:
    cells = [cell("T1", Level.TOWNSHIP, None, "=HYPERLINK(1)")]
    files = account_files(build_accounts(cells, ROOT), ROOT, previous={}, previous_hashes={})
    assert csv_rows(files.csv)[1]["name"] == "'=HYPERLINK(1)"


def test_a_foreign_accounts_csv_is_refused_with_its_row(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("account,password\nws-1,abc\nws-1,def\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"row 3: account ws-1 appears twice"):
        read_accounts_csv(path)
    path.write_text("user,secret\n", encoding="utf-8")
    with pytest.raises(UserError, match="no account or password column"):
        read_accounts_csv(path)
    assert read_accounts_csv(tmp_path / "none.csv") == {}


# --- the command ------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store=StoreSettings(data_dir=tmp_path / "data"), mqtt=MqttSettings(root=ROOT))


async def load_map(settings: Settings, cells: list[GridCell]) -> None:
    async with build_store(settings) as store:
        await store.replace_grid(cells)


def args(out: Path, **extra: Any) -> argparse.Namespace:
    values: dict[str, Any] = {"out": out, "bridge_user": None, "password_length": None}
    values |= {"rotate": None, "format": "table"} | extra
    return argparse.Namespace(**values)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_command_writes_private_files_and_prints_no_password(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await load_map(settings, CELLS)
    out = tmp_path / "broker"
    assert await broker_accounts(args(out), settings) == 0
    printed = capsys.readouterr()
    assert (mode(out / "passwd"), mode(out / "accounts.csv"), mode(out / "acl")) == (
        0o600,
        0o600,
        0o644,
    )
    rows = csv_rows((out / "accounts.csv").read_text(encoding="utf-8"))
    assert len(rows) == 10
    for row in rows:
        assert row["password"] not in printed.out + printed.err
    assert "accounts.csv (mode 0600)" in printed.out
    assert "10 accounts (1 bridge, 2 township, 3 village, 4 grid)" in printed.out
    first = {name: (out / name).read_bytes() for name in ("acl", "passwd", "accounts.csv")}

    # Re-run: nothing changes.  Then the map loses T2's branch: its accounts go, named.
    assert await broker_accounts(args(out), settings) == 0
    assert {name: (out / name).read_bytes() for name in first} == first
    await load_map(settings, [c for c in CELLS if c.code not in ("T2", "V3", "G4")])
    capsys.readouterr()
    assert await broker_accounts(args(out, format="json"), settings) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == ["ws-G4", "ws-T2", "ws-V3"]
    assert (report["kept"], report["generated"]) == (7, 0)
    assert "ws-T2" not in (out / "acl").read_text(encoding="utf-8")


async def test_command_rotates_and_refuses_unknown_accounts(
    settings: Settings, tmp_path: Path
) -> None:
    await load_map(settings, CELLS)
    out = tmp_path / "broker"
    await broker_accounts(args(out, bridge_user="daemon"), settings)
    before = read_accounts_csv(out / "accounts.csv")
    assert "daemon" in before
    await broker_accounts(args(out, bridge_user="daemon", rotate=[]), settings)
    after = read_accounts_csv(out / "accounts.csv")
    assert after.keys() == before.keys()
    assert all(after[user] != before[user] for user in before)
    with pytest.raises(UserError, match="no such account: ws-nobody"):
        await broker_accounts(args(out, rotate=["ws-nobody"]), settings)


async def test_command_with_an_empty_map_writes_the_bridge_account_and_warns(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await broker_accounts(args(tmp_path / "b"), settings) == 0
    assert "grid map is empty" in capsys.readouterr().err
    assert list(read_accounts_csv(tmp_path / "b" / "accounts.csv")) == ["gridbridge"]
