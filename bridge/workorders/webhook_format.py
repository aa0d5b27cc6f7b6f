"""Work-order events as webhook bodies (pure): what each kind of receiver gets.

`render(kind, event)` turns one work-order event into the bytes POSTed to a target of that
kind, once, when the event is queued.  The event is a JSON-ready mapping; the fields read
(all optional except ``order_id`` and ``event``; times are ISO 8601, naive ones read as UTC):

=============  ==================================================================
order_id       the order's id (str or int)
event          opened | step | escalated | reopened | cameras_added | faults_changed
               (``bridge.workorders.model.EventKind``; ``event_zh`` overrides the label)
step, step_zh  the order's current step (open, accepted, …) and its Chinese name
kind, kind_zh  ``OrderKind``: network (网络故障) … | upstream (上游设备故障: one NVR/switch)
priority(_zh)  key (重点部位) | normal
cameras        [{id, name, address, grid_path}]; grid_path a list of names or a string
upstream       the common-cause device: its name, or {id, name, kind_zh}, or null
faults(_zh)    fault codes and their Chinese labels
opened_at, respond_by, repair_by, at   when opened, the SLA deadlines, when this happened
actor, note    who did it, what they wrote
snapshot_url, web_url   evidence picture and the order's page on our web UI
=============  ==================================================================

``json`` targets get ``{"schema": "gridbridge.workorder_event/1", **event}``.  ``wecom``
and ``dingtalk`` targets get group-robot markdown in Chinese, the important line first,
times in China time (UTC+8), at most `ROBOT_MAX_BYTES` (long camera lists end "…等N路").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, Literal

__all__ = ["CHINA_TZ", "ROBOT_MAX_BYTES", "SCHEMA", "TargetKind", "render"]

TargetKind = Literal["json", "wecom", "dingtalk"]
SCHEMA: Final = "gridbridge.workorder_event/1"
CHINA_TZ: Final = timezone(timedelta(hours=8), "CST")
MAX_NAMES: Final = 10
"""Camera names listed in a robot message; more read "…等N路" (a chat line, not a report)."""
ROBOT_MAX_BYTES: Final = 4000
"""企业微信 markdown content: at most 4096 bytes (UTF-8).  钉钉 documents no smaller limit;
one cap for both, with room for the JSON around the text."""

_EVENT_ZH: Final = {  # "step" events take the label of their step (step_zh)
    "opened": "派单",
    "escalated": "超时升级",
    "reopened": "返修",
    "cameras_added": "新增摄像机",
    "faults_changed": "故障变化",
}
_UNSAFE = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞", "*": "＊", "`": "'"})


# --- what is sent --------------------------------------------------------------------------


def render(kind: TargetKind, event: Mapping[str, Any]) -> bytes:
    """The body POSTed to a target of ``kind`` for ``event`` (see the module docstring)."""
    if kind == "json":
        body = {"schema": SCHEMA, **{k: v for k, v in event.items() if k != "schema"}}
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    title, text = _markdown(event, "\n" if kind == "wecom" else "\n\n")
    if kind == "wecom":
        message: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": text}}
    else:
        message = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def _markdown(event: Mapping[str, Any], sep: str) -> tuple[str, str]:
    """(title, markdown text) of ``event``; the text at most ``ROBOT_MAX_BYTES``."""
    cameras = [c for c in _list(event.get("cameras")) if isinstance(c, Mapping)]
    label = _text(event.get("event_zh"), 8) or _EVENT_ZH.get(str(event.get("event")), "")
    label = label or _text(event.get("step_zh"), 8) or _text(event.get("event"), 16)
    where = " ".join(_grid_prefix(cameras)) or _text(event.get("kind_zh"), 20) or "工单"
    what = "、".join(_text(f, 12) for f in _list(event.get("faults_zh"))[:4])
    what = what or _text(event.get("kind_zh"), 20)
    count = f"（{len(cameras)}路）" if len(cameras) > 1 else ""
    title = f"【{label}】{where} — {what}{count}" if what else f"【{label}】{where}{count}"
    head = [f"**{title}**"]
    facts = [f"工单 {_text(event.get('order_id'), 40)}"]
    facts += [_text(event.get(k), 12) for k in ("priority_zh", "kind_zh")]
    step = _text(event.get("step_zh"), 12)
    facts.append(f"当前：{step}" if step and step != label else "")
    head.append(" ｜ ".join(f for f in facts if f))
    tail: list[str] = []
    upstream = event.get("upstream")
    if isinstance(upstream, Mapping):
        device = _text(upstream.get("name"), 40) or _text(upstream.get("id"), 40)
        sort = _text(upstream.get("kind_zh"), 12)
        tail.append(f"上游设备：{device}（{sort}）" if sort else f"上游设备：{device}")
    elif _text(upstream, 40):
        tail.append(f"上游设备：{_text(upstream, 40)}")
    times = [(n, _china(event.get(k))) for n, k in _TIMES]
    if any(t for _, t in times):
        tail.append(" ｜ ".join(f"{n} {t}" for n, t in times if t) + "（北京时间）")
    people = [
        (n, _text(event.get(k), m)) for n, k, m in (("处理人", "actor", 20), ("备注", "note", 200))
    ]
    if any(v for _, v in people):
        tail.append(" ｜ ".join(f"{n}：{v}" for n, v in people if v))
    links = [(n, event.get(k)) for n, k in (("查看工单", "web_url"), ("现场截图", "snapshot_url"))]
    links_md = [f"[{n}]({u})" for n, u in links if _is_http(u)]
    if links_md:
        tail.append(" ｜ ".join(links_md))
    fixed = sep.join(head + tail)
    budget = ROBOT_MAX_BYTES - len(fixed.encode()) - len(sep.encode())
    text = sep.join([*head, *_camera_lines(cameras, budget), *tail])
    return title.replace("*", ""), _cut(text, ROBOT_MAX_BYTES)


_TIMES: Final = (("派单", "opened_at"), ("响应时限", "respond_by"), ("修复时限", "repair_by"))


def _camera_lines(cameras: Sequence[Mapping[str, Any]], budget: int) -> list[str]:
    """One line for one camera; for several, names until ``budget`` bytes, then "…等N路"."""
    if not cameras:
        return []
    if len(cameras) == 1:
        camera = cameras[0]
        line = f"摄像机：{_text(camera.get('name'), 40)}（{_text(camera.get('id'), 40)}）"
        address = _text(camera.get("address"), 60)
        line = f"{line} ｜ {address}" if address else line
        return [_cut(line, max(budget, 0))] if budget > 0 else []
    line = f"摄像机 {len(cameras)} 路："
    for shown, camera in enumerate(cameras[:MAX_NAMES]):
        name = _text(camera.get("name"), 24) or _text(camera.get("id"), 24)
        more = f"…等{len(cameras) - shown}路"
        candidate = line + ("、" if shown else "") + name
        rest = f"…等{len(cameras) - shown - 1}路" if shown + 1 < len(cameras) else ""
        if len((candidate + rest).encode()) > budget:
            return [line + more] if len((line + more).encode()) <= budget else []
        line = candidate
    shown = min(len(cameras), MAX_NAMES)
    return [line + (f"…等{len(cameras) - shown}路" if shown < len(cameras) else "")]


def _grid_prefix(cameras: Sequence[Mapping[str, Any]]) -> list[str]:
    """The grid levels all ``cameras`` share (街道, 社区, 网格 …), at most four."""
    paths = []
    for camera in cameras:
        path = camera.get("grid_path")
        parts = path.split("/") if isinstance(path, str) else _list(path)
        paths.append([_text(p, 16) for p in parts if _text(p, 16)])
    if not paths:
        return []
    common = paths[0]
    for path in paths[1:]:
        n = 0
        while n < min(len(common), len(path)) and common[n] == path[n]:
            n += 1
        common = common[:n]
    return common[-4:]


def _china(value: Any) -> str:
    """An ISO 8601 time as "MM-DD HH:MM" in China time; naive means UTC; '' when absent."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _text(value, 25)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_TZ).strftime("%m-%d %H:%M")


def _text(value: Any, limit: int) -> str:
    """``value`` as one line of at most ``limit`` characters, markdown-inert: names and
    notes come from inventories and people, and must not turn into links or markup."""
    if value is None or isinstance(value, (Mapping, list)):
        return ""
    text = " ".join(str(value).split()).translate(_UNSAFE)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _is_http(value: Any) -> bool:
    return (
        isinstance(value, str)
        and value.startswith(("http://", "https://"))
        and not any(c in value for c in " ()[]<>\n")
    )


def _cut(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes at a character boundary."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode("utf-8", "ignore") + "…"
