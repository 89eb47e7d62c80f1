"""Languages Carebot speaks, and how Telegram or CSV spellings map onto them."""

from __future__ import annotations

LANGUAGES = ("zh_CN", "en")


def normalise_language(value: str | None) -> str:
    """`zh`, `zh-CN`, `zh_cn`, `zh-Hans` → `zh_CN`; `en`, `en-US` → `en`; anything else raises ValueError."""
    code = (value or "").strip().replace("-", "_").lower()
    if code in {"zh", "zh_cn", "zh_hans", "zh_hans_cn", "zh_sg"}:
        return "zh_CN"
    if code == "en" or code.startswith("en_"):
        return "en"
    raise ValueError(f"unknown language {value!r} (use en or zh_CN)")


def language_from_telegram(language_code: str | None, default: str) -> str:
    """A Telegram `language_code` starting with `zh` means Simplified Chinese; any other code means English."""
    if not language_code:
        return default
    return "zh_CN" if language_code.lower().startswith("zh") else "en"
