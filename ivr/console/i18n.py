"""The console in Chinese or English: each text by key, in the language the user chose.

The choice comes from ?lang=zh or ?lang=en (kept in the session), else the browser's
Accept-Language, else Chinese. Keys are English phrases' ids; a key without a text in the
chosen language falls back to English, and an unknown key shows itself (a missing text is seen
in the page and in the tests, never an error page).
"""

from __future__ import annotations

from flask import request, session

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
SESSION_KEY = "lang"

TEXTS: dict[str, dict[str, str]] = {
    "product": {"en": "Follow-up calls", "zh": "回访管理"},
    "sign_in": {"en": "Sign in", "zh": "登录"},
    "sign_out": {"en": "Sign out", "zh": "退出"},
    "username": {"en": "User name", "zh": "用户名"},
    "password": {"en": "Password", "zh": "密码"},
    "wrong_login": {"en": "Wrong user name or password.", "zh": "用户名或密码错误。"},
    "signed_in_as": {"en": "Signed in as", "zh": "当前用户"},
    "forbidden": {"en": "You may not open this page.", "zh": "您无权访问此页面。"},
    "not_found": {"en": "There is no such page.", "zh": "页面不存在。"},
    "bad_request": {"en": "The request was not accepted.", "zh": "请求未被接受。"},
    "home": {"en": "Home", "zh": "首页"},
    "language": {"en": "中文", "zh": "English"},
    "role_agent": {"en": "Agent", "zh": "回访专员"},
    "role_supervisor": {"en": "Supervisor", "zh": "主管"},
    "role_compliance": {"en": "Compliance", "zh": "合规"},
    "role_admin": {"en": "Administrator", "zh": "管理员"},
}


def register_texts(texts: dict[str, dict[str, str]]) -> None:
    """Add a page module's texts (each module keeps its own, next to its pages); a key used
    twice with different texts is a mistake caught at import."""
    for key, value in texts.items():
        if key in TEXTS and TEXTS[key] != value:
            raise ValueError(f"console text {key!r} is defined twice, differently")
        TEXTS[key] = value


def current_language() -> str:
    """The language of this request's page."""
    chosen = session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"], default=DEFAULT)
    return "en" if best == "en" else "zh"


def remember_language() -> None:
    """A before_request: ?lang=zh|en switches the interface for the rest of the session."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session[SESSION_KEY] = wanted


def t(key: str) -> str:
    """The text of `key` in the page's language."""
    texts = TEXTS.get(key)
    if texts is None:
        return key
    return texts.get(current_language()) or texts.get("en") or key
