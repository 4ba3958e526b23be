"""Interface strings in Chinese (default) and English, and times shown in Asia/Shanghai.

No Streamlit here: the language is chosen by the page (sidebar) and passed in explicitly.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

__all__ = ["DISPLAY_TZ", "LANGUAGES", "STRINGS", "fmt_duration", "fmt_time", "t"]

DISPLAY_TZ = "Asia/Shanghai"
_TZ = ZoneInfo(DISPLAY_TZ)
LANGUAGES: dict[str, str] = {"zh": "中文", "en": "English"}

# key -> (zh, en)
STRINGS: dict[str, tuple[str, str]] = {
    # app, login
    "app.title": ("冬季道路应急指挥", "Winter road operations"),
    "app.language": ("语言 / Language", "语言 / Language"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码错误。", "Wrong user name or password."),
    "login.locked": (
        "账户已锁定，请于 {until} 后再试。",
        "Account locked; try again after {until}.",
    ),
    "login.locked_generic": ("账户已锁定，请稍后再试。", "Account locked; try again later."),
    "login.idle": (
        "因 {minutes} 分钟无操作已自动退出。",
        "Logged out after {minutes} idle minutes.",
    ),
    "login.logout": ("退出登录", "Log out"),
    "login.who": ("{user}（{role}）", "{user} ({role})"),
    "login.unavailable": ("登录服务暂不可用。", "Log-in service not available yet."),
    "role.dispatcher": ("调度员", "dispatcher"),
    "role.patrol_lead": ("巡逻组长", "patrol lead"),
    "role.admin": ("管理员", "admin"),
    # pages
    "page.dispatch": ("调度台", "Dispatch"),
    "page.patrol": ("巡逻车组", "Patrol"),
    "page.feeds": ("数据源", "Feeds"),
    "page.review": ("复盘", "Review"),
    "page.admin": ("管理", "Admin"),
    "page.login": ("登录", "Log in"),
    "common.refreshed": ("数据更新于 {time}（北京时间 UTC+8）", "Data as of {time} (Beijing time, UTC+8)"),
    "common.none": ("暂无", "None"),
    "common.db_error": ("数据库暂不可用：{error}", "Database not available: {error}"),
    "common.not_ready": ("该功能尚未就绪：{what}", "Not available yet: {what}"),
    # dispatch page
    "dispatch.stale": (
        "数据源已过期：{feeds}（超过两个轮询周期未成功）",
        "Stale feeds: {feeds} (no success for two polling intervals)",
    ),
    "dispatch.queue": ("事件队列（按优先级）", "Incident queue (by priority)"),
    "dispatch.recommendations": ("派车建议", "Recommendations"),
    "dispatch.confirm": ("确认", "Confirm"),
    "dispatch.override": ("改派", "Override"),
    "dispatch.override_unit": ("改派车辆", "Send instead"),
    "dispatch.reassign": ("重新指派", "Reassign"),
    "dispatch.cancel": ("取消", "Cancel"),
    "dispatch.confirmed": ("已确认：{unit} → 任务 {task}", "Confirmed: {unit} -> task {task}"),
    "dispatch.conflict": (
        "其他调度员已先处理该记录（或建议已过时），此建议已撤下，列表已刷新。",
        "Another dispatcher got there first (or the recommendation was out of date); "
        "it has been withdrawn and the list is refreshed.",
    ),
    "dispatch.failed": ("操作失败：{error}", "Action failed: {error}"),
    "dispatch.no_recs": ("当前没有待确认的建议。", "No recommendations to confirm."),
    "dispatch.worker_ok": (
        "后台处理程序运行中（{n}个，最近一轮 {time}）：数据源轮询、融合与建议排序自动进行",
        "Worker running ({n}, last cycle {time}): feeds polled, fused and re-ranked",
    ),
    "dispatch.worker_none": (
        "没有后台处理程序在运行：数据源不轮询，新报告不生成事件，建议不更新。请启动 `winterops worker`。",
        "No worker running: feeds are not polled, new reports make no incidents and the "
        "recommendations are not re-ranked. Start `winterops worker`.",
    ),
    "dispatch.overdue": ("超时任务", "Overdue tasks"),
    "dispatch.no_overdue": ("没有超时任务。", "No overdue tasks."),
    "dispatch.hazards": ("未清除路险（按时长）", "Open hazards by age"),
    "dispatch.active": ("进行中的派遣", "Active assignments"),
    "dispatch.coverage": ("{minutes} 分钟覆盖率", "Coverage within {minutes} min"),
    "dispatch.open_incidents": ("未结事件", "Open incidents"),
    "dispatch.people": ("受困人数", "People exposed"),
    "dispatch.free_units": ("空闲车辆", "Free units"),
    "dispatch.open_tasks": ("待办任务", "Open tasks"),
    "dispatch.reason": ("理由", "Reason"),
    "dispatch.runner_up": ("次优：{unit}（{eta} 分钟）", "Runner-up: {unit} ({eta} min)"),
    "dispatch.map": ("态势图", "Situation map"),
    "dispatch.hand_over": ("交给路长", "Hand to road chief"),
    "dispatch.handed_over": ("路险 {id} 已交给路长", "Hazard {id} handed to the road chief"),
    "dispatch.hand_more": (
        "另有 {n} 处未移交路险，先处理最早的。",
        "{n} more open hazards not handed over; the oldest come first.",
    ),
    "dispatch.staging": ("预置建议", "Staging suggestions"),
    "dispatch.no_staging": ("当前没有预置建议。", "No staging suggestions."),
    "dispatch.staging_failed": (
        "预置建议暂不可用：{error}",
        "Staging suggestions unavailable: {error}",
    ),
    # columns
    "col.id": ("编号", "ID"),
    "col.kind": ("类型", "Kind"),
    "col.priority": ("优先级", "Priority"),
    "col.people": ("人数", "People"),
    "col.vulnerable": ("弱势人员", "Vulnerable"),
    "col.exposure": ("受冻时长", "Cold exposure"),
    "col.stake": ("桩号", "Road / km"),
    "col.title": ("描述", "Description"),
    "col.notes": ("备注", "Notes"),
    "col.first_report": ("首报时间", "First report"),
    "col.task": ("任务", "Task"),
    "col.unit": ("车辆", "Unit"),
    "col.eta": ("预计到达（分钟）", "ETA (min)"),
    "col.capability": ("能力", "Capability"),
    "col.state": ("状态", "State"),
    "col.age": ("时长", "Age"),
    "col.condition": ("路况", "Condition"),
    "col.road_chief": ("路长", "Road chief"),
    "col.phone": ("电话", "Phone"),
    "col.since": ("开始", "Since"),
    "col.overdue_by": ("超时", "Overdue by"),
    "col.name": ("名称", "Name"),
    "col.status": ("状态", "Status"),
    "col.vehicle": ("车型", "Vehicle"),
    "col.brigade": ("大队", "Brigade"),
    "col.role": ("角色", "Role"),
    "col.last_login": ("上次登录", "Last login"),
    "col.locked_until": ("锁定至", "Locked until"),
    "col.feed": ("数据源", "Feed"),
    "col.source": ("来源", "Source"),
    "col.interval": ("周期（秒）", "Interval (s)"),
    "col.last_attempt": ("最近尝试", "Last attempt"),
    "col.last_success": ("最近成功", "Last success"),
    "col.last_change": ("最近变化", "Last change"),
    "col.last_error": ("最近错误", "Last error"),
    "col.stale": ("已过期", "Stale"),
    "col.record": ("记录", "Record"),
    "col.reason": ("原因", "Reason"),
    "col.at": ("时间", "Time"),
    "col.actor": ("操作人", "Actor"),
    "col.action": ("操作", "Action"),
    "col.outcome": ("结果", "Outcome"),
    "col.target": ("对象", "Target"),
    "col.crew_hours": ("班组工时", "Crew hours"),
    "col.handed_at": ("移交时间", "Handed over at"),
    "col.duty_point": ("执勤点", "Duty point"),
    "col.covered_km": ("覆盖高风险路段（公里）", "High-risk road covered (km)"),
    # patrol page
    "patrol.no_unit": ("该账户未绑定车组。", "This account is not bound to a unit."),
    "patrol.unit": ("本车组：{unit}", "My unit: {unit}"),
    "patrol.tasks": ("本车组任务", "My unit's tasks"),
    "patrol.no_tasks": ("暂无任务。", "No tasks."),
    "patrol.status_buttons": ("状态", "Status"),
    "patrol.set_en_route": ("出发", "En route"),
    "patrol.set_on_scene": ("到达现场", "On scene"),
    "patrol.set_cleared": ("处置完毕", "Cleared"),
    "patrol.status_set": ("状态已更新：{state}", "Status updated: {state}"),
    "patrol.report": (
        "上报路险（当前位置或点击地图）",
        "Report a hazard (where I am, or tap the map)",
    ),
    "patrol.condition": ("路况", "Condition"),
    "patrol.note": ("说明", "Note"),
    "patrol.use_tap": ("地图点击位置", "Tapped point"),
    "patrol.use_unit": ("车辆位置", "Unit position"),
    "patrol.lon": ("经度", "Longitude"),
    "patrol.lat": ("纬度", "Latitude"),
    "patrol.submit_report": ("上报", "Report"),
    "patrol.reported": ("已上报，编号 {id}", "Reported, id {id}"),
    "patrol.no_point": (
        "请先点击地图或使用车辆位置。",
        "Tap the map or use the unit's position first.",
    ),
    "patrol.hazards": ("附近路险", "Hazards nearby"),
    "patrol.clear_hazard": ("标记已清除", "Mark cleared"),
    "patrol.hazard_cleared": ("路险 {id} 已清除", "Hazard {id} cleared"),
    "patrol.dark": ("夜间模式", "Night mode"),
    "patrol.not_yours": ("只能操作本车组的任务。", "You can change only your unit's tasks."),
    "patrol.locate": ("获取本机定位", "Use my location"),
    "patrol.locate_failed": ("无法获取定位", "Location not available"),
    "patrol.locating": ("正在定位…", "Locating…"),
    "patrol.use_gps": ("本机定位", "My location"),
    # feeds page
    "feeds.title": ("数据源状态", "Feed health"),
    "feeds.none": ("尚未配置数据源。", "No feeds configured yet."),
    "feeds.quarantine": ("隔离记录", "Quarantined records"),
    "feeds.no_quarantine": ("没有隔离记录。", "No quarantined records."),
    # review page
    "review.title": ("复盘与评估", "After-action review"),
    "review.none": (
        "尚无模拟结果（运行 winterops simulate）。",
        "No simulation results yet (run winterops simulate).",
    ),
    "review.first_unit": ("首车到达时间（分钟）", "Time to first unit (min)"),
    "review.exposure": ("受冻人时", "Exposure person-hours"),
    "review.compare": ("策略对比", "Policy comparison"),
    "review.series": ("时间序列", "Time series"),
    "review.run": ("模拟运行", "Simulation run"),
    "review.policy": ("策略", "Policy"),
    "review.metric": ("指标", "Metric"),
    "review.incidents": ("逐事件结果", "Per-incident results"),
    # admin page
    "admin.users": ("用户与角色", "Users and roles"),
    "admin.units": ("车辆", "Units"),
    "admin.feeds": ("数据源配置", "Feed configuration"),
    "admin.audit": ("审计日志（最近）", "Audit log (latest)"),
    "admin.add_user": ("新增用户", "Add user"),
    "admin.new_username": ("用户名", "User name"),
    "admin.new_password": ("初始密码", "Initial password"),
    "admin.new_role": ("角色", "Role"),
    "admin.new_unit": ("车组（巡逻组长）", "Unit (patrol lead)"),
    "admin.created": ("已创建用户 {user}", "User {user} created"),
    "admin.feed_name": ("名称", "Name"),
    "admin.feed_kind": ("类型", "Kind"),
    "admin.feed_source": ("地址或文件夹", "URL or folder"),
    "admin.feed_interval": ("轮询周期（秒）", "Polling interval (s)"),
    "admin.save_feed": ("保存数据源", "Save feed"),
    "admin.saved": ("已保存", "Saved"),
    # map
    "layer.alerts": ("预警区域", "Alert areas"),
    "layer.segments": ("路段路况", "Road conditions"),
    "layer.hotspots": ("热点路段", "Hotspots"),
    "layer.incidents": ("事件", "Incidents"),
    "layer.units": ("车辆", "Units"),
    "layer.routes": ("派遣路线", "Assignment routes"),
    "layer.duty_points": ("执勤点", "Duty points"),
    "layer.warming_points": ("取暖点", "Warming points"),
    "layer.drone_coverage": ("无人机已巡路段（24小时）", "Drone-patrolled roads (24 h)"),
    "layer.outlines": ("旗县边界", "Banner outlines"),
    "layer.roads": ("道路", "Roads"),
    "layer.labels": ("地名", "Place names"),
    "legend.title": ("图例", "Legend"),
    "legend.conditions": ("路况", "Road condition"),
    "legend.alerts": ("预警", "Alerts"),
    "legend.priority": ("事件优先级", "Incident priority"),
    "legend.units": ("车辆状态", "Unit status"),
    "legend.other": ("其他", "Other"),
    "map.event": ("预警", "Alert"),
    "map.headline": ("标题", "Headline"),
    "map.severity": ("级别", "Severity"),
    "map.onset": ("生效", "Onset"),
    "map.expires": ("失效", "Expires"),
    "map.segment": ("路段", "Segment"),
    "map.condition": ("路况", "Condition"),
    "map.rank": ("排名", "Rank"),
    "map.z": ("Gi* z", "Gi* z"),
    "map.reason": ("依据", "Evidence"),
    "map.incident": ("事件", "Incident"),
    "map.kind": ("类型", "Kind"),
    "map.priority": ("优先级", "Priority"),
    "map.people": ("人数", "People"),
    "map.stake": ("桩号", "Road / km"),
    "map.first_report": ("首报", "First report"),
    "map.title": ("描述", "Description"),
    "map.notes": ("备注", "Notes"),
    "map.caller_notes": ("报警人描述", "What callers said"),
    "map.vulnerable": ("老幼病弱", "Vulnerable people"),
    "map.unit": ("车辆", "Unit"),
    "map.name": ("名称", "Name"),
    "map.vehicle": ("车型", "Vehicle"),
    "map.status": ("状态", "Status"),
    "map.position": ("位置", "Position"),
    "map.pos_stale_key": ("位置过时（未确认）", "Position stale (unconfirmed)"),
    "pos.live": ("实时", "live"),
    "pos.stale": ("过时（{min} 分钟前）", "stale ({min} min ago)"),
    "pos.unknown": ("未知", "unknown"),
    "map.task": ("任务", "Task"),
    "map.eta_min": ("预计（分钟）", "ETA (min)"),
    "map.hours": ("开放时间", "Hours"),
    "map.flight": ("航次", "Flight"),
    "map.road_km": ("巡查道路（公里）", "Road patrolled (km)"),
    "map.flight_start": ("起飞", "Took off"),
    "map.flight_end": ("结束", "Ended"),
    # vocabularies
    "condition.closed": ("封闭", "closed"),
    "condition.black_ice": ("暗冰", "black ice"),
    "condition.drifting_snow": ("风吹雪", "drifting snow"),
    "condition.snow_packed": ("积雪压实", "snow-packed"),
    "condition.poor_visibility": ("能见度低", "poor visibility"),
    "condition.clear": ("畅通", "clear"),
    "colour.red": ("红色预警", "red"),
    "colour.orange": ("橙色预警", "orange"),
    "colour.yellow": ("黄色预警", "yellow"),
    "colour.blue": ("蓝色预警", "blue"),
    "band.critical": ("紧急", "critical"),
    "band.high": ("高", "high"),
    "band.medium": ("中", "medium"),
    "band.low": ("低", "low"),
    "status.available": ("空闲", "available"),
    "status.assigned": ("已指派", "assigned"),
    "status.en_route": ("途中", "en route"),
    "status.on_scene": ("到场", "on scene"),
    "status.out_of_service": ("停用", "out of service"),
    "status.off_shift": ("下班", "off shift"),
    "state.recommended": ("建议", "recommended"),
    "state.confirmed": ("已确认", "confirmed"),
    "state.en_route": ("途中", "en route"),
    "state.on_scene": ("到场", "on scene"),
    "state.cleared": ("已处置", "cleared"),
    "state.cancelled": ("已取消", "cancelled"),
    "state.reassigned": ("已改派", "reassigned"),
    "hstate.open": ("未移交", "open"),
    "hstate.handed_over": ("已交路长", "handed over"),
    "hstate.cleared": ("已清除", "cleared"),
    "kind.stranded": ("车辆被困", "stranded"),
    "kind.crash": ("交通事故", "crash"),
    "kind.vehicle_in_ditch": ("车辆侧滑出路", "vehicle in ditch"),
    "kind.road_blocked": ("道路阻断", "road blocked"),
    "kind.rescue": ("救援", "rescue"),
    "kind.heavy_tow": ("重型拖车", "heavy tow"),
    "kind.plow": ("除雪", "plow"),
    "kind.grit": ("撒布融雪剂", "grit"),
    "kind.traffic_control": ("交通管制", "traffic control"),
    "kind.medical": ("医疗", "medical"),
    "vehicle_class.patrol_car": ("巡逻车", "patrol car"),
    "vehicle_class.plow": ("除雪车", "plow"),
    "vehicle_class.grit_spreader": ("撒布车", "grit spreader"),
    "vehicle_class.heavy_tow": ("重型清障车", "heavy tow"),
    "vehicle_class.rescue": ("救援车", "rescue"),
    "vehicle_class.ambulance": ("救护车", "ambulance"),
    "dp.duty_point": ("执勤点", "duty point"),
    "dp.duty_station": ("执勤站", "duty station"),
    "dp.warming_point": ("取暖点", "warming point"),
    # H3: patrol task cards, errors, sessions, wall display
    "patrol.where": ("位置", "Location"),
    "patrol.people": (
        "被困 {people} 人（老幼病弱 {vulnerable}）· 车辆 {vehicles} 辆",
        "{people} people ({vulnerable} vulnerable) · {vehicles} vehicles",
    ),
    "patrol.eta": ("预计 {minutes} 分钟到达", "ETA {minutes} min"),
    "patrol.confirm_cleared": (
        "确认现场已处置完毕？确认后任务关闭。",
        "Confirm the scene is cleared? The task closes.",
    ),
    "patrol.back": ("返回", "Back"),
    "patrol.yes_cleared": ("确认处置完毕", "Yes, cleared"),
    "error.conflict": (
        "他人已先行修改，请刷新后重试。（{detail}）",
        "Someone changed it first; refresh and try again. ({detail})",
    ),
    "error.denied": ("无权执行此操作。（{detail}）", "You may not do that. ({detail})"),
    "error.transition": (
        "当前状态下不能执行此操作。（{detail}）",
        "Not possible in the current state. ({detail})",
    ),
    "error.not_found": ("未找到对象。（{detail}）", "Not found. ({detail})"),
    "error.auth": ("登录验证失败。（{detail}）", "Log-in check failed. ({detail})"),
    "error.invalid": ("输入无效。（{detail}）", "Invalid input. ({detail})"),
    "error.failed": ("操作失败。（{detail}）", "Action failed. ({detail})"),
    "error.unexpected": (
        "操作失败（{name}），请稍后重试或联系管理员。",
        "The action failed ({name}); try again later or call the admin.",
    ),
    "role.wall": ("大屏（只读）", "wall display (read-only)"),
    "login.revoked": ("会话已被终止，请重新登录。", "Your session was ended; log in again."),
    "wall.read_only": ("只读大屏：仅供查看，不能操作。", "Wall display: watch only, no actions."),
    "admin.sessions": ("会话", "Sessions"),
    "admin.revoke_user": ("终止该用户全部会话", "End all sessions of this user"),
    "admin.revoke_pick": ("用户", "User"),
    "admin.revoked": ("已终止 {user} 的 {count} 个会话", "Ended {count} session(s) of {user}"),
    "admin.remove_feed": ("删除数据源", "Remove feed"),
    "admin.feed_removed": ("已删除数据源 {name}", "Feed {name} removed"),
    "admin.feed_enabled": ("启用", "Enabled"),
    "patrol.send_position": ("发送本车位置", "Send my position"),
    "patrol.position_sent": ("位置已发送", "Position sent"),
    "patrol.none_near": ("{km} 公里内暂无路险。", "No hazards within {km} km."),
    # security (issue 15): audit chain, account admin, refusal codes
    "admin.audit_verified": (
        "审计链上次校验：{time}，共 {checked} 条，完整无损。",
        "Audit chain last verified {time}: {checked} links, intact.",
    ),
    "admin.audit_broken": (
        "审计链上次校验：{time}，发现断裂：{problem}",
        "Audit chain last verified {time}: BROKEN: {problem}",
    ),
    "admin.audit_never": ("审计链尚未校验。", "The audit chain has not been verified yet."),
    "admin.audit_verify": ("立即校验审计链", "Verify the audit chain now"),
    "admin.account": ("账户管理", "Accounts"),
    "admin.account_pick": ("用户", "User"),
    "admin.unlock": ("解除锁定", "Unlock"),
    "admin.unlocked": ("已解除 {user} 的锁定", "{user} unlocked"),
    "admin.reset_password": ("重置密码", "Reset password"),
    "admin.reset_new": ("新密码（至少 12 位）", "New password (at least 12 characters)"),
    "admin.password_reset": ("已重置 {user} 的密码", "Password of {user} reset"),
    "admin.disable": ("停用账户", "Disable account"),
    "admin.enable": ("重新启用账户", "Enable account"),
    "admin.disabled": ("已停用 {user}", "{user} disabled"),
    "admin.enabled": ("已重新启用 {user}", "{user} enabled"),
    "col.disabled": ("已停用", "Disabled"),
    "login.disabled": ("账户已停用，请联系管理员。", "Account disabled; ask an admin."),
    "error.capability_mismatch": (
        "该车辆不具备此任务所需的能力。（{detail}）",
        "This unit lacks the capability the task needs. ({detail})",
    ),
    "error.not_own_hazard": (
        "只能清除本车任务或本车所在路段的路险。（{detail}）",
        "You may clear only hazards on your own task or section. ({detail})",
    ),
    "error.password_too_short": ("密码至少 12 位。（{detail}）",
                                 "Passwords have at least 12 characters. ({detail})"),
    "error.password_is_username": ("密码不能与用户名相同。（{detail}）",
                                   "The password must not be the user name. ({detail})"),
    "error.password_reused": ("不能使用最近 3 次用过的密码。（{detail}）",
                              "None of the last 3 passwords may be used again. ({detail})"),
    "error.account_disabled": ("账户已停用。（{detail}）", "The account is disabled. ({detail})"),
}


def t(key: str, lang: str = "zh", default: str | None = None, **values: object) -> str:
    """Return the interface string `key` in `lang` ("zh" or "en"), formatted with `values`.

    Unknown keys give `default` (or the key itself), so a missing translation never breaks a
    page. Values are inserted with :meth:`str.format`; escape them first where it matters.
    """
    pair = STRINGS.get(key)
    if pair is None:
        text = default if default is not None else key
    else:
        text = pair[1] if lang == "en" else pair[0]
    return text.format(**values) if values else text


def fmt_time(value: datetime | pd.Timestamp | None, with_date: bool = True) -> str:
    """Format a UTC (or any aware) time in Asia/Shanghai; naive values are taken as UTC."""
    if value is None or (isinstance(value, float)) or pd.isna(value):
        return ""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    local = ts.tz_convert(_TZ)
    return local.strftime("%m-%d %H:%M" if with_date else "%H:%M")


def fmt_duration(seconds: float | None) -> str:
    """Format a duration as ``H:MM`` (or ``Nd H:MM``); empty for None/NaN."""
    if seconds is None or pd.isna(seconds):
        return ""
    total = max(0, int(seconds // 60))
    days, rem = divmod(total, 24 * 60)
    hours, minutes = divmod(rem, 60)
    return f"{days}d {hours}:{minutes:02d}" if days else f"{hours}:{minutes:02d}"
