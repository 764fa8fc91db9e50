"""boto3 clients for the ``ecr`` and ``s3`` uploaders, imported lazily.

boto3 is an optional dependency (``pip install 'gopipe[aws]'``): pipelines that never
upload to AWS do not need it, and a missing install is one clear stage failure.
"""

from __future__ import annotations

from typing import Any

from gopipe.errors import StageFailed
from gopipe.secrets import scrub_urls


def client(
    service: str, *, region: str, endpoint_url: str, max_attempts: int, timeout: float = 60.0, **config: Any
) -> Any:
    """A boto3 client using the standard AWS credential chain (env, profile, roles)."""
    try:
        import boto3  # type: ignore[import-untyped,unused-ignore]
        from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise StageFailed(f"the {service} uploader needs boto3: pip install 'gopipe[aws]'") from None
    cfg = Config(
        retries={"max_attempts": max(1, max_attempts), "mode": "standard"},
        connect_timeout=timeout,
        read_timeout=timeout,
        **config,
    )
    session = boto3.session.Session(region_name=region or None)
    return session.client(service, endpoint_url=endpoint_url or None, config=cfg)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def error_text(exc: BaseException) -> str:
    """``Code: Message`` for a ``ClientError``, else the exception text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".rstrip(": ")
    return scrub_urls(str(exc))  # botocore quotes the endpoint URL it could not reach


def is_aws_error(exc: BaseException) -> bool:
    """botocore ``ClientError`` or ``BotoCoreError`` (without importing botocore eagerly)."""
    return any(c.__module__.startswith("botocore") for c in type(exc).__mro__)
