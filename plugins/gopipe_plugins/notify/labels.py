"""Human labels per locale, so one message model reads well in English and Chinese teams."""

from __future__ import annotations

from typing import Literal

Locale = Literal["en", "zh-CN"]
Event = Literal["success", "failure", "fixed", "cancelled"]

EVENTS: tuple[Event, ...] = ("success", "failure", "fixed", "cancelled")

ICONS: dict[Event, str] = {"success": "✅", "failure": "❌", "fixed": "✅", "cancelled": "⏹"}
STAGE_ICONS = {"success": "✔", "failed": "✘", "skipped": "–", "cancelled": "■"}

_LABELS: dict[Locale, dict[str, str]] = {
    "en": {
        "success": "succeeded",
        "failure": "failed",
        "fixed": "fixed",
        "cancelled": "cancelled",
        "title": "gopipe {pipeline} {event} · {project}@{ref}",
        "sep": ": ",
        "repo": "Repository",
        "branch": "Branch",
        "commit": "Commit",
        "author": "Author",
        "failed_stage": "Failed stage",
        "reason": "Reason",
        "stages": "Stages",
        "coverage": "Coverage",
        "image": "Image",
        "environment": "Environment",
        "duration": "Duration",
        "version": "Version",
        "ci_run": "Open CI run",
        "truncated": "(truncated)",
    },
    "zh-CN": {
        "success": "成功",
        "failure": "失败",
        "fixed": "已恢复",
        "cancelled": "已取消",
        "title": "gopipe {pipeline} {event} · {project}@{ref}",
        "sep": "：",
        "repo": "仓库",
        "branch": "分支",
        "commit": "提交",
        "author": "作者",
        "failed_stage": "失败阶段",
        "reason": "原因",
        "stages": "各阶段耗时",
        "coverage": "覆盖率",
        "image": "镜像",
        "environment": "部署环境",
        "duration": "总耗时",
        "version": "版本",
        "ci_run": "查看流水线",
        "truncated": "（已截断）",
    },
}


def labels(locale: Locale) -> dict[str, str]:
    """The label table for ``locale`` (English for anything unknown)."""
    return _LABELS.get(locale, _LABELS["en"])
