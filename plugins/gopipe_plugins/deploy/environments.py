"""Environments: which ones a run deploys, in which order, whether this ref may, and the record.

``[tool.gopipe.deploy.environments.<name>]`` tables are promoted in the order they are written:
environment *k* starts only after environments *0..k-1* succeeded, even when different
providers deploy them (the providers of a stage run concurrently, so they coordinate through a
small per-run :class:`Promotion`). ``--env NAME`` deploys that environment alone.

Refs: the first environment this ref may not deploy to ends the promotion there (a push to
``main`` deploys staging and stops before a production that only tags may reach). If it may not
deploy to the first one at all, the stage fails with a one-line refusal. Dry runs change
nothing and are allowed from any ref.

Every attempted environment records a ``deployment`` artifact (environment, namespace, objects,
image digests, previous revision, outcome, duration …), also when it failed.
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gopipe.config import Config
from gopipe.config.options import did_you_mean
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe.paths import inside
from gopipe.stages import Stage
from gopipe_plugins._common.keyless import GITHUB_ISSUER, HTTPS_URL

from .options import DeploySettings, Environment
from .refs import check_ref, explain_patterns, pattern_error, pull_request

STAGE_KEY = "tool.gopipe.deploy"
DEFAULT_ENVIRONMENT = "default"
# An environment's name is a directory name under dist/gopipe/deploy/ and a label in reports.
ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def check_signer(shown: str, settings: DeploySettings) -> None:
    """``require_signed`` names one signer: a key, or a keyless identity (exact or a pattern)
    with an https issuer, as ``cosign verify`` takes them."""
    if settings.require_signed and not (settings.public_key or settings.keyless):
        raise ConfigError(
            shown,
            f"{STAGE_KEY}.require_signed",
            "require_signed needs public_key or certificate_identity",
            'set public_key = "cosign.pub", or certificate_identity = "https://github.com/OWNER/REPO/'
            '.github/workflows/gopipe-cd.yml@refs/tags/v1.2.3" for keyless signatures',
        )
    if settings.certificate_identity and settings.certificate_identity_regexp:
        raise ConfigError(
            shown,
            f"{STAGE_KEY}.certificate_identity_regexp",
            "certificate_identity and certificate_identity_regexp are both set",
            "keep one of them",
        )
    if settings.public_key and settings.keyless:
        raise ConfigError(
            shown,
            f"{STAGE_KEY}.public_key",
            "public_key and a keyless certificate identity are both set; require_signed checks one signer",
            "remove public_key (keyless) or certificate_identity (key)",
        )
    if settings.certificate_identity_regexp:
        try:
            re.compile(settings.certificate_identity_regexp)
        except re.error as exc:
            raise ConfigError(
                shown,
                f"{STAGE_KEY}.certificate_identity_regexp",
                f"not a regular expression ({exc})",
                "e.g. '^https://github.com/OWNER/REPO/.github/workflows/gopipe-cd.yml@refs/tags/v'",
            ) from None
    if settings.keyless and not HTTPS_URL.fullmatch(settings.certificate_oidc_issuer):
        raise ConfigError(
            shown,
            f"{STAGE_KEY}.certificate_oidc_issuer",
            f"{settings.certificate_oidc_issuer!r} is not an https URL",
            GITHUB_ISSUER,
        )


_TRUST_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.trustedroot",
    "application/vnd.dev.sigstore.clienttrustconfig",
)
_TRUST_LIMIT = 4 << 20


def check_trusted_root(shown: str, path: Path, settings: DeploySettings) -> None:
    """``trusted_root`` is a Sigstore ``TrustedRoot`` or ``ClientTrustConfig`` JSON (by its
    ``mediaType``); sigstore-python reads the rest when deploy checks signatures."""
    key = f"{STAGE_KEY}.trusted_root"
    fix = "point it at a trusted_root.json (cosign verify --trusted-root) or a sign trust_config"
    try:
        with path.open("rb") as f:
            data = f.read(_TRUST_LIMIT + 1)
        doc = json.loads(data) if len(data) <= _TRUST_LIMIT else None
    except (OSError, ValueError):
        doc = None
    media_type = doc.get("mediaType") if isinstance(doc, dict) else None
    if not isinstance(media_type, str) or not media_type.startswith(_TRUST_MEDIA_TYPES):
        raise ConfigError(shown, key, f"{settings.trusted_root}: not a Sigstore TrustedRoot JSON", fix)


def check_settings(config: Config, settings: DeploySettings) -> None:
    """What the types of the stage-level keys cannot say; raises :class:`ConfigError` naming the key.

    The core validated ``settings`` already (``StageSettings.check``); this runs right after,
    before any stage starts.
    """
    shown = config.display_file
    fix = 'e.g. allowed_refs = ["default-branch", "release-tags", "branch:release/*"]'
    for pattern in settings.allowed_refs:
        if (err := pattern_error(pattern)) is not None:
            raise ConfigError(shown, f"{STAGE_KEY}.allowed_refs", err, fix)
    check_signer(shown, settings)
    for setting, given in (
        ("public_key", settings.public_key),
        ("signature_ca_file", settings.signature_ca_file),
        ("trusted_root", settings.trusted_root),
    ):
        if given:  # read from the repository only, and must be there
            path = inside(config.root, given, file=shown, key=f"{STAGE_KEY}.{setting}")
            if not path.is_file():
                raise ConfigError(shown, f"{STAGE_KEY}.{setting}", f"{given} is not a file in the repository")
    if settings.trusted_root:
        check_trusted_root(
            shown, inside(config.root, settings.trusted_root, file=shown, key=STAGE_KEY), settings
        )
    if settings.signature_ca_file:
        try:
            ssl.create_default_context().load_verify_locations(
                cafile=str(inside(config.root, settings.signature_ca_file, file=shown, key=STAGE_KEY))
            )
        except (OSError, ssl.SSLError, ValueError):
            raise ConfigError(
                shown,
                f"{STAGE_KEY}.signature_ca_file",
                f"{settings.signature_ca_file}: not a PEM CA certificate",
                "point it at the registry's CA certificate (PEM)",
            ) from None
    providers = config.stage("deploy").providers
    for name, env in settings.environments.items():
        key = f"{STAGE_KEY}.environments.{name}"
        if not ENVIRONMENT_NAME.fullmatch(name) or ".." in name:
            raise ConfigError(
                shown,
                key,
                f"environment name {name!r} is not a plain name (it names dist/gopipe/deploy/<name>)",
                "use letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. staging",
            )
        for option, value in (("kubeconfig", env.kubeconfig), ("manifests", env.manifests)):
            if value is not None:  # read from the repository only
                inside(config.root, value, file=shown, key=f"{key}.{option}")
        for pattern in env.allowed_refs or ():
            if (err := pattern_error(pattern)) is not None:
                raise ConfigError(shown, f"{key}.allowed_refs", err, fix)
        if env.provider is not None and env.provider not in providers:
            raise ConfigError(
                shown,
                f"{key}.provider",
                f"provider {env.provider!r} is not selected in [{STAGE_KEY}] providers "
                f"({', '.join(providers) or 'none'})",
                f"add it: providers = {[*providers, env.provider]!r}".replace("'", '"'),
            )
        if env.provider is None and len(providers) != 1:
            raise ConfigError(
                shown,
                f"{key}.provider",
                f"required when {'several' if providers else 'no'} deploy providers are selected",
                'set provider = "kubectl" (or helm, argo-rollouts, flagger)',
            )
        provider = env.provider or providers[0]
        if env.values and provider != "helm":
            raise ConfigError(
                shown,
                f"{key}.values",
                f"values apply to helm, but {name} deploys with {provider}",
                'remove values or set provider = "helm"',
            )
        if env.manifests is not None and provider != "kubectl":
            raise ConfigError(
                shown,
                f"{key}.manifests",
                f"manifests apply to kubectl, but {name} deploys with {provider}",
                'remove manifests or set provider = "kubectl"',
            )


def check_environment_arg(config: Config, requested: str | None) -> None:
    """``--env NAME`` must name a configured environment: checked before any stage runs, so a
    typo does not build, package and upload first."""
    if requested is None:
        return
    settings = config.stage(Stage.DEPLOY).settings
    if not isinstance(settings, DeploySettings):
        return  # the deploy settings are not declared: the deploy providers say so when they run
    known = list(settings.environments)
    if requested in known:
        return
    if not known:
        raise ConfigError(
            "command line",
            "--env",
            f"no environment '{requested}': none are configured in {config.display_file}",
            f"add [{STAGE_KEY}.environments.{requested}] or drop --env",
        )
    hint = did_you_mean(requested, known)
    raise ConfigError(
        "command line",
        "--env",
        f"no environment '{requested}' in [{STAGE_KEY}.environments]",
        f"{hint} choose one of: {', '.join(known)}".lstrip(),
    )


def deploy_settings(config: Config) -> DeploySettings:
    """The validated ``[tool.gopipe.deploy]`` settings of this run."""
    settings = config.stage(Stage.DEPLOY).settings
    if not isinstance(settings, DeploySettings):
        raise ConfigError(
            config.display_file,
            STAGE_KEY,
            "the deploy stage settings are not declared",
            "do not disable the 'deploy-settings' plugin while deploy providers run",
        )
    return settings


@dataclass(frozen=True)
class Target:
    """One environment to deploy, with the provider that deploys it."""

    name: str
    env: Environment
    provider: str
    allowed_refs: tuple[str, ...]
    configured: bool  # False for the implicit environment used when none are configured

    @property
    def table(self) -> str:
        return f"[{STAGE_KEY}.environments.{self.name}]" if self.configured else f"[{STAGE_KEY}]"


def plan_targets(ctx: ProviderContext[Any], settings: DeploySettings) -> list[Target]:
    """Every environment of this run (all providers), in promotion order."""
    providers = ctx.config.stage("deploy").providers
    requested = ctx.args.environment
    if not settings.environments:
        if requested:
            raise ConfigError(
                "command line",
                "--env",
                f"no environment '{requested}': none are configured",
                f"add [{STAGE_KEY}.environments.{requested}] or drop --env",
            )
        return [
            Target(DEFAULT_ENVIRONMENT, Environment(), p, settings.allowed_refs, False) for p in providers
        ]
    targets = [
        Target(name, env, env.provider or providers[0], env.allowed_refs or settings.allowed_refs, True)
        for name, env in settings.environments.items()
    ]
    if requested:
        targets = [t for t in targets if t.name == requested]
        if not targets:
            raise ConfigError(
                "command line",
                "--env",
                f"no environment '{requested}'",
                f"choose one of: {', '.join(settings.environments)}",
            )
    return targets


def refusal(ctx: ProviderContext[Any], target: Target) -> str | None:
    """The one-line refusal when this ref may not deploy ``target``, else None."""
    decision = check_ref(ctx.git, ctx.env, target.allowed_refs)
    if decision.allowed:
        return None
    fix = f"allow it with allowed_refs in {target.table}"
    pr = pull_request(ctx.env)
    if pr:
        return (
            f'deploy refused: pull request runs ({pr}) do not deploy to {target.name}; {fix} ("pull-request")'
        )
    return (
        f"deploy refused: {decision.ref} may not deploy to {target.name} "
        f"(allowed: {explain_patterns(ctx.git, target.allowed_refs)}); {fix}"
    )


def promotable(ctx: ProviderContext[Any], targets: list[Target]) -> tuple[list[Target], str | None, str]:
    """The environments this ref may reach in order, why promotion stops, and a refusal."""
    if ctx.args.dry_run:
        return targets, None, ""
    for i, target in enumerate(targets):
        refused = refusal(ctx, target)
        if refused is None:
            continue
        if i == 0:
            return [], None, refused
        ctx.log(refused)
        return targets[:i], f"not promoted to {target.name}: this ref may not deploy there", ""
    return targets, None, ""


class Promotion:
    """Per-run order of environments across the (concurrent) providers of the deploy stage."""

    def __init__(self, names: list[str], expected_users: int) -> None:
        self._cond = threading.Condition()
        self._outcome: dict[str, bool | None] = dict.fromkeys(names)
        self.expected_users = expected_users
        self.joined = 0
        self.active = 0

    def wait_turn(self, name: str, cancelled: threading.Event) -> str | None:
        """Block until the environments before ``name`` finished; the first that failed, if any."""
        names = list(self._outcome)
        earlier = names[: names.index(name)]
        with self._cond:
            while True:
                failed = next((n for n in earlier if self._outcome[n] is False), None)
                if failed is not None:
                    return failed
                if all(self._outcome[n] for n in earlier):
                    return None
                if cancelled.is_set():
                    return "cancelled"
                self._cond.wait(0.5)

    def finish(self, name: str, ok: bool) -> None:
        with self._cond:
            if self._outcome.get(name) is None:
                self._outcome[name] = ok
                self._cond.notify_all()


_PROMOTIONS: dict[int, Promotion] = {}
_PROMOTIONS_LOCK = threading.Lock()


@contextlib.contextmanager
def promotion(ctx: ProviderContext[Any], targets: list[Target]) -> Iterator[Promotion]:
    """The run's shared :class:`Promotion`; dropped once every provider that needs it is done."""
    key = id(ctx.config)  # one Config per run: the providers of this run's deploy stage share it
    users = len({t.provider for t in targets})
    with _PROMOTIONS_LOCK:
        promo = _PROMOTIONS.get(key)
        if promo is None:
            promo = _PROMOTIONS[key] = Promotion([t.name for t in targets], users)
        promo.joined += 1
        promo.active += 1
    try:
        yield promo
    finally:
        with _PROMOTIONS_LOCK:
            promo.active -= 1
            if promo.active == 0 and promo.joined >= promo.expected_users:
                _PROMOTIONS.pop(key, None)


