"""The camera directory (pure): a real Fleet over the demo grid map and hand-made cameras;
states set by feeding the fleet transitions as the daemon does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.geojson import read_grid_file
from bridge.bus.summaries import Counts
from bridge.bus.topics import Topics
from bridge.fleet import Fleet
from bridge.grid import GridIndex, validate_cells
from bridge.model import CameraState, CameraView, Mapping
from bridge.tracker import Transition
from bridge.web.directory import CameraDirectory, TreeNode
from bridge.web.principal import Principal, Role
from tests.bridge.web.support import DEMO

CELLS, _ = validate_cells(read_grid_file(DEMO / "grid.geojson"))
INDEX = GridIndex(CELLS)
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
TOWN = "419901001"
VILLAGE = "419901001002"
G1, G2 = "419901001002003", "419901001002004"  # two grids of one village
G_OTHER_VILLAGE = "419901001001001"
G_OTHER_TOWN = "419901002001001"

ADMIN = Principal("root", Role.ADMIN)
OP_G1 = Principal("王", Role.OPERATOR, G1)
OP_VILLAGE = Principal("李", Role.OPERATOR, VILLAGE)
OP_NO_SCOPE = Principal("nobody", Role.OPERATOR)
CREW_ALL = Principal("张师傅", Role.CREW)
CREW_TOWN2 = Principal("赵师傅", Role.CREW, "419901002")


def view(cam_id: str, *grids: str, name: str = "", address: str = "") -> CameraView:
    return CameraView(
        id=cam_id,
        name=name or f"点位{cam_id}",
        host=f"127.0.0.{len(grids) + 1}",
        grids=tuple(grids),
        mapping=Mapping.EXPLICIT if grids else Mapping.UNMAPPED,
        state=CameraState.UNKNOWN,
        faults=(),
        since=None,
        checked_at=None,
        key_location=False,
        upstream_id=None,
        vendor="海康",
        model="DS-2CD",
        address=address,
        lon_wgs84=None,
        lat_wgs84=None,
    )


VIEWS = [
    view("A1", G1, name="东门", address="解放路1号"),
    view("A2", G1, name="西门"),
    view("A3", G1, G2, name="桥头"),  # linked to two grids of the village
    view("B1", G2, name="菜市场"),
    view("C1", G_OTHER_VILLAGE, name="学校"),
    view("D1", G_OTHER_TOWN, name="渡口"),
    view("U1", name="城外", address="郊外"),  # unmapped
]


def world() -> tuple[Fleet, CameraDirectory]:
    fleet = Fleet(Topics("gb"))
    fleet.load(VIEWS, INDEX, T0)
    directory = CameraDirectory(fleet)
    directory.load(INDEX, VIEWS)
    return fleet, directory


def move(fleet: Fleet, cam: str, state: CameraState, at: datetime, *faults: str) -> None:
    old = fleet.state_of(cam)
    assert old is not None
    fleet.on_transition(Transition(cam, at, old, state, tuple(faults), False, "test"))


def ids(entries: list) -> list[str]:
    return [e.id for e in entries]


def test_broken_first_then_longest_in_its_state() -> None:
    fleet, directory = world()
    move(fleet, "A1", CameraState.ONLINE, T0)
    move(fleet, "A2", CameraState.OFFLINE, T0 + timedelta(minutes=5), "unreachable")
    move(fleet, "B1", CameraState.OFFLINE, T0 + timedelta(minutes=1), "unreachable")
    move(fleet, "C1", CameraState.DEGRADED, T0, "black")
    move(fleet, "D1", CameraState.ONLINE, T0 - timedelta(hours=1))
    # offline (longest first), degraded, unknown (never changed: by id), online (longest first)
    assert ids(directory.cameras(ADMIN)) == ["B1", "A2", "C1", "A3", "U1", "D1", "A1"]


def test_filters() -> None:
    fleet, directory = world()
    move(fleet, "A2", CameraState.OFFLINE, T0, "unreachable")
    assert ids(directory.cameras(ADMIN, state="offline")) == ["A2"]
    assert ids(directory.cameras(ADMIN, grid=G1)) == ["A2", "A1", "A3"]
    assert ids(directory.cameras(ADMIN, grid=VILLAGE)) == ["A2", "A1", "A3", "B1"]
    assert ids(directory.cameras(ADMIN, grid=TOWN)) == ["A2", "A1", "A3", "B1", "C1"]
    assert ids(directory.cameras(ADMIN, query="门")) == ["A2", "A1"]  # by name
    assert ids(directory.cameras(ADMIN, query="解放路")) == ["A1"]  # by address
    assert ids(directory.cameras(ADMIN, query="u1")) == ["U1"]  # by id, any case
    assert ids(directory.cameras(ADMIN, grid=G1, state="online")) == []
    assert directory.cameras(ADMIN, grid="_") == []


def test_scope_decides_what_is_seen() -> None:
    _, directory = world()
    assert ids(directory.cameras(OP_G1)) == ["A1", "A2", "A3"]
    assert ids(directory.cameras(OP_VILLAGE)) == ["A1", "A2", "A3", "B1"]
    assert ids(directory.cameras(OP_NO_SCOPE)) == []
    assert len(directory.cameras(ADMIN)) == len(VIEWS)  # the unmapped one too
    assert len(directory.cameras(CREW_ALL)) == len(VIEWS)
    assert ids(directory.cameras(CREW_TOWN2)) == ["D1"]
    # One camera: out of scope is answered as unknown.
    assert directory.entry(OP_G1, "A1") is not None
    assert directory.entry(OP_G1, "B1") is None
    assert directory.entry(OP_G1, "U1") is None
    assert directory.entry(OP_G1, "nope") is None
    unmapped = directory.entry(ADMIN, "U1")
    assert unmapped is not None
    assert unmapped.mapping is Mapping.UNMAPPED
    entry = directory.entry(OP_VILLAGE, "A3")
    assert entry is not None
    assert (entry.mapping, entry.host) == (Mapping.EXPLICIT, "127.0.0.3")
    assert directory.camera_ids(ADMIN, G2) == ["A3", "B1"]
    assert directory.camera_ids(OP_G1, G2) == ["A3"]
    assert directory.camera_ids(OP_G1) == ["A1", "A2", "A3"]


def _codes(nodes: tuple[TreeNode, ...]) -> list[str]:
    return [n.cell.code for n in nodes]


def test_the_tree_of_an_operator_is_the_way_down_to_its_grid() -> None:
    fleet, directory = world()
    move(fleet, "A1", CameraState.ONLINE, T0)
    move(fleet, "B1", CameraState.OFFLINE, T0, "unreachable")
    tree = directory.tree(OP_G1)
    [town] = tree.nodes
    [village] = town.children
    [grid] = village.children
    assert (town.cell.code, village.cell.code, grid.cell.code) == (TOWN, VILLAGE, G1)
    assert (town.cell.name, grid.cell.level.value) == ("东关街道", "grid")
    mine = Counts(online=1, unknown=2)
    # Its township and village count its grid only (B1, offline in G2, is not its business).
    assert town.counts == village.counts == grid.counts == mine
    assert tree.total == mine
    assert tree.unmapped is None


def test_the_tree_of_a_village_operator_has_all_its_grids() -> None:
    fleet, directory = world()
    move(fleet, "B1", CameraState.OFFLINE, T0, "unreachable")
    tree = directory.tree(OP_VILLAGE)
    [town] = tree.nodes
    [village] = town.children
    assert village.cell.code == VILLAGE
    by_code = {n.cell.code: n.counts for n in village.children}
    assert by_code[G1] == Counts(unknown=3)
    assert by_code[G2] == Counts(offline=1, unknown=1)  # A3 counts in both grids…
    assert village.counts == town.counts == Counts(offline=1, unknown=3)  # …once here
    assert tree.total == Counts(offline=1, unknown=3)
    grids = [c.code for c in CELLS if c.parent == VILLAGE]
    assert [n.cell.code for n in village.children] == sorted(grids)  # empty grids shown too


def test_the_admin_tree_has_every_cell_and_the_unmapped() -> None:
    fleet, directory = world()
    move(fleet, "U1", CameraState.OFFLINE, T0, "unreachable")
    tree = directory.tree(ADMIN)
    assert _codes(tree.nodes) == sorted(c.code for c in CELLS if c.level.value == "township")
    assert sum(1 + len(v.children) for t in tree.nodes for v in t.children) == len(CELLS) - 6
    assert tree.total == Counts(offline=1, unknown=6)
    assert tree.unmapped == Counts(offline=1)
    [other] = [n for n in tree.nodes if n.cell.code == "419901002"]
    assert other.counts == Counts(unknown=1)
    empty = [n for n in tree.nodes if n.cell.code == "419901006"]
    assert empty[0].counts == Counts()


def test_nothing_for_an_operator_without_scope() -> None:
    _, directory = world()
    tree = directory.tree(OP_NO_SCOPE)
    assert tree.nodes == ()
    assert tree.total == Counts()
    stale = directory.tree(Principal("x", Role.OPERATOR, "419999999999"))  # not in the map
    assert stale.nodes == ()


def test_a_reload_moves_cameras_and_names_cells() -> None:
    fleet, directory = world()
    moved = [v if v.id != "B1" else view("B1", G1, name="菜市场") for v in VIEWS]
    fleet.load(moved, INDEX, T0)
    directory.load(INDEX, moved)
    assert ids(directory.cameras(OP_G1)) == ["A1", "A2", "A3", "B1"]
    cell = directory.cell(G1)
    assert cell is not None
    [path] = fleet.paths_of("A1")
    assert [c.code for c in directory.path_cells(path)] == [TOWN, VILLAGE, G1]
    assert directory.sees_cell(OP_G1, G1)
    assert not directory.sees_cell(OP_G1, G2)
    assert not directory.sees_cell(OP_G1, TOWN)


def test_a_page_of_the_list_and_the_total() -> None:
    fleet, directory = world()
    move(fleet, "B1", CameraState.OFFLINE, T0, "unreachable")
    total, page = directory.page(ADMIN, offset=1, limit=2)
    assert total == len(VIEWS)
    assert ids(page) == ids(directory.cameras(ADMIN))[1:3]
    assert directory.page(OP_G1, offset=0, limit=10, query="门")[0] == 2
    assert directory.page(OP_G1, offset=5, limit=10) == (3, [])
    # A record handed out stays as it was asked; the fleet moves on.
    before = directory.entry(ADMIN, "A1")
    move(fleet, "A1", CameraState.ONLINE, T0)
    after = directory.entry(ADMIN, "A1")
    assert before is not None
    assert after is not None
    assert (before.state, after.state) == ("unknown", "online")
