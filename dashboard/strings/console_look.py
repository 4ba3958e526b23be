"""Interface strings for console layout, night mode, incident titles and hotspot reasons: key -> (zh, en)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # console layout: four grouped tabs with short names (six long ones overflowed)
    "look.night": ("夜间模式", "Night mode"),
    "look.tab.recs": ("派车建议", "Recommend"),
    "look.tab.queue": ("事件队列", "Queue"),
    "look.tab.work": ("派遣与超时", "Active · overdue"),
    "look.tab.roads": ("路险与预置", "Hazards · staging"),
    "look.map_picked": (
        "事件 {id} 已在“事件队列”页签中打开", "Incident {id} is open in the Queue tab"
    ),
    "look.runner_up": ("次优 {unit}（{eta} 分钟）", "runner-up {unit} ({eta} min)"),
    "look.eta_min": ("{eta} 分钟", "{eta} min"),
    "look.col.event": ("事件", "Incident"),
    "look.col.people": ("人数（弱势）", "People (vuln.)"),
    "look.col.first": ("首报", "First report"),
    # times carry their zone: the display zone is Asia/Shanghai
    "look.zoned": ("{header}（北京时间）", "{header} (UTC+8)"),
    "look.zone": ("北京时间 UTC+8", "Beijing time, UTC+8"),
    # incident titles, derived at display time from kind, road, km post and counts
    "look.title.at": ("{kind}，{road} {stake}", "{kind} on {road} {stake}"),
    "look.title.counts": ("{title}（{counts}）", "{title} ({counts})"),
    "look.title.vehicles": ("{n} 辆车", "{n} vehicles"),
    "look.title.vehicle": ("{n} 辆车", "{n} vehicle"),
    "look.title.people": ("{n} 人", "{n} people"),
    "look.list_sep": ("、", ", "),
    # hotspot reasons, derived from the hotspot row's facts
    "look.hotspot.reason": (
        "{kind}：{stretch}{admin}，{n} 条报告；Gi* z={z}",
        "{kind} on {stretch}{admin}: {n} reports; Gi* z={z}",
    ),
    "look.hotspot.admin": ("（{admin}）", " ({admin})"),
    "look.hotspot.hazard": ("路险", "hazard"),
    # capability codes (a unit's and a task's), shown as words
    "look.cap.rescue": ("救援", "rescue"),
    "look.cap.heavy_tow": ("重型拖车", "heavy tow"),
    "look.cap.plow": ("除雪", "plowing"),
    "look.cap.grit": ("撒布融雪剂", "gritting"),
    "look.cap.traffic_control": ("交通管制", "traffic control"),
    "look.cap.medical": ("医疗", "medical"),
    "look.cap.patrol_car": ("巡逻车", "patrol car"),
    # audit log: action names as words
    "look.action.login": ("登录", "log-in"),
    "look.action.logout": ("退出登录", "log-out"),
    "look.action.lockout": ("账号锁定", "account locked"),
    "look.action.session.start": ("会话开始", "session started"),
    "look.action.session.revoke": ("会话撤销", "session revoked"),
    "look.action.demo.load": ("加载演示数据", "demo loaded"),
    "look.action.audit.verify": ("校验审计链", "audit chain verified"),
    "look.action.user.create": ("新建用户", "user created"),
    "look.action.user.disable": ("停用用户", "user disabled"),
    "look.action.user.enable": ("启用用户", "user enabled"),
    "look.action.user.unlock": ("解锁用户", "user unlocked"),
    "look.action.user.reset_password": ("重置密码", "password reset"),
    "look.action.user.set_password": ("修改密码", "password changed"),
    "look.action.assignment.confirm": ("确认派遣", "assignment confirmed"),
    "look.action.assignment.confirmed": ("确认派遣", "assignment confirmed"),
    "look.action.assignment.override": ("改派车辆", "assignment overridden"),
    "look.action.assignment.reassign": ("重新派遣", "assignment moved"),
    "look.action.assignment.redirect": ("改道派遣", "assignment redirected"),
    "look.action.assignment.cancel": ("取消派遣", "assignment cancelled"),
    "look.action.assignment.en_route": ("已出发", "en route"),
    "look.action.assignment.on_scene": ("已到场", "on scene"),
    "look.action.assignment.cleared": ("已处置完毕", "cleared"),
    "look.action.hazard.report": ("上报路险", "hazard reported"),
    "look.action.hazard.clear": ("清除路险", "hazard cleared"),
    "look.action.hazard.cleared": ("清除路险", "hazard cleared"),
    "look.action.hazard.hand_over": ("移交路长", "handed to road chief"),
    "look.action.incident.resolved": ("事件办结", "incident resolved"),
    "look.action.unit.send_position": ("上报位置", "position sent"),
    "look.action.feed.save": ("保存数据源", "feed saved"),
    "look.action.feed.remove": ("删除数据源", "feed removed"),
}
