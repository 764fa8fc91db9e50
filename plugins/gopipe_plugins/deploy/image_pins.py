"""Pinning manifests to the digests the upload stage pushed.

The upload stage records one ``image-ref`` artifact per pushed image (``extra.reference`` is
``host/repo@sha256:…``). Deploy replaces container images by those references, never by tags:
a tag can move between the push and the rollout, a digest cannot.

Matching: a container image matches an uploaded image when its repository equals the pushed
repository, or when its last path part equals the artifact name or the pushed repository's
last path part (``image: hello`` or ``ghcr.io/acme/hello:dev`` ← artifact ``hello``). The
``images`` option maps a manifest image name to an artifact name or pushed repository when
that guess is wrong or ambiguous (the same image pushed to two registries).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe_oci import RegistryClient
from gopipe_oci.reference import is_loopback
from gopipe_plugins._common.cosign_verify import image_problems, load_public_key
from gopipe_plugins._common.keyless import KeylessError, KeylessUsageError

from .kube import Obj, key_of
from .options import DeploySettings

_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class ImageRef:
    """One pushed image, by digest."""

    name: str  # the artifact name (the image/binary name)
    repository: str  # host/path
    digest: str  # sha256:…

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class Replacement:
    object: str  # Kind/name
    container: str
    old: str
    new: str
    artifact: str


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``repository, tag, digest`` of an image reference (``host:port/a/b:tag@sha256:…``)."""
    name, _, digest = image.partition("@")
    head, _, last = name.rpartition("/")
    tag = None
    if ":" in last:
        last, tag = last.split(":", 1)
    repository = f"{head}/{last}" if head else last
    return repository, tag, digest or None


def uploaded_images(ctx: ProviderContext[Any]) -> list[ImageRef]:
    """``image-ref`` artifacts as digest references; ones without a digest are skipped loudly."""
    refs: list[ImageRef] = []
    for art in ctx.artifacts.of_kind("image-ref"):
        reference = str(art.extra.get("reference") or "")
        repository, _tag, digest = split_image(reference)
        digest = digest or (str(art.extra.get("digest") or "") or None)
        if not repository or not digest or not digest.startswith("sha256:"):
            ctx.log(
                f"ignoring image-ref {art.name} ({reference or 'no reference'}): no sha256 digest; "
                "deploy never uses tags"
            )
            continue
        refs.append(ImageRef(art.name, repository, digest))
    settings = ctx.stage_settings(DeploySettings)
    if settings.require_signed:
        require_signed(ctx, settings, refs)
    return refs


def require_signed(ctx: ProviderContext[Any], settings: DeploySettings, refs: list[ImageRef]) -> None:
    """Refuse, before anything is applied, an image without a signature and provenance by the
    configured signer, checked in the registry: ``public_key`` (cosign's tag scheme or the
    digest's OCI referrers, :mod:`gopipe_plugins._common.cosign_verify`) or a keyless
    ``certificate_identity[_regexp]`` (Sigstore bundles among the referrers,
    :mod:`gopipe_plugins._common.keyless_verify`)."""
    check, signer = _keyless_check(ctx, settings) if settings.keyless else _key_check(ctx, settings)
    ca_file = None  # checked (inside the repository, a PEM CA) before the run: check_settings
    if settings.signature_ca_file:
        ca_file = ctx.repo_path(settings.signature_ca_file, "tool.gopipe.deploy.signature_ca_file")
    refused = []
    for ref in refs:
        host, _, repo = ref.repository.partition("/")
        if settings.signature_insecure and not is_loopback(host):
            raise ConfigError(
                ctx.config.display_file,
                "tool.gopipe.deploy.signature_insecure",
                f"{host} is not a loopback registry",
                "remove signature_insecure",
            )
        with RegistryClient(
            host, use_docker_config=True, insecure=settings.signature_insecure, ca_file=ca_file
        ) as client:
            problems = check(client, repo, ref)
        if problems:
            refused.append(f"{ref.repository}@{ref.digest[:19]}: {'; '.join(problems)}")
        else:
            ctx.log(f"{ref.repository}@{ref.digest}: signed and attested by {signer}")
    if refused:
        raise StageFailed(
            f"deploy refused (require_signed): {refused[0]}"
            + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""),
            details="\n".join(refused),
        )


Check = Callable[[RegistryClient, str, ImageRef], list[str]]  # what an image lacks, if anything


def _key_check(ctx: ProviderContext[Any], settings: DeploySettings) -> tuple[Check, str]:
    key_file = "tool.gopipe.deploy.public_key"
    path = ctx.repo_path(settings.public_key, key_file)
    try:
        key = load_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(ctx.config.display_file, key_file, f"{settings.public_key}: {exc}") from None
    return (
        lambda client, repo, ref: image_problems(client, repo, ref.repository, ref.digest, key),
        settings.public_key,
    )