# -- the record ---------------------------------------------------------------------------------
@dataclass
class Deployment:
    """What one environment's deploy did; becomes the ``deployment`` artifact."""

    environment: str
    namespace: str = ""
    context: str | None = None
    cluster: str | None = None
    objects: list[str] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # image name -> digest reference
    previous_revision: dict[str, str] = field(default_factory=dict)
    revision: dict[str, str] = field(default_factory=dict)
    outcome: str = "failed"  # success | failed | rolled-back | aborted | refused | dry-run
    reason: str | None = None
    rollback: str | None = None
    changed: int | None = None  # dry run: objects that would change
    chart: str | None = None  # helm: the oci:// chart deployed
    summary: str = ""
    started: float = field(default_factory=time.monotonic)

    def extra(self, ctx: ProviderContext[Any]) -> dict[str, Any]:
        digests = sorted({ref.rsplit("@", 1)[-1] for ref in self.images.values() if "@" in ref})
        data: dict[str, Any] = {
            "environment": self.environment,
            "namespace": self.namespace,
            "context": self.context,
            "cluster": self.cluster,
            "objects": self.objects,
            "images": self.images,
            "digests": digests,
            "previous_revision": self.previous_revision,
            "revision": self.revision,
            "outcome": self.outcome,
            "chart": self.chart,
            "reason": self.reason,
            "rollback": self.rollback,
            "duration_s": round(time.monotonic() - self.started, 3),
            "dry_run": ctx.args.dry_run,
            "commit": ctx.git.sha,
            "version": ctx.git.version,
            "ref": ctx.git.tag or ctx.git.branch,
        }
        if self.changed is not None:
            data["changed"] = self.changed
        return {k: v for k, v in data.items() if v is not None}


