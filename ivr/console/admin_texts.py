"""The texts of the administrator's pages (users, new campaigns, flow checks), in English and
Chinese; Chinese takes full-width punctuation."""

# Chinese text takes full-width punctuation, which RUF001 takes for look-alikes of ASCII.
# ruff: noqa: RUF001

from __future__ import annotations

from ivr.console.i18n import register_texts

register_texts(
    {
        "ad_users": {"en": "Users", "zh": "用户"},
        "ad_new_campaign": {"en": "New campaign", "zh": "新建回访项目"},
        "ad_flows": {"en": "Flow checks", "zh": "流程检查"},
        "ad_username": {"en": "User name", "zh": "用户名"},
        "ad_role": {"en": "Role", "zh": "角色"},
        "ad_active": {"en": "Active", "zh": "状态"},
        "ad_yes": {"en": "active", "zh": "启用"},
        "ad_no": {"en": "disabled", "zh": "已停用"},
        "ad_scopes": {"en": "Scopes", "zh": "负责范围"},
        "ad_phone": {"en": "Phone", "zh": "电话"},
        "ad_all_scopes": {"en": "everything", "zh": "全部"},
        "ad_add_user": {"en": "Add a user", "zh": "添加用户"},
        "ad_password": {"en": "Initial password", "zh": "初始密码"},
        "ad_add": {"en": "Add", "zh": "添加"},
        "ad_added": {"en": "User added:", "zh": "已添加用户："},
        "ad_disable": {"en": "Disable", "zh": "停用"},
        "ad_disabled_ok": {"en": "User disabled:", "zh": "已停用用户："},
        "ad_already_disabled": {"en": "Already disabled:", "zh": "该用户已停用："},
        "ad_refused": {"en": "Not done:", "zh": "未完成："},
        "ad_template": {"en": "Template", "zh": "模板"},
        "ad_name": {"en": "Campaign name", "zh": "项目名称"},
        "ad_overrides": {
            "en": "Options (KEY=VALUE, one a line)",
            "zh": "选项（每行一个 KEY=VALUE）",
        },
        "ad_create": {"en": "Create", "zh": "创建"},
        "ad_created": {"en": "Campaign created:", "zh": "已创建回访项目："},
        "ad_options_help": {"en": "Options and their defaults", "zh": "选项及默认值"},
        "ad_option": {"en": "Option", "zh": "选项"},
        "ad_meaning": {"en": "Meaning", "zh": "说明"},
        "ad_default": {"en": "Default", "zh": "默认值"},
        "ad_flow": {"en": "Flow", "zh": "流程"},
        "ad_campaign": {"en": "Campaign", "zh": "回访项目"},
        "ad_result": {"en": "Result", "zh": "结果"},
        "ad_valid": {"en": "valid", "zh": "有效"},
        "ad_own_flow": {"en": "own flow", "zh": "自定义流程"},
        "ad_none": {"en": "None.", "zh": "无。"},
    }
)