def _keyless_check(ctx: ProviderContext[Any], settings: DeploySettings) -> tuple[Check, str]:
    from gopipe_plugins._common import keyless_verify  # sigstore-python, only when asked for

    pattern = settings.certificate_identity_regexp
    policy = keyless_verify.IdentityPolicy(
        issuer=settings.certificate_oidc_issuer,
        identity=settings.certificate_identity or None,
        pattern=re.compile(pattern) if pattern else None,
    )
    root = (
        ctx.repo_path(settings.trusted_root, "tool.gopipe.deploy.trusted_root")
        if settings.trusted_root
        else None
    )
    try:
        verifier = keyless_verify.load_verifier(root, ctx.redact)
    except KeylessUsageError as exc:
        raise ConfigError(
            ctx.config.display_file, "tool.gopipe.deploy.certificate_identity", str(exc)
        ) from None
    except KeylessError as exc:
        if root is not None:  # the repository's file is bad: a config error
            raise ConfigError(ctx.config.display_file, "tool.gopipe.deploy.trusted_root", str(exc)) from None
        raise StageFailed(f"deploy refused (require_signed): {exc}") from None
    trust = keyless_verify.KeylessTrust(verifier, policy, ctx.redact)
    return lambda client, repo, ref: keyless_verify.image_problems(
        client, repo, ref.digest, trust
    ), policy.describe()


def _last(repository: str) -> str:
    return repository.rsplit("/", 1)[-1]


class Resolver:
    """Maps container images to pushed images by the rules in the module docstring."""

    def __init__(self, refs: list[ImageRef], mapping: Mapping[str, str], option: str) -> None:
        self.refs = refs
        self.mapping = dict(mapping)
        self.option = option
        self.used_keys: set[str] = set()

    def _unique(self, found: list[ImageRef], what: str) -> ImageRef | None:
        distinct = {r.reference: r for r in found}
        if len(distinct) > 1:
            raise StageFailed(
                f"{what} matches several pushed images ({', '.join(sorted(distinct))}); "
                f'choose one with {self.option}.images = {{ "<image>" = "<repository>" }}'
            )
        return next(iter(distinct.values()), None)

    def resolve(self, image: str) -> ImageRef | None:
        repository = split_image(image)[0]
        for key in (repository, _last(repository)):
            if key in self.mapping:
                self.used_keys.add(key)
                target = self.mapping[key]
                found = [r for r in self.refs if target in (r.name, r.repository)]
                if not found:
                    raise StageFailed(
                        f"{self.option}.images: {key} = {target!r}, but the upload stage recorded no "
                        f"image named or pushed to {target!r} (recorded: {self.describe()})"
                    )
                return self._unique(found, f"{self.option}.images.{key}")
        exact = [r for r in self.refs if r.repository == repository]
        if exact:
            return self._unique(exact, f"image {image}")
        last = _last(repository)
        return self._unique([r for r in self.refs if last in (r.name, _last(r.repository))], f"image {image}")

    def describe(self) -> str:
        return ", ".join(f"{r.name} ({r.reference})" for r in self.refs) or "none"

    def unused_keys(self) -> list[str]:
        return sorted(set(self.mapping) - self.used_keys)


def containers(obj: Any) -> Iterator[dict[str, Any]]:
    """Every container of every pod template inside ``obj`` (works for CRDs as well)."""
    if isinstance(obj, dict):
        for field in _CONTAINER_LISTS:
            items = obj.get(field)
            if isinstance(items, list):
                for c in items:
                    if isinstance(c, dict) and isinstance(c.get("image"), str):
                        yield c
        for key, value in obj.items():
            if key not in _CONTAINER_LISTS and key not in ("status", "metadata"):
                yield from containers(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from containers(value)


def pin_images(
    ctx: ProviderContext[Any], objects: list[Obj], mapping: Mapping[str, str], where: str
) -> list[Replacement]:
    """Replace container images in ``objects`` in place; fail unless at least one was pinned."""
    option = f"tool.gopipe.{ctx.stage}.{ctx.provider}"
    resolver = Resolver(uploaded_images(ctx), mapping, option)
    done: list[Replacement] = []
    left: list[str] = []
    for obj in objects:
        for c in containers(obj.get("spec")):
            old = str(c["image"])
            ref = resolver.resolve(old)
            if ref is None:
                if old not in left:
                    left.append(old)
                continue
            c["image"] = ref.reference
            done.append(Replacement(key_of(obj), str(c.get("name", "?")), old, ref.reference, ref.name))
    unused = resolver.unused_keys()
    if unused:
        seen = sorted({r.old for r in done} | set(left))
        raise StageFailed(
            f"{option}.images: {', '.join(unused)} matches no container image in {where} "
            f"(images there: {', '.join(seen) or 'none'})"
        )
    if not done:
        hint = (
            "the upload stage recorded no image-ref artifacts: configure [tool.gopipe.upload] providers"
            if not resolver.refs
            else f"map them with {option}.images"
        )
        raise StageFailed(
            f"no container image in {where} ({', '.join(left) or 'none'}) matches a "
            f"pushed image ({resolver.describe()}); {hint}"
        )
    for image in left:
        ctx.log(f"left unchanged (not built by this pipeline): {image}")
    for r in done:
        ctx.log(f"{r.object} container {r.container}: {r.old} -> {r.new}")
    return done
