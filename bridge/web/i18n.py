"""Words of the web page in Chinese (the default) and English, and times in China time (pure).

One table, :data:`STRINGS`, holds every label the pages show, keyed the same in both
languages (a test holds the two key sets equal).  Words that the rest of gridbridge already
names come from their one source, not a copy: camera states (`CameraState.label_zh`), fault
labels (`health.verdict.FAULT_LABELS_ZH` / ``_EN``), order steps, kinds and priorities
(`bridge.workorders.model`) and roles (`bridge.web.principal.Role`).

A page's language: ``?lang=en`` or ``?lang=zh`` chooses (and the page sets the ``lang``
cookie so the choice sticks); otherwise the cookie; otherwise Chinese.  The browser's
``Accept-Language`` is not consulted: the operators' machines are often set up in English
by whoever installed them, and the page is for the operators.

Times are shown in China time (UTC+8, no daylight saving since 1991): ``2026-11-27 08:00``
and ``3 小时前`` — never a bare UTC time, never an hours-only time without the date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from bridge.model import CameraState, Level
from bridge.web.principal import Role
from bridge.workorders.model import OrderKind, Priority, Step
from bridge.workorders.webhook_format import CHINA_TZ
from health.verdict import FAULT_LABELS_EN, FAULT_LABELS_ZH

__all__ = [
    "CHINA_TIME",
    "COOKIE",
    "DEFAULT",
    "LANGS",
    "STRINGS",
    "Texts",
    "choose_language",
]

LANGS: Final = ("zh", "en")
DEFAULT: Final = "zh"
COOKIE: Final = "lang"
CHINA_TIME: Final = CHINA_TZ  # UTC+8, as the orders' webhooks and exports show times

_STATE_EN = {
    CameraState.ONLINE: "Online",
    CameraState.DEGRADED: "Degraded",
    CameraState.OFFLINE: "Offline",
    CameraState.UNKNOWN: "Not checked",
}
_STEP_EN = {
    Step.OPEN: "Opened",
    Step.ACCEPTED: "Accepted",
    Step.ON_SITE: "On site",
    Step.REPAIRED: "Repaired",
    Step.VERIFIED: "Verified",
    Step.CLOSED: "Closed",
}
# What a crew's button says for the step it takes (the step's own word, as contracts say).
_STEP_ACTION_EN = {
    Step.ACCEPTED: "Accept",
    Step.ON_SITE: "I am on site",
    Step.REPAIRED: "Repaired",
    Step.CLOSED: "Close",
}
_STEP_ACTION_ZH = {
    Step.ACCEPTED: "接单",
    Step.ON_SITE: "到场",
    Step.REPAIRED: "修复",
    Step.CLOSED: "结案",
}
_KIND_EN = {
    OrderKind.NETWORK: "Network fault",
    OrderKind.STREAM: "Video stream fault",
    OrderKind.LOGIN: "Login fault",
    OrderKind.PICTURE: "Picture fault",
    OrderKind.DEVICE: "Device fault",
    OrderKind.UPSTREAM: "Upstream device fault",
    OrderKind.OTHER: "Other fault",
}
_PRIORITY_EN = {Priority.KEY: "Key location", Priority.NORMAL: "Normal"}
_ROLE_EN = {Role.ADMIN: "Administrator", Role.OPERATOR: "Grid operator", Role.CREW: "Repair crew"}
_LEVEL_ZH = {Level.TOWNSHIP: "乡镇/街道", Level.VILLAGE: "村/社区", Level.GRID: "网格"}
_LEVEL_EN = {Level.TOWNSHIP: "Township", Level.VILLAGE: "Village", Level.GRID: "Grid"}

# fmt: off
_ZH: dict[str, str] = {
    "app.name": "网格视频巡检",
    "app.tagline": "摄像机状态 · 画面 · 维修工单",
    "nav.main": "主导航",
    "nav.skip": "跳到正文",
    "nav.grid": "网格",
    "nav.map": "地图",
    "nav.orders": "工单",
    "nav.reports": "报表",
    "nav.home": "首页",
    "nav.up": "返回上一级",
    "nav.breadcrumb": "当前位置",
    "user.signed_in_as": "当前用户",
    "user.logout": "退出登录",
    "lang.switch": "English",
    "lang.switch_label": "Switch to English",
    "btn.refresh_picture": "刷新画面",
    "btn.live": "实时画面",
    "btn.stop_live": "停止实时画面",
    "btn.open_camera": "查看摄像机",
    "btn.open_order": "查看工单",
    "btn.back": "返回",
    "btn.submit": "提交",
    "btn.cancel": "取消",
    "btn.export_csv": "导出 CSV",
    "btn.export_xlsx": "导出 Excel",
    "btn.print": "打印",
    "btn.refresh_page": "刷新页面",
    "confirm.step": "确定要「{step}」吗？",
    "confirm.refresh_picture": "现在向摄像机要一张新画面？",
    "camera.key": "重点",
    "camera.key_long": "重点部位",
    "camera.id": "编号",
    "camera.place": "位置",
    "camera.faults": "故障",
    "camera.no_faults": "无故障",
    "camera.since": "开始于",
    "camera.checked": "最近检测",
    "camera.never_checked": "尚未检测",
    "camera.picture_alt": "{name}的最新画面",
    "camera.picture_time": "画面时间",
    "camera.no_picture": "暂无画面",
    "camera.flapping": "状态频繁变化",
    "camera.count": "{n} 台摄像机",
    "camera.not_on_map": "{n} 台摄像机没有坐标，未在地图上显示",
    "order.id": "工单号",
    "order.step": "状态",
    "order.kind": "类型",
    "order.priority": "优先级",
    "order.faults": "故障",
    "order.cameras": "摄像机",
    "order.upstream": "上游设备",
    "order.place": "地点",
    "order.coords": "坐标",
    "order.opened": "派单时间",
    "order.deadline": "时限",
    "order.respond_by": "响应时限",
    "order.repair_by": "修复时限",
    "order.overdue": "已超时",
    "order.left": "还剩 {span}",
    "order.late": "超时 {span}",
    "order.before": "故障时画面",
    "order.after": "修复后画面",
    "order.note": "备注（可不填）",
    "order.next": "下一步",
    "order.self_recovered": "摄像机已自行恢复",
    "order.none": "没有待处理的工单",
    "counts.total": "共 {n} 台",
    "counts.online_rate": "在线率",
    "counts.no_rate": "暂无",
    "counts.label": "摄像机状态统计",
    "map.title": "地图",
    "map.legend": "图例",
    "map.district": "全区",
    "map.grid_summary": "{name}：共 {total} 台，在线 {online}，异常 {degraded}，离线 {offline}，未检测 {unknown}",  # noqa: E501
    "map.aggregated": "摄像机较多，每个网格显示为一个圆点，数字为需要处理的摄像机台数",
    "level.district": "区",
    "time.just_now": "刚刚",
    "time.minutes_ago": "{n} 分钟前",
    "time.hours_ago": "{n} 小时前",
    "time.days_ago": "{n} 天前",
    "time.minutes": "{n} 分钟",
    "time.hours": "{n} 小时",
    "time.days": "{n} 天",
    "time.today": "今天 {hm}",
    "time.yesterday": "昨天 {hm}",
    "time.tomorrow": "明天 {hm}",
    "time.never": "从未",
    "error.title": "出错了",
    "error.400.title": "请求有误",
    "error.400.text": "页面收到的内容不完整或不正确。请返回上一页重新操作。",
    "error.401.title": "请先登录",
    "error.401.text": "登录已过期或尚未登录。请重新登录后再试。",
    "error.403.title": "没有权限",
    "error.403.text": "您的账号不能查看或操作这里的内容。如果需要，请联系区里的系统管理员。",
    "error.404.title": "找不到这个页面",
    "error.404.text": "您要找的页面或摄像机不存在，或者不在您负责的网格内。",
    "error.500.title": "系统出了点问题",
    "error.500.text": "这不是您操作的问题。请稍后刷新页面再试；如果一直这样，请联系区里的系统管理员。",  # noqa: E501
    "error.503.title": "系统正忙",
    "error.503.text": "现在看的人太多了，请稍后再试。",
    "error.home": "回到首页",
    "footer.note": "画面和状态每分钟自动更新",
}

_EN: dict[str, str] = {
    "app.name": "Grid Camera Watch",
    "app.tagline": "Camera states · pictures · repair orders",
    "nav.main": "Main",
    "nav.skip": "Skip to content",
    "nav.grid": "Grid",
    "nav.map": "Map",
    "nav.orders": "Orders",
    "nav.reports": "Reports",
    "nav.home": "Home",
    "nav.up": "Up one level",
    "nav.breadcrumb": "You are here",
    "user.signed_in_as": "Signed in as",
    "user.logout": "Sign out",
    "lang.switch": "中文",
    "lang.switch_label": "切换到中文",
    "btn.refresh_picture": "New picture",
    "btn.live": "Live view",
    "btn.stop_live": "Stop live view",
    "btn.open_camera": "Open camera",
    "btn.open_order": "Open order",
    "btn.back": "Back",
    "btn.submit": "Submit",
    "btn.cancel": "Cancel",
    "btn.export_csv": "Export CSV",
    "btn.export_xlsx": "Export Excel",
    "btn.print": "Print",
    "btn.refresh_page": "Reload page",
    "confirm.step": "Really mark this order “{step}”?",
    "confirm.refresh_picture": "Ask the camera for a new picture now?",
    "camera.key": "Key",
    "camera.key_long": "Key location",
    "camera.id": "ID",
    "camera.place": "Place",
    "camera.faults": "Faults",
    "camera.no_faults": "No faults",
    "camera.since": "Since",
    "camera.checked": "Last checked",
    "camera.never_checked": "Not checked yet",
    "camera.picture_alt": "Latest picture of {name}",
    "camera.picture_time": "Picture taken",
    "camera.no_picture": "No picture yet",
    "camera.flapping": "State keeps changing",
    "camera.count": "{n} cameras",
    "camera.not_on_map": "{n} cameras have no coordinates and are not on the map",
    "order.id": "Order",
    "order.step": "Progress",
    "order.kind": "Kind",
    "order.priority": "Priority",
    "order.faults": "Faults",
    "order.cameras": "Cameras",
    "order.upstream": "Upstream device",
    "order.place": "Place",
    "order.coords": "Coordinates",
    "order.opened": "Opened",
    "order.deadline": "Deadline",
    "order.respond_by": "Accept by",
    "order.repair_by": "Repair by",
    "order.overdue": "Overdue",
    "order.left": "{span} left",
    "order.late": "{span} overdue",
    "order.before": "Picture at the fault",
    "order.after": "Picture after repair",
    "order.note": "Note (optional)",
    "order.next": "Next step",
    "order.self_recovered": "The camera recovered by itself",
    "order.none": "No orders to do",
    "counts.total": "{n} in all",
    "counts.online_rate": "Online rate",
    "counts.no_rate": "n/a",
    "counts.label": "Cameras by state",
    "map.title": "Map",
    "map.legend": "Legend",
    "map.district": "Whole district",
    "map.grid_summary": "{name}: {total} cameras, {online} online, {degraded} degraded, {offline} offline, {unknown} not checked",  # noqa: E501
    "map.aggregated": "Many cameras: one dot per grid, the number is how many need attention",
    "level.district": "District",
    "time.just_now": "just now",
    "time.minutes_ago": "{n} min ago",
    "time.hours_ago": "{n} h ago",
    "time.days_ago": "{n} days ago",
    "time.minutes": "{n} min",
    "time.hours": "{n} h",
    "time.days": "{n} days",
    "time.today": "today {hm}",
    "time.yesterday": "yesterday {hm}",
    "time.tomorrow": "tomorrow {hm}",
    "time.never": "never",
    "error.title": "Something went wrong",
    "error.400.title": "Bad request",
    "error.400.text": "The page received incomplete or wrong data. Go back and try again.",
    "error.401.title": "Please sign in",
    "error.401.text": "Your session has ended or you have not signed in yet.",
    "error.403.title": "Not allowed",
    "error.403.text": "Your account may not see or change this. Ask the district's administrator if you need it.",  # noqa: E501
    "error.404.title": "Page not found",
    "error.404.text": "The page or camera does not exist, or it is outside your grids.",
    "error.500.title": "The system has a problem",
    "error.500.text": "It is not your fault. Reload the page in a while; if it keeps happening, tell the district's administrator.",  # noqa: E501
    "error.503.title": "The system is busy",
    "error.503.text": "Too many people are watching right now; try again in a while.",
    "error.home": "Back to the start page",
    "footer.note": "Pictures and states update every minute",
}
# fmt: on


def _merged(base: dict[str, str], prefix: str, labels: Mapping[str, str]) -> None:
    for code, label in labels.items():
        base[f"{prefix}.{code}"] = label


for _state in CameraState:
    _ZH[f"state.{_state.value}"] = _state.label_zh
    _EN[f"state.{_state.value}"] = _STATE_EN[_state]
_merged(_ZH, "fault", FAULT_LABELS_ZH)
_merged(_EN, "fault", FAULT_LABELS_EN)
for _step in Step:
    _ZH[f"step.{_step.value}"] = _step.label_zh
    _EN[f"step.{_step.value}"] = _STEP_EN[_step]
for _step, _word in _STEP_ACTION_ZH.items():
    _ZH[f"action.{_step.value}"] = _word
    _EN[f"action.{_step.value}"] = _STEP_ACTION_EN[_step]
for _kind in OrderKind:
    _ZH[f"kind.{_kind.value}"] = _kind.label_zh
    _EN[f"kind.{_kind.value}"] = _KIND_EN[_kind]
for _priority in Priority:
    _ZH[f"priority.{_priority.value}"] = _priority.label_zh
    _EN[f"priority.{_priority.value}"] = _PRIORITY_EN[_priority]
for _role in Role:
    _ZH[f"role.{_role.value}"] = _role.label_zh
    _EN[f"role.{_role.value}"] = _ROLE_EN[_role]
for _level in Level:
    _ZH[f"level.{_level.value}"] = _LEVEL_ZH[_level]
    _EN[f"level.{_level.value}"] = _LEVEL_EN[_level]

STRINGS: Final[Mapping[str, Mapping[str, str]]] = {"zh": _ZH, "en": _EN}


def choose_language(query: str | None, cookie: str | None) -> tuple[str, bool]:
    """The page's language and whether the ``lang`` cookie should be (re)set: a valid
    ``?lang=`` wins and is remembered; else a valid cookie; else Chinese."""
    if query in LANGS:
        return query, query != cookie
    if cookie in LANGS:
        return cookie, False
    return DEFAULT, False


class Texts:
    """The words and time formats of one page in one language, at one ``now``.

    Templates call it as ``t("nav.grid")``; a key that does not exist raises ``KeyError``
    (a typo in a template fails its test, not silently in front of an operator).
    """

    def __init__(self, lang: str = DEFAULT, now: datetime | None = None) -> None:
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}")
        self.lang = lang
        self.now = now if now is not None else datetime.now(UTC)
        self._table = STRINGS[lang]

    @property
    def html_lang(self) -> str:
        return "zh-CN" if self.lang == "zh" else "en"

    @property
    def colon(self) -> str:
        """After a label: full-width in Chinese."""
        return "：" if self.lang == "zh" else ": "

    def paren(self, text: str) -> str:
        """``text`` in brackets: full-width in Chinese."""
        return f"（{text}）" if self.lang == "zh" else f"({text})"

    def __call__(self, key: str, **values: object) -> str:
        text = self._table[key]
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._table

    # --- domain words -------------------------------------------------------------------

    def state(self, state: str) -> str:
        """The word of a camera state; an unknown code is shown as itself."""
        return self._table.get(f"state.{state}", str(state))

    def fault(self, code: str) -> str:
        return self._table.get(f"fault.{code}", code)

    def faults(self, codes: Iterable[str]) -> str:
        """Fault labels joined, each once (too_dark and too_bright share 亮度异常)."""
        sep = "、" if self.lang == "zh" else ", "
        return sep.join(dict.fromkeys(self.fault(c) for c in codes))

    def step(self, step: str) -> str:
        return self._table.get(f"step.{step}", str(step))

    def action(self, step: str) -> str:
        return self._table.get(f"action.{step}", self.step(step))

    def kind(self, kind: str) -> str:
        return self._table.get(f"kind.{kind}", str(kind))

    def priority(self, priority: str) -> str:
        return self._table.get(f"priority.{priority}", str(priority))

    def role(self, role: str) -> str:
        return self._table.get(f"role.{role}", str(role))

    def level(self, level: str) -> str:
        return self._table.get(f"level.{level}", str(level))

    def number(self, n: int) -> str:
        return f"{n:,}" if self.lang == "en" else str(n)

    def percent(self, rate: float | None) -> str:
        """``96.5%``, or 暂无 when there is no rate (no camera with a known state)."""
        return self("counts.no_rate") if rate is None else f"{rate * 100:.1f}%"

    # --- time ---------------------------------------------------------------------------

    @staticmethod
    def local(at: datetime) -> datetime:
        """``at`` in China time (a naive datetime is taken as UTC, as the store keeps it)."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return at.astimezone(CHINA_TIME)

    @staticmethod
    def iso(at: datetime) -> str:
        """For ``<time datetime=…>``: ISO 8601 in China time, to the second."""
        return Texts.local(at).isoformat(timespec="seconds")

    def when(self, at: datetime | None) -> str:
        """``2026-11-27 08:00`` (China time); ``今天 08:00``, ``昨天 …``, ``明天 …`` when
        close (deadlines are often tomorrow)."""
        if at is None:
            return self("time.never")
        local, today = self.local(at), self.local(self.now).date()
        hm = local.strftime("%H:%M")
        if local.date() == today:
            return self("time.today", hm=hm)
        if local.date() == today - timedelta(days=1):
            return self("time.yesterday", hm=hm)
        if local.date() == today + timedelta(days=1):
            return self("time.tomorrow", hm=hm)
        return local.strftime("%Y-%m-%d %H:%M")

    def moment(self, at: datetime | None) -> str:
        """How long ago, with the time beside it (never on hover only): ``3 小时前（今天
        11:30）``; past 30 days the date and time alone."""
        if at is None:
            return self("time.never")
        ago, when = self.ago(at), self.when(at)
        if ago == self.date(at):
            return when
        return ago + self.paren(when) if self.lang == "zh" else f"{ago} {self.paren(when)}"

    def date(self, at: datetime) -> str:
        return self.local(at).strftime("%Y-%m-%d")

    def span(self, seconds: float) -> str:
        """A duration in the largest unit that keeps it readable: ``45 分钟``, ``5 小时``,
        ``3 天`` (hours up to two days: "36 小时" says more than "1 天" to a crew)."""
        seconds = abs(seconds)
        if seconds < 3600:
            return self("time.minutes", n=max(1, int(seconds // 60)))
        if seconds < 48 * 3600:
            return self("time.hours", n=int(seconds // 3600))
        return self("time.days", n=int(seconds // 86400))

    def ago(self, at: datetime | None) -> str:
        """``刚刚``, ``5 分钟前``, ``3 小时前``, ``2 天前``; a date after 30 days."""
        if at is None:
            return self("time.never")
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        seconds = (self.now - at).total_seconds()
        if seconds < 60:
            return self("time.just_now")
        if seconds < 3600:
            return self("time.minutes_ago", n=int(seconds // 60))
        if seconds < 24 * 3600:
            return self("time.hours_ago", n=int(seconds // 3600))
        if seconds < 30 * 86400:
            return self("time.days_ago", n=int(seconds // 86400))
        return self.date(at)

    def until(self, at: datetime) -> tuple[str, bool]:
        """A deadline as ``(还剩 3 小时, False)`` or ``(超时 2 小时, True)``."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        seconds = (at - self.now).total_seconds()
        if seconds >= 0:
            return self("order.left", span=self.span(seconds)), False
        return self("order.late", span=self.span(seconds)), True
