"""``ecr`` uploader: the ``registry`` push to Amazon ECR, with credentials and repositories via boto3.

* ``GetAuthorizationToken`` gives a 12-hour token, base64 ``AWS:<password>``: it becomes Basic
  auth for the push and is registered with the run's redactor (both forms) before any use.
* The repository is created when missing with ``imageTagMutability`` and scan-on-push as
  configured; an existing repository is used as it is (its settings are logged).
* Immutable repositories: a tag that already names *another* digest fails before anything is
  pushed, with ECR's ``ImageTagAlreadyExistsException`` named in the message; a tag that already
  names *this* digest is left alone (re-runs succeed). ``latest`` is never added there, since it
  would fail on the next commit. The registry-side refusal (HTTP 400 ``TAG_INVALID`` on the
  manifest PUT) is reported the same way.
* ``registry_override`` sends the push to another registry while the ECR API is still used for
  the token and the repository: moto implements the API but not layer upload, so tests push to a
  local registry with the credentials moto returned. Not meant for production.

AWS credentials and region come from the standard AWS environment (``AWS_ACCESS_KEY_ID``,
``AWS_PROFILE``, instance roles, ``AWS_REGION`` ...), never from pyproject.toml.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.types import Uploader
from gopipe_oci import Credentials, RegistryError
from gopipe_plugins._common.registry_access import (
    ConnectionOptions,
    Value,
    check_insecure_host,
    connect,
    library_logs,
    resolve,
)
from gopipe_plugins.upload.image_push import (
    Pushed,
    TagOptions,
    push_image,
    pushable_images,
    record,
    render_repository,
    render_tags,
    summary,
)

from . import aws

TAG_EXISTS = "ImageTagAlreadyExistsException"


@dataclass(frozen=True)
class EcrOptions(ConnectionOptions, TagOptions):
    """Amazon ECR: token and repository via the AWS API, push like `registry`."""

    CONFIG_KEY: ClassVar[str] = "tool.gopipe.upload.ecr"

    region: Value = doc("AWS region (default: the AWS environment, e.g. AWS_REGION)", "")
    endpoint_url: Value = doc("ECR API endpoint (e.g. a moto server; default: AWS)", "")
    registry_id: str = doc("AWS account id of the registry (default: the caller's)", "")
    create_repository: bool = doc("create the repository when it does not exist", True)
    image_tag_mutability: Literal["MUTABLE", "IMMUTABLE"] = doc(
        "tag mutability of a created repository", "MUTABLE"
    )
    scan_on_push: bool = doc("enable ECR basic scanning on push for a created repository", False)
    registry_override: Value = doc(
        "push to this host[:port] instead of the ECR endpoint (tests with moto only)", ""
    )

    def __post_init__(self) -> None:
        if self.insecure and isinstance(self.registry_override, str):
            check_insecure_host(self.registry_override or "ecr.amazonaws.com", self.CONFIG_KEY)


def ecr_client(ctx: ProviderContext[EcrOptions]) -> Any:
    opts = ctx.options
    return aws.client(
        "ecr",
        region=resolve(ctx, opts.region, "region"),
        endpoint_url=resolve(ctx, opts.endpoint_url, "endpoint_url"),
        max_attempts=opts.retry.max_attempts,
        timeout=opts.timeout,
    )


def aws_call(what: str, fn: Any, **kwargs: Any) -> Any:
    """Call a boto3 method; AWS errors become one-line stage failures naming the call."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        if aws.is_aws_error(exc):
            raise StageFailed(f"ECR {what}: {aws.error_text(exc)}") from None
        raise


def login(ctx: ProviderContext[EcrOptions], ecr: Any) -> tuple[str, Credentials]:
    """``GetAuthorizationToken`` -> (registry host, Basic credentials), secrets masked first."""
    kwargs = {"registryIds": [ctx.options.registry_id]} if ctx.options.registry_id else {}
    data = aws_call("GetAuthorizationToken", ecr.get_authorization_token, **kwargs)
    entries = data.get("authorizationData") or []
    if not entries:
        raise StageFailed("ECR GetAuthorizationToken returned no authorization data")
    token = str(entries[0]["authorizationToken"])
    ctx.add_secret(token)
    try:
        user, sep, password = base64.b64decode(token).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise StageFailed("ECR GetAuthorizationToken returned a malformed token") from None
    if not sep:
        raise StageFailed("ECR GetAuthorizationToken returned a malformed token")
    ctx.add_secret(password)
    host = urlsplit(str(entries[0].get("proxyEndpoint", ""))).netloc
    expires = entries[0].get("expiresAt")
    ctx.log(f"ECR token for {host} (expires {expires})")
    return host, Credentials(user, password)