@contextlib.contextmanager
def recording(ctx: ProviderContext[Any], target: Target) -> Iterator[Deployment]:
    """Record a ``deployment`` artifact for ``target`` however the block ends."""
    record = Deployment(environment=target.name)
    try:
        yield record
    except StageFailed as exc:
        record.reason = record.reason or exc.message
        if record.outcome in ("success", "dry-run"):
            record.outcome = "failed"
        raise
    except BaseException as exc:
        record.outcome, record.reason = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        ctx.add_artifact("deployment", target.name, **record.extra(ctx))


def run_environments(ctx: ProviderContext[Any], deploy: Callable[[Target, Deployment], None]) -> None:
    """The provider's side of the stage: its environments, in promotion order, each recorded."""
    targets = plan_targets(ctx, deploy_settings(ctx.config))
    reachable, stop, refused = promotable(ctx, targets)
    if refused:
        if targets[0].provider != ctx.provider:
            ctx.summary = "nothing deployed: this ref may not deploy"
            return
        with recording(ctx, targets[0]) as record:
            record.outcome = "refused"
            raise StageFailed(refused)
    mine = [t for t in reachable if t.provider == ctx.provider]
    summaries: list[str] = []
    with promotion(ctx, reachable) as promo:
        try:
            for target in mine:
                blocker = promo.wait_turn(target.name, ctx.tracker.cancelled)
                if blocker is not None:
                    raise StageFailed(f"{target.name} not deployed: {blocker} did not succeed")
                ok = False
                try:
                    with recording(ctx, target) as record:
                        deploy(target, record)
                        summaries.append(record.summary)
                    ok = True
                finally:
                    promo.finish(target.name, ok)
        finally:
            for target in mine:  # unblock the other providers if this one stopped early
                promo.finish(target.name, False)
            ctx.summary = "; ".join(s for s in [*summaries, stop or ""] if s)
