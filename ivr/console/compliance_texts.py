"""The texts of the compliance officer's pages, in Chinese and English.

Every key starts with `cp_`: the other page modules register their own texts at the same time,
and a shared key with a different text would stop the console at import.
"""

# Chinese text takes full-width punctuation, which RUF001 takes for look-alikes of ASCII.
# ruff: noqa: RUF001

from __future__ import annotations

from ivr.console.i18n import register_texts

TEXTS: dict[str, dict[str, str]] = {
    "cp_calls": {"en": "Call search", "zh": "通话检索"},
    "cp_audit": {"en": "Audit log", "zh": "审计日志"},
    "cp_ref": {"en": "Policy number / patient reference", "zh": "保单号／患者编号"},
    "cp_ref_hint": {"en": "exact, or the start of it", "zh": "完整或开头部分"},
    "cp_phone": {"en": "Phone", "zh": "电话"},
    "cp_from": {"en": "Placed from", "zh": "呼出日期自"},
    "cp_to": {"en": "to", "zh": "至"},
    "cp_campaign": {"en": "Campaign", "zh": "回访项目"},
    "cp_any_campaign": {"en": "All campaigns", "zh": "全部项目"},
    "cp_search": {"en": "Search", "zh": "检索"},
    "cp_dates_in": {"en": "Dates and times in", "zh": "日期与时间所在时区"},
    "cp_bad_phone": {"en": "Not a phone number.", "zh": "不是有效的电话号码。"},
    "cp_bad_date": {"en": "Dates are YYYY-MM-DD.", "zh": "日期格式为 YYYY-MM-DD。"},
    "cp_too_long": {"en": "A search field is too long.", "zh": "检索内容过长。"},
    "cp_no_calls": {"en": "No call matches.", "zh": "没有匹配的通话。"},
    "cp_case": {"en": "Case", "zh": "病例"},
    "cp_attempt": {"en": "Call no.", "zh": "呼叫序号"},
    "cp_when": {"en": "Placed", "zh": "呼出时间"},
    "cp_status": {"en": "Status", "zh": "状态"},
    "cp_duration": {"en": "Duration", "zh": "时长"},
    "cp_recording": {"en": "Recording", "zh": "录音"},
    "cp_replay": {"en": "Replay", "zh": "回放"},
    "cp_open_case": {"en": "Case page", "zh": "病例页"},
    "cp_none": {"en": "none", "zh": "无"},
    "cp_newer": {"en": "Newer", "zh": "较新"},
    "cp_older": {"en": "Older", "zh": "较早"},
    "cp_first_page": {"en": "First page", "zh": "第一页"},
    "cp_next_page": {"en": "Next page", "zh": "下一页"},
    "cp_replay_title": {"en": "Recording", "zh": "录音"},
    "cp_reason": {"en": "Why you listen", "zh": "收听原因"},
    "cp_reason_hint": {
        "en": "A complaint or audit reference; kept in the audit log with every replay.",
        "zh": "投诉或审计编号；每次回放都会连同原因记入审计日志。",
    },
    "cp_set_reason": {"en": "Use this reason", "zh": "使用此原因"},
    "cp_checksum": {"en": "SHA-256 (recorded when stored)", "zh": "SHA-256（存储时记录）"},
    "cp_size": {"en": "Size", "zh": "大小"},
    "cp_retention": {"en": "Kept until", "zh": "保留至"},
    "cp_retention_none": {"en": "no end date", "zh": "无截止日期"},
    "cp_hold": {"en": "Legal hold", "zh": "法律保全"},
    "cp_hold_on": {"en": "on: it is not deleted", "zh": "生效：不会被删除"},
    "cp_hold_off": {"en": "off", "zh": "未设置"},
    "cp_encrypted": {"en": "Encrypted at rest", "zh": "存储加密"},
    "cp_yes": {"en": "yes", "zh": "是"},
    "cp_no": {"en": "no", "zh": "否"},
    "cp_purged": {
        "en": "The audio was deleted under its retention rule; the record stays.",
        "zh": "录音已按保留规则删除，记录仍保留。",
    },
    "cp_not_stored": {"en": "The audio is not stored yet.", "zh": "录音尚未存储。"},
    "cp_timeline": {"en": "Timeline", "zh": "通话时间线"},
    "cp_seek_hint": {
        "en": "Choose a moment to play the recording from there.",
        "zh": "点击时间点，从该处开始播放。",
    },
    "cp_event": {"en": "Event", "zh": "事件"},
    "cp_at": {"en": "At", "zh": "时间"},
    "cp_offset": {"en": "In the recording", "zh": "录音位置"},
    "cp_before": {"en": "before it", "zh": "录音前"},
    "cp_after": {"en": "after it", "zh": "录音后"},
    "cp_export": {"en": "Export the case file (zip)", "zh": "导出案卷（zip）"},
    "cp_export_hint": {
        "en": "Answers, timelines, recordings and their checksums, for a dispute. Audited.",
        "zh": "包括回答、时间线、录音及校验值，用于争议处理。导出会记入审计日志。",
    },
    "cp_chain_ok": {"en": "The audit chain verifies:", "zh": "审计链校验通过："},
    "cp_chain_entries": {"en": "entries, last hash", "zh": "条记录，最后哈希"},
    "cp_chain_empty": {"en": "The audit log is empty.", "zh": "审计日志为空。"},
    "cp_chain_broken": {
        "en": "The audit chain is BROKEN at entry",
        "zh": "审计链在以下记录处断裂：",
    },
    "cp_action": {"en": "Action", "zh": "操作"},
    "cp_object": {"en": "Object (kind or kind:id)", "zh": "对象（类型 或 类型:编号）"},
    "cp_actor": {"en": "By", "zh": "操作人"},
    "cp_detail": {"en": "Detail", "zh": "详情"},
    "cp_filter": {"en": "Filter", "zh": "筛选"},
    "cp_no_entries": {"en": "No entry matches.", "zh": "没有匹配的记录。"},
}

register_texts(TEXTS)