def ensure_repository(ctx: ProviderContext[EcrOptions], ecr: Any, name: str) -> str:
    """The repository's tag mutability; creates the repository when missing (if allowed)."""
    opts = ctx.options
    try:
        found = ecr.describe_repositories(
            repositoryNames=[name], **({"registryId": opts.registry_id} if opts.registry_id else {})
        )
        repo = found["repositories"][0]
        mutability = str(repo.get("imageTagMutability", "MUTABLE"))
        ctx.log(f"ECR repository {name} exists ({mutability})")
        return mutability
    except Exception as exc:
        if not aws.is_aws_error(exc):
            raise
        if aws.error_code(exc) != "RepositoryNotFoundException":
            raise StageFailed(f"ECR DescribeRepositories {name}: {aws.error_text(exc)}") from None
    if not opts.create_repository:
        raise StageFailed(f"ECR repository {name} does not exist (create_repository = false)")
    kwargs: dict[str, Any] = {
        "repositoryName": name,
        "imageTagMutability": opts.image_tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": opts.scan_on_push},
    }
    if opts.registry_id:
        kwargs["registryId"] = opts.registry_id
    try:
        ecr.create_repository(**kwargs)
        ctx.log(
            f"ECR repository {name} created ({opts.image_tag_mutability}, "
            f"scan on push {'on' if opts.scan_on_push else 'off'})"
        )
    except Exception as exc:
        if not aws.is_aws_error(exc):
            raise
        if aws.error_code(exc) != "RepositoryAlreadyExistsException":  # created concurrently
            raise StageFailed(f"ECR CreateRepository {name}: {aws.error_text(exc)}") from None
    return opts.image_tag_mutability


def tag_taken(repo: str, tag: str, digest: str) -> StageFailed:
    return StageFailed(
        f"ECR repository {repo} is IMMUTABLE and tag {tag} already names {digest[:19]}… "
        f"({TAG_EXISTS}); a new commit needs a new tag",
        details="tags come from [tool.gopipe.upload.ecr] tags; include {short_commit} or release "
        "from a new git tag, or make the repository MUTABLE",
    )


def check_immutable_tags(ecr: Any, repo: str, tags: list[str], digest: str, registry_id: str) -> None:
    """Fail before pushing when an immutable tag already names another image."""
    for tag in tags:
        try:
            found = ecr.describe_images(
                repositoryName=repo,
                imageIds=[{"imageTag": tag}],
                **({"registryId": registry_id} if registry_id else {}),
            )
        except Exception as exc:
            if not aws.is_aws_error(exc):
                raise
            if aws.error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
                continue
            raise StageFailed(f"ECR DescribeImages {repo}:{tag}: {aws.error_text(exc)}") from None
        for detail in found.get("imageDetails") or []:
            existing = str(detail.get("imageDigest", ""))
            if existing and existing != digest:
                raise tag_taken(repo, tag, existing)


def translate(exc: RegistryError, repository: str) -> StageFailed | None:
    """ECR refuses to move an immutable tag with HTTP 400 TAG_INVALID on the manifest PUT."""
    if exc.status == 400 and "TAG_INVALID" in str(exc):
        return StageFailed(
            f"ECR repository {repository} is IMMUTABLE and a tag already exists ({TAG_EXISTS}): {exc}"
        )
    return None


def run(ctx: ProviderContext[EcrOptions]) -> None:
    opts = ctx.options
    images = pushable_images(ctx)
    skipped = len(ctx.artifacts.of_kind("image")) - len(images)
    if not images:
        ctx.summary = "no OCI images to push"
        return
    ecr = ecr_client(ctx)
    host, creds = login(ctx, ecr)
    override = resolve(ctx, opts.registry_override, "registry_override")
    if override:
        ctx.log(f"registry_override: pushing to {override} instead of {host}")
        host = override
    pushed: list[Pushed] = []
    with library_logs(ctx), connect(ctx, opts, host, creds) as client:
        for image in images:
            repo = render_repository(ctx, opts.repository, image.name)
            mutability = ensure_repository(ctx, ecr, repo)
            immutable = mutability.startswith("IMMUTABLE")
            if immutable and opts.latest:
                ctx.log(f"not tagging latest: ECR repository {repo} is {mutability}")
            tags = render_tags(ctx, opts, image.name, allow_latest=not immutable)
            if immutable:
                check_immutable_tags(
                    ecr, repo, tags, str(image.extra.get("index_digest", "")), opts.registry_id
                )
            done = push_image(ctx, client, image, repo, tags, translate=translate)
            record(ctx, done, ecr_repository=repo, tag_mutability=mutability)
            pushed.append(done)
    ctx.summary = summary(pushed, skipped)


@hookimpl
def gopipe_uploaders() -> list[Uploader[EcrOptions]]:
    return [
        Uploader(
            name="ecr",
            run=run,
            options=EcrOptions,
            description="push to Amazon ECR: token and repository via boto3, immutable tags",
        )
    ]
