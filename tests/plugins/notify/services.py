"""The chat services as their public documentation describes them, for the local receiver.

Each class checks a request like the real service (path and token, JSON shape, size limits,
signatures, rate limits) and answers with the documented success or error body. What a
service rejects is also appended to ``problems``, so a test can assert that gopipe never
sent anything the real service would refuse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from tests.plugins.notify.receiver import Reply, Request


@dataclass
class _Service:
    problems: list[str] = field(default_factory=list)

    def refuse(self, problem: str, reply: Reply) -> Reply:
        self.problems.append(problem)
        return reply


def _json(request: Request) -> Any:
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


@dataclass
class Slack(_Service):
    """Incoming webhook: ``200 ok``; ``400 invalid_payload`` / ``invalid_blocks``; ``404 no_service``."""

    path: str = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"

    def __call__(self, request: Request) -> Reply:
        if request.path != self.path:
            return self.refuse("unknown hook", Reply.text("no_service", 404))
        data = _json(request)
        if not isinstance(data, dict) or not (data.get("text") or data.get("blocks")):
            return self.refuse("no text or blocks", Reply.text("invalid_payload", 400))
        problem = _check_blocks(data.get("blocks", []))
        if problem:
            return self.refuse(problem, Reply.text("invalid_blocks", 400))
        return Reply.text("ok")


def _check_blocks(blocks: Any) -> str | None:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "blocks must be a list of at most 50"
    for b in blocks:
        kind = b.get("type")
        if kind == "header":
            if b["text"]["type"] != "plain_text" or len(b["text"]["text"]) > 150:
                return "header must be plain_text of at most 150 characters"
        elif kind == "section":
            text, fields = b.get("text"), b.get("fields")
            if text is None and not fields:
                return "section needs text or fields"
            if text is not None and len(text["text"]) > 3000:
                return "section text longer than 3000"
            if fields and (len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields)):
                return "more than 10 fields or a field longer than 2000"
        elif kind == "context":
            if not 1 <= len(b["elements"]) <= 10:
                return "context needs 1-10 elements"
        elif kind == "actions":
            for el in b["elements"]:
                if el["type"] == "button" and (len(el["text"]["text"]) > 75 or len(el["url"]) > 3000):
                    return "button text > 75 or url > 3000"
        else:
            return f"unexpected block type {kind!r}"
    return None


@dataclass
class Wecom(_Service):
    """Group robot: always HTTP 200; ``errcode`` 0 ok, 93000 bad key, 40058 too long,
    44004 empty, 40008 bad msgtype, 45009 frequency limit (20 per minute)."""

    key: str = "wecom-key-0000"
    per_minute: int = 20
    sent: list[float] = field(default_factory=list)

    def __call__(self, request: Request) -> Reply:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != self.key:
            return self.refuse("invalid key", Reply.json({"errcode": 93000, "errmsg": "invalid webhook url"}))
        now = time.monotonic()
        self.sent = [t for t in self.sent if now - t < 60]
        if len(self.sent) >= self.per_minute:
            return Reply.json({"errcode": 45009, "errmsg": "api freq out of limit"})
        data = _json(request)
        kind = data.get("msgtype") if isinstance(data, dict) else None
        limits = {"markdown": 4096, "text": 2048}
        if kind not in limits:
            return self.refuse(
                f"msgtype {kind!r}", Reply.json({"errcode": 40008, "errmsg": "invalid message type"})
            )
        body = data[kind]
        content = body.get("content", "")
        if not content:
            return self.refuse("empty content", Reply.json({"errcode": 44004, "errmsg": "empty content"}))
        if len(content.encode("utf-8")) > limits[kind]:
            return self.refuse(
                f"{kind} too long",
                Reply.json({"errcode": 40058, "errmsg": f"{kind}.content exceed max length {limits[kind]}"}),
            )
        if kind == "markdown" and ({"mentioned_list", "mentioned_mobile_list"} & set(body)):
            self.problems.append("mention lists are ignored in markdown messages")
        for name in ("mentioned_list", "mentioned_mobile_list"):
            if name in body and not all(isinstance(x, str) for x in body[name]):
                return self.refuse(
                    f"{name} not strings", Reply.json({"errcode": 40035, "errmsg": "invalid parameter"})
                )
        self.sent.append(now)
        return Reply.json({"errcode": 0, "errmsg": "ok"})


@dataclass
class Dingtalk(_Service):
    """Custom robot: ``errcode`` 0 ok, 300001 bad token, 310000 sign mismatch/expired,
    34016 content too long, 130101 send too fast."""

    token: str = "dingtalk-token-0000"
    secret: str | None = None

    def __call__(self, request: Request) -> Reply:
        if request.path != "/robot/send" or request.query.get("access_token") != self.token:
            return self.refuse("bad token", Reply.json({"errcode": 300001, "errmsg": "token is not exist"}))
        if self.secret is not None:
            ts, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
            expected = base64.b64encode(
                hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256).digest()
            ).decode()
            fresh = ts.isdigit() and abs(time.time() * 1000 - int(ts)) < 3600_000
            if not (fresh and hmac.compare_digest(sign, expected)):
                return self.refuse("sign", Reply.json({"errcode": 310000, "errmsg": "sign not match"}))
        data = _json(request)
        if not isinstance(data, dict) or data.get("msgtype") != "markdown":
            return self.refuse("not markdown", Reply.json({"errcode": 40035, "errmsg": "缺少参数 json"}))
        md = data.get("markdown", {})
        if not md.get("title") or not md.get("text"):
            return self.refuse(
                "title/text missing", Reply.json({"errcode": 40035, "errmsg": "缺少参数 markdown"})
            )
        if len(md["text"]) > 5000 or len(md["title"]) > 64:
            return self.refuse("too long", Reply.json({"errcode": 34016, "errmsg": "消息内容长度超过限制"}))
        for mobile in data.get("at", {}).get("atMobiles", []):
            if f"@{mobile}" not in md["text"]:
                self.problems.append(f"@{mobile} missing from the markdown text")
        return Reply.json({"errcode": 0, "errmsg": "ok"})


@dataclass
class Feishu(_Service):
    """Custom bot: ``code`` 0 ok, 19001 bad token, 19021 sign mismatch, 9499 bad request
    (including a body over 20 KB), 11232 frequency limited."""

    token: str = "feishu-token-0000"
    secret: str | None = None

    def __call__(self, request: Request) -> Reply:
        if request.path != f"/open-apis/bot/v2/hook/{self.token}":
            return self.refuse(
                "bad token",
                Reply.json(
                    {"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}}
                ),
            )
        if len(request.body) > 20 * 1024:
            return self.refuse("body over 20 KB", _feishu_bad_request())
        data = _json(request)
        if not isinstance(data, dict):
            return self.refuse("not json", _feishu_bad_request())
        if self.secret is not None:
            ts = str(data.get("timestamp", ""))
            key = f"{ts}\n{self.secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            fresh = ts.isdigit() and abs(time.time() - int(ts)) < 3600
            if not (fresh and hmac.compare_digest(str(data.get("sign", "")), expected)):
                return self.refuse(
                    "sign",
                    Reply.json(
                        {
                            "code": 19021,
                            "data": {},
                            "msg": "sign match fail or timestamp is not within one hour from current time",
                        }
                    ),
                )
        card = data.get("card") if data.get("msg_type") == "interactive" else None
        if (
            not isinstance(card, dict)
            or not card.get("elements")
            or card.get("header", {}).get("title", {}).get("tag") != "plain_text"
        ):
            return self.refuse("bad card", _feishu_bad_request())
        for el in card["elements"]:
            if el.get("tag") not in ("div", "action", "hr", "note", "markdown"):
                return self.refuse(f"element {el.get('tag')}", _feishu_bad_request())
        return Reply.json({"code": 0, "data": {}, "msg": "success"})


def _feishu_bad_request() -> Reply:
    return Reply.json({"code": 9499, "msg": "Bad Request", "data": {}})


@dataclass
class Teams(_Service):
    """Workflows webhook: ``202 Accepted``; 401 bad ``sig``; 400 not an Adaptive Card;
    413 over 28 KB."""

    sig: str = "teams-sig-0000"

    def __call__(self, request: Request) -> Reply:
        if request.query.get("sig") != self.sig:
            return self.refuse(
                "bad sig", Reply.json({"error": {"code": "DirectApiAuthorizationRequired"}}, 401)
            )
        if len(request.body) > 28 * 1024:
            return self.refuse("too large", Reply.json({"error": {"code": "RequestEntityTooLarge"}}, 413))
        data = _json(request)
        try:
            attachment = data["attachments"][0]
            card = attachment["content"]
            ok = (
                data["type"] == "message"
                and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
                and card["type"] == "AdaptiveCard"
                and card["version"] in ("1.2", "1.3", "1.4", "1.5")
                and all(b["type"] in ("TextBlock", "FactSet", "ColumnSet", "Container") for b in card["body"])
            )
        except (KeyError, IndexError, TypeError):
            ok = False
        if not ok:
            return self.refuse(
                "not an adaptive card message", Reply.json({"error": {"code": "InvalidRequestContent"}}, 400)
            )
        return Reply(202)


@dataclass
class Webhook(_Service):
    """A receiver that checks ``X-Gopipe-Signature`` when it knows the secret; 200 ``{}``."""

    secret: str | None = None

    def __call__(self, request: Request) -> Reply:
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.header("X-Gopipe-Signature") or "", expected):
                return self.refuse("bad signature", Reply.json({"error": "bad signature"}, 401))
        if _json(request) is None:
            return self.refuse("not json", Reply.json({"error": "bad json"}, 400))
        return Reply.json({})
