"""The texts of the agent's queue and the case page, in Chinese and English."""

# Chinese text takes full-width punctuation, which RUF001 takes for look-alikes of ASCII.
# ruff: noqa: RUF001

from __future__ import annotations

from ivr.console.i18n import register_texts

TEXTS: dict[str, dict[str, str]] = {
    "my_queue": {"en": "My queue", "zh": "我的队列"},
    "only_mine": {"en": "Only mine", "zh": "只看我的"},
    "show_all": {"en": "All I may work", "zh": "全部可处理"},
    "queue_empty": {"en": "Nothing to work on.", "zh": "暂无待处理事项。"},
    "queue_cut": {"en": "Only the most urgent rows are shown.", "zh": "仅显示最紧急的条目。"},
    "col_id": {"en": "No.", "zh": "编号"},
    "col_campaign": {"en": "Campaign", "zh": "回访项目"},
    "col_case": {"en": "Case", "zh": "病例"},
    "col_reason": {"en": "Reason", "zh": "原因"},
    "col_priority": {"en": "Priority", "zh": "优先级"},
    "col_due": {"en": "Due (UTC)", "zh": "截止（UTC）"},
    "col_status": {"en": "Status", "zh": "状态"},
    "col_holder": {"en": "Held by", "zh": "处理人"},
    "overdue": {"en": "overdue", "zh": "已超时"},
    "claim": {"en": "Claim", "zh": "认领"},
    "open_case": {"en": "Open", "zh": "打开"},
    "status_open": {"en": "open", "zh": "待认领"},
    "status_claimed": {"en": "claimed", "zh": "已认领"},
    "status_resolved": {"en": "resolved", "zh": "已处理"},
    "claimed_ok": {"en": "Claimed.", "zh": "已认领。"},
    "claimed_by_other": {"en": "Someone else holds it:", "zh": "已被他人认领："},
    "refused": {"en": "Not done:", "zh": "未执行："},
    "case": {"en": "Case", "zh": "病例"},
    "case_forbidden": {
        "en": "This case is held by another member of staff or is outside your scope.",
        "zh": "该病例已由他人认领，或不在您的工作范围内。",
    },
    "department": {"en": "Department / ward", "zh": "科室／病区"},
    "anchor_date": {"en": "Anchor date", "zh": "基准日期"},
    "case_status": {"en": "Case status / outcome", "zh": "病例状态／结果"},
    "contact": {"en": "Contact", "zh": "联系人"},
    "phone": {"en": "Phone", "zh": "电话"},
    "phone_masked_note": {
        "en": "The full number shows once you have started a callback.",
        "zh": "发起回拨后显示完整号码。",
    },
    "answers": {"en": "Answers", "zh": "回答"},
    "no_answers": {"en": "No answers yet.", "zh": "暂无回答。"},
    "attempt": {"en": "Attempt", "zh": "呼叫序号"},
    "question": {"en": "Question", "zh": "问题"},
    "value": {"en": "Answer", "zh": "答案"},
    "when": {"en": "When (UTC)", "zh": "时间（UTC）"},
    "no_valid_answer": {"en": "(no valid answer)", "zh": "（无有效回答）"},
    "timeline": {"en": "Timeline", "zh": "通话时间线"},
    "event": {"en": "Event", "zh": "事件"},
    "offset": {"en": "In the recording", "zh": "录音位置"},
    "recordings": {"en": "Recordings", "zh": "录音"},
    "no_recordings": {"en": "No stored recording.", "zh": "暂无已存储的录音。"},
    "replay_audited": {
        "en": "Every replay is kept in the audit log.",
        "zh": "每次播放都会记入审计日志。",
    },
    "escalations": {"en": "Escalations", "zh": "升级事项"},
    "history": {"en": "History", "zh": "处理记录"},
    "who": {"en": "Who", "zh": "操作人"},
    "action": {"en": "Action", "zh": "操作"},
    "detail": {"en": "Detail", "zh": "详情"},
    "outcome": {"en": "Outcome", "zh": "处理结果"},
    "note": {"en": "Note", "zh": "备注"},
    "link_recording": {"en": "Link a recording as evidence", "zh": "关联录音作为证据"},
    "attach_scan": {
        "en": "Upload a scan as evidence (PDF, PNG, JPEG, TIFF)",
        "zh": "上传扫描件作为证据（PDF、PNG、JPEG、TIFF）",
    },
    "scan_rule": {
        "en": "letter_sent and home_visit need the receipt signed by the policyholder, scanned.",
        "zh": "letter_sent 和 home_visit 须上传投保人签收回执的扫描件。",
    },
    "none": {"en": "(none)", "zh": "（无）"},
    "resolve": {"en": "Resolve", "zh": "办结"},
    "resolved_ok": {"en": "Resolved.", "zh": "已办结。"},
    "release": {"en": "Release", "zh": "退回队列"},
    "released_ok": {"en": "Released to the queue.", "zh": "已退回队列。"},
    "call_back": {"en": "Call back", "zh": "回拨"},
    "override_window": {
        "en": "Call outside the calling windows",
        "zh": "在允许呼叫时段之外回拨",
    },
    "override_reason": {"en": "Reason for the override", "zh": "越时段回拨的理由"},
    "callback_ok": {
        "en": "Your phone is ringing; press 1 to call the customer.",
        "zh": "您的电话正在振铃，请按 1 接通客户。",
    },
    "callback_failed": {"en": "The callback failed:", "zh": "回拨失败："},
    "callback_no_telephony": {
        "en": "A callback cannot be placed from this installation (no telephony configured).",
        "zh": "本系统未配置电话服务，无法在此发起回拨。",
    },
    "next_window": {"en": "The next calling window opens at", "zh": "下一个允许呼叫时段开始于"},
    "no_window": {
        "en": "No calling window opens within a year.",
        "zh": "一年内没有允许呼叫的时段。",
    },
    "callbacks": {"en": "Callbacks", "zh": "回拨记录"},
    "claim_to_work": {
        "en": "Claim this escalation to resolve it or call back.",
        "zh": "请先认领该事项，再办结或回拨。",
    },
    "back_to_queue": {"en": "Back to my queue", "zh": "返回我的队列"},
}

register_texts(TEXTS)
