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
    "order.grid": "网格",
    "order.open_map": "地图应用",
    "order.open_amap": "高德地图",
    "order.upstream_title": "上游设备故障：{n} 台摄像机",
    "order.and_more": " 等 {n} 台",
    "order.closed_at": "结案时间",
    "order.repeats": "返修次数",
    "order.before_alt": "{name}故障时的画面",
    "order.after_alt": "{name}修复后的画面",
    "order.pictures": "现场画面",
    "order.places": "摄像机和位置",
    "order.timeline": "处理记录",
    "order.system": "系统",
    "order.now_state": "现在",
    "order.waiting_short": "等待系统验收",
    "order.waiting": "等待系统验收：摄像机恢复正常并拍到正常画面后，工单自动结案。",
    "order.hint.accepted": "确认由您负责处理这张工单。",
    "order.hint.on_site": "到达现场后点这里。",
    "order.hint.repaired": "修好后点这里，系统马上检测摄像机，正常即自动验收结案。",
    "order.done": "已记录「{step}」。",
    "order.refused": "没有完成「{step}」：",
    "order.read_only": "网格员只能查看工单；接单、到场、修复由维修人员操作。",
    "order.close_title": "手工结案",
    "order.close_help": "只用于摄像机已拆除、误报等情况。修好的摄像机由系统自动验收结案，不需要手工结案。",  # noqa: E501
    "order.close_note": "结案原因（必填）",
    "order.back": "返回工单列表",
    "event.opened": "派单",
    "event.reopened": "返修（故障又出现）",
    "event.escalated": "超时",
    "event.cameras_added": "增加摄像机",
    "event.faults_changed": "发现新故障",
    "orders.tabs": "工单分类",
    "orders.tab_open": "待处理",
    "orders.tab_closed": "近 {days} 天已结案",
    "orders.filter": "筛选",
    "orders.filter_apply": "按条件显示",
    "orders.who": "范围",
    "orders.who_all": "全部工单",
    "orders.who_mine": "我处理的",
    "orders.state": "进度",
    "orders.state_all": "全部进度",
    "orders.summary": "共 {n} 张",
    "orders.summary_late": "其中 {n} 张已超时",
    "orders.none_closed": "近 {days} 天没有结案的工单",
    "orders.sorted": "已超时的在前，其余按时限先后排列。",
    "report.title": "在线率报表",
    "report.form": "报表条件",
    "report.by": "统计层级",
    "report.from": "开始日期",
    "report.to": "结束日期",
    "report.per": "时段",
    "report.per.total": "整个时段",
    "report.per.day": "按日",
    "report.per.month": "按月",
    "report.rank": "排序依据",
    "report.metric.online": "在线率",
    "report.metric.intact": "完好率",
    "report.submit": "生成报表",
    "report.scope": "统计范围",
    "report.caption": "{first} 至 {last}，按{level}统计，{metric}低的排在前面",
    "report.until": "统计截至 {when}",
    "report.down": "期间 gridbridge 有 {n} 段未运行（共 {hours} 小时），这段时间无人监测，不计入监测时长",  # noqa: E501
    "report.col.rank": "排名",
    "report.col.area": "区域",
    "report.col.period": "时段",
    "report.col.cameras": "摄像机（台）",
    "report.col.monitored": "监测时长（小时）",
    "report.total": "合计",
    "report.unmapped": "未关联网格",
    "report.none": "所选层级没有可统计的区域。请选择您负责的区域或更细的层级（例如“网格”）。",
    "report.cut": "表格只显示前 {n} 行，完整数据请导出。",
    "report.chart": "排名图",
    "report.table": "排名表",
    "report.short_def": "在线率＝在线时长÷监测时长；完好率＝完好时长（在线且画面正常）÷监测时长。监测时长不含“未检测”的时间。",  # noqa: E501
    "report.chart_note": "图中为{metric}最低的 {n} 个区域（绿色≥95%，黄色≥80%，红色<80%）。",
    "report.exports": "导出",
    "report.definitions": "名词解释",
    "report.docs": "完整说明见随软件提供的文档 docs/reports.md（报表：在线率和完好率）。",
    "report.bad_date": "日期不正确，请按“年-月-日”填写，例如 2026-11-01。",
    "report.bad_order": "结束日期早于开始日期。",
    "report.too_long": "一次最多统计 {n} 天。",
    "report.not_begun": "开始日期还没有到。",
    "report.busy": "正在计算另一份报表，请稍后再试。",
    "report.store": "数据库暂时不可用，请稍后再试。",
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
    "error.csrf.text": "这个页面已经过期（可能在别处重新登录过）。请刷新页面后再操作一次。",
    "footer.note": "画面和状态每分钟自动更新",
    # --- operator pages: grid tree, grid, camera, live view, map (bridge/web/pages*.py)
    "tree.title": "网格总览",
    "tree.unmapped": "未关联网格",
    "tree.unmapped_note": "{n} 台摄像机不在任何网格内（照常检测）",
    "tree.empty": "您负责的范围内还没有摄像机",
    "counts.none": "没有摄像机",
    "grid.below.village": "下属村/社区",
    "grid.below.grid": "下属网格",
    "grid.cameras": "摄像机",
    "grid.filter": "按状态筛选",
    "grid.filter_all": "全部",
    "grid.showing": "第 {first}–{last} 台，共 {total} 台",
    "grid.none": "这里没有摄像机",
    "grid.none_state": "没有状态为「{state}」的摄像机",
    "grid.code": "编码",
    "grid.unmapped_title": "未关联网格的摄像机",
    "grid.unmapped_text": "这些摄像机的坐标不在任何网格内，也没有指定网格编码，所以不属于任何网格员。它们照常检测；请在台账中补上网格编码或坐标。",  # noqa: E501
    "pager.label": "翻页",
    "pager.prev": "上一页",
    "pager.next": "下一页",
    "pager.page": "第 {n} 页",
    "pager.of": "第 {page} / {pages} 页",
    "camera.state": "状态",
    "camera.latest": "最新画面",
    "camera.history": "历史画面",
    "camera.history_none": "还没有历史画面",
    "camera.history_alt": "{name}：{when}的画面",
    "camera.timeline": "状态变化记录",
    "camera.timeline_none": "还没有状态变化记录",
    "camera.timeline_note": "最新的在最上面，最多显示 {n} 次",
    "camera.became": "变为",
    "camera.order": "维修工单",
    "camera.no_order": "没有未完成的维修工单",
    "camera.details": "设备信息",
    "camera.vendor": "厂商/型号",
    "camera.coords": "坐标",
    "camera.grids": "所属网格",
    "camera.upstream": "上游设备",
    "camera.host": "网络地址",
    "camera.no_picture_text": "还没有这台摄像机的画面：可能还没来得及检测，或没有开启画面检测。",
    "notice.refresh": "已请求刷新，约 1 分钟内更新",
    "notice.wait": "刚刚已请求过刷新，请 {n} 秒后再试",
    "notice.no_address": "这台摄像机没有登记网络地址，无法检测",
    "btn.back_to_camera": "返回摄像机",
    "live.alt": "{name}的实时画面",
    "live.note": "实时画面每秒约 {fps} 帧，连续观看最长 {minutes} 分钟。",
    "live.ended": "已连续观看 {minutes} 分钟，实时画面已暂停。",
    "live.failed": "实时画面中断了，请稍后再试。",
    "live.resume": "继续观看",
    "live.reconnect": "重新连接",
    "map.of": "{name}地图",
    "map.list": "摄像机列表",
    "map.help": "点击区域进入下一级；点击标记查看摄像机。",
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
    "order.grid": "Grid",
    "order.open_map": "Map app",
    "order.open_amap": "Amap (高德)",
    "order.upstream_title": "Upstream device down: {n} cameras",
    "order.and_more": " and more ({n} in all)",
    "order.closed_at": "Closed",
    "order.repeats": "Repeats",
    "order.before_alt": "Picture of {name} at the fault",
    "order.after_alt": "Picture of {name} after the repair",
    "order.pictures": "Pictures",
    "order.places": "Cameras and places",
    "order.timeline": "History",
    "order.system": "System",
    "order.now_state": "Now",
    "order.waiting_short": "Waiting for verification",
    "order.waiting": "Waiting for verification: the order closes by itself once the camera is healthy and shows a good picture.",  # noqa: E501
    "order.hint.accepted": "Take this order: you will see to the repair.",
    "order.hint.on_site": "Press when you have arrived.",
    "order.hint.repaired": "Press when it is fixed: the camera is checked at once and the order closes by itself when it is healthy.",  # noqa: E501
    "order.done": "Recorded: {step}.",
    "order.refused": "Not done: {step}. ",
    "order.read_only": "Grid operators can read orders; crews take the steps.",
    "order.close_title": "Close by hand",
    "order.close_help": "Only for a removed camera, a false alarm and the like. A repaired camera is verified and its order closed by the system.",  # noqa: E501
    "order.close_note": "Why it is closed (required)",
    "order.back": "Back to the orders",
    "event.opened": "Opened",
    "event.reopened": "Reopened (the fault came back)",
    "event.escalated": "Overdue",
    "event.cameras_added": "Cameras added",
    "event.faults_changed": "New faults",
    "orders.tabs": "Order lists",
    "orders.tab_open": "To do",
    "orders.tab_closed": "Closed, last {days} days",
    "orders.filter": "Filter",
    "orders.filter_apply": "Show",
    "orders.who": "Whose",
    "orders.who_all": "All orders",
    "orders.who_mine": "Mine",
    "orders.state": "Progress",
    "orders.state_all": "Any progress",
    "orders.summary": "{n} orders",
    "orders.summary_late": "{n} of them overdue",
    "orders.none_closed": "No orders closed in the last {days} days",
    "orders.sorted": "Overdue first, then by deadline.",
    "report.title": "Online-rate report",
    "report.form": "Report options",
    "report.by": "Rows by",
    "report.from": "From",
    "report.to": "To",
    "report.per": "Per",
    "report.per.total": "Whole period",
    "report.per.day": "Day",
    "report.per.month": "Month",
    "report.rank": "Rank by",
    "report.metric.online": "Online rate",
    "report.metric.intact": "Intact rate",
    "report.submit": "Show report",
    "report.scope": "Scope",
    "report.caption": "{first} to {last}, by {level}, lowest {metric} first",
    "report.until": "Counted up to {when}",
    "report.down": "gridbridge was not running {n} time(s) in this period ({hours} h in all): nobody watched, so that time is not monitored time",  # noqa: E501
    "report.col.rank": "Rank",
    "report.col.area": "Area",
    "report.col.period": "Period",
    "report.col.cameras": "Cameras",
    "report.col.monitored": "Monitored (hours)",
    "report.total": "Total",
    "report.unmapped": "Not in any grid",
    "report.none": "No areas at this level. Choose your own area or a finer level (such as Grid).",
    "report.cut": "The table shows the first {n} lines; export for all of them.",
    "report.chart": "Ranking chart",
    "report.table": "Ranking table",
    "report.short_def": "Online rate = online time ÷ monitored time; intact rate = intact time (online with a good picture) ÷ monitored time. Time “not checked” is not monitored.",  # noqa: E501
    "report.chart_note": "The {n} areas with the lowest {metric} (green ≥ 95 %, amber ≥ 80 %, red below).",  # noqa: E501
    "report.exports": "Download",
    "report.definitions": "Definitions",
    "report.docs": "Full definitions: docs/reports.md, shipped with the software (Reports: 在线率 and 完好率).",  # noqa: E501
    "report.bad_date": "A date is not right: write it as year-month-day, such as 2026-11-01.",
    "report.bad_order": "The end date is before the start date.",
    "report.too_long": "At most {n} days per report.",
    "report.not_begun": "The start date has not come yet.",
    "report.busy": "Another report is being computed; try again in a moment.",
    "report.store": "The database is not available right now; try again in a moment.",
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
    "time.days_ago.one": "1 day ago",
    "time.minutes": "{n} min",
    "time.hours": "{n} h",
    "time.days": "{n} days",
    "time.days.one": "1 day",
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
    "error.csrf.text": "This page has expired (perhaps you signed in again elsewhere). "
    "Reload the page and try once more.",
    "footer.note": "Pictures and states update every minute",
    # --- operator pages: grid tree, grid, camera, live view, map (bridge/web/pages*.py)
    "tree.title": "Grid overview",
    "tree.unmapped": "Not in any grid",
    "tree.unmapped_note": "{n} cameras lie outside every grid (still checked)",
    "tree.empty": "There are no cameras in your area yet",
    "counts.none": "No cameras",
    "grid.below.village": "Villages",
    "grid.below.grid": "Grids",
    "grid.cameras": "Cameras",
    "grid.filter": "Show by state",
    "grid.filter_all": "All",
    "grid.showing": "{first}–{last} of {total}",
    "grid.none": "No cameras here",
    "grid.none_state": "No camera is “{state}”",
    "grid.code": "Code",
    "grid.unmapped_title": "Cameras outside every grid",
    "grid.unmapped_text": "These cameras' coordinates lie outside every grid and they name no grid code, so no grid operator sees them. They are still checked; add a grid code or coordinates in the inventory.",  # noqa: E501
    "pager.label": "Pages",
    "pager.prev": "Previous",
    "pager.next": "Next",
    "pager.page": "Page {n}",
    "pager.of": "Page {page} of {pages}",
    "camera.state": "State",
    "camera.latest": "Latest picture",
    "camera.history": "Earlier pictures",
    "camera.history_none": "No earlier pictures yet",
    "camera.history_alt": "{name}: picture of {when}",
    "camera.timeline": "State changes",
    "camera.timeline_none": "No state changes yet",
    "camera.timeline_note": "Newest first; at most the last {n}",
    "camera.became": "became",
    "camera.order": "Repair order",
    "camera.no_order": "No open repair order",
    "camera.details": "Device details",
    "camera.vendor": "Vendor / model",
    "camera.coords": "Coordinates",
    "camera.grids": "Grid",
    "camera.upstream": "Upstream device",
    "camera.host": "Network address",
    "camera.no_picture_text": "There is no picture of this camera yet: it may not have been looked at yet, or picture checks are off.",  # noqa: E501
    "notice.refresh": "A new picture was asked for; it arrives within about a minute",
    "notice.wait": "A new picture was asked for a moment ago; try again in {n} s",
    "notice.no_address": "This camera has no network address on record: it cannot be checked",
    "btn.back_to_camera": "Back to the camera",
    "live.alt": "Live view of {name}",
    "live.note": "About {fps} pictures a second; one viewing lasts at most {minutes} minutes.",
    "live.ended": "You watched for {minutes} minutes: the live view is paused.",
    "live.failed": "The live view stopped; try again in a while.",
    "live.resume": "Keep watching",
    "live.reconnect": "Reconnect",
    "map.of": "Map of {name}",
    "map.list": "Camera list",
    "map.help": "Click an area to go down a level; click a marker to open its camera.",
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
        """The text of ``key`` with ``values`` filled in; ``key.one`` when it exists and
        ``n`` is 1 (English: "1 day ago", not "1 days ago")."""
        text = self._table.get(f"{key}.one", "") if values.get("n") == 1 else ""
        text = text or self._table[key]
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
