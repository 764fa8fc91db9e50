"""Typed options of the deploy providers and of the stage-level ``[tool.gopipe.deploy]`` keys.

One set of cluster option names (``kubeconfig``, ``kubeconfig_secret``, ``context``,
``namespace``, ``timeout``) means the same in every provider and in every environment table,
so an environment can override exactly what differs (usually namespace and context).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gopipe.config import doc
from gopipe.secrets import Secret
from gopipe_plugins._common.keyless import GITHUB_ISSUER
from gopipe_plugins._common.registry_access import Value

#: Refs that may deploy when neither the stage nor the environment says otherwise.
DEFAULT_ALLOWED_REFS = ("default-branch", "release-tags")


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach the cluster and how long to wait for a healthy rollout."""

    kubeconfig: str | None = doc(
        "kubeconfig file inside the repository (default: $KUBECONFIG or ~/.kube/config; "
        "one outside the repository is named by $KUBECONFIG)",
        None,
    )
    kubeconfig_secret: Secret | None = doc(
        "kubeconfig content (raw YAML or base64) from a secret; written 0600 to a private temp dir "
        "and deleted afterwards",
        None,
    )
    context: str | None = doc("kubeconfig context (default: its current-context)", None)
    namespace: str | None = doc("namespace (default: the context's namespace, else 'default')", None)
    kubectl: str = doc("kubectl executable: a name looked up on PATH or a path", "kubectl")
    timeout: float = doc("seconds the rollout may take to become healthy", 300.0)
    poll_interval: float = doc("seconds between status reads while waiting", 1.0)


@dataclass(frozen=True)
class ImageOptions:
    """Which uploaded image replaces which image in the manifests."""

    images: dict[str, str] = doc(
        "manifest image name (repository, or its last path part) -> image-ref artifact name or "
        "repository; default: match by repository name",
        default_factory=dict,
    )


@dataclass(frozen=True)
class KubectlOptions(ClusterOptions, ImageOptions):
    """kubectl server-side apply of a manifest directory or kustomization, then readiness."""

    manifests: str = doc(
        "directory of manifests or a kustomization, relative to the repository", "deploy/k8s"
    )
    kustomize: Literal["auto", "always", "never"] = doc(
        "render with `kubectl kustomize`: auto = when the directory has a kustomization file", "auto"
    )
    field_manager: str = doc("server-side apply field manager", "gopipe")
    force_conflicts: bool = doc("take over fields another manager owns (gopipe is the source of truth)", True)
    rollback: bool = doc("on failure, restore the previous pod template of each changed workload", True)
    delete_created: bool = doc(
        "on failure, delete objects this deploy created (not Namespaces or CRDs)", True
    )
    fail_fast: bool = doc("fail as soon as a new pod is in CrashLoopBackOff, ImagePullBackOff …", True)


@dataclass(frozen=True)
class ChartRegistryOptions:
    """How helm reaches an ``oci://`` chart registry; credentials only from the environment."""

    username: Value | None = doc('user name, or { env = "NAME" }', None)
    password: Secret | None = doc('password or token: { env = "NAME" } (environment only)', None)
    ca_file: Value | None = doc(
        'PEM CA bundle of the registry (relative to the repository, or { env = "NAME" })', None
    )
    plain_http: bool = doc("plain HTTP instead of TLS (loopback registries only)", False)


@dataclass(frozen=True)
class HelmOptions(ClusterOptions):
    """helm upgrade --install with the pushed image's repository and digest as values."""

    helm: str = doc("helm executable: a name looked up on PATH or a path", "helm")
    chart: str = doc(
        "chart directory (relative to the repository) or chart reference (repo/name, oci://…, https://…)",
        "deploy/chart",
    )
    chart_version: str = doc("version of a chart reference (helm --version)", "")
    pushed_chart: bool = doc(
        "install the chart this run's helm-chart uploader pushed (oci://… at its digest and version) "
        "instead of chart",
        False,
    )
    chart_registry: ChartRegistryOptions = doc(
        "credentials, CA and plain HTTP for an oci:// chart (the pushed one or chart = 'oci://…')",
        default_factory=ChartRegistryOptions,
    )
    release: str = doc(
        "release name template ({project}: the git remote's repository name, else the Go module's)",
        "{project}",
    )
    image: str | None = doc(
        "image-ref artifact to deploy (default: the only one, else the one named like the release)", None
    )
    repository_value: str = doc("values path that receives the image repository", "image.repository")
    digest_value: str = doc("values path that receives the image digest (sha256:…)", "image.digest")
    values_files: tuple[str, ...] = doc("values files, relative to the repository", ())
    values: dict[str, Any] = doc("values set for every environment", default_factory=dict)
    atomic: bool = doc(
        "on failure roll back to the last deployed revision (uninstall a first "
        "install), after recording why it failed",
        True,
    )
    wait: bool = doc("wait until the release's workloads are ready", True)
    create_namespace: bool = doc("create the namespace if it does not exist", False)
    history_max: int = doc("release revisions helm keeps", 10)
    fail_fast: bool = doc("stop waiting as soon as a new pod is in CrashLoopBackOff …", True)


@dataclass(frozen=True)
class ArgoRolloutsOptions(ClusterOptions, ImageOptions):
    """Argo Rollouts: patch a Rollout's pod template images, then follow its status."""

    rollout: str = doc(
        "Rollout name template ({project}: the git remote's repository name, else the Go module's)",
        "{project}",
    )
    abort: bool = doc(
        "abort the rollout (status.abort, like `kubectl argo rollouts abort`) when it fails or times out",
        True,
    )
    timeout: float = doc("seconds the rollout (all canary steps) may take", 900.0)


@dataclass(frozen=True)
class FlaggerOptions(ClusterOptions, ImageOptions):
    """Flagger: update the Canary's target workload images, then follow the canary analysis."""

    canary: str = doc(
        "Canary name template ({project}: the git remote's repository name, else the Go module's)",
        "{project}",
    )
    timeout: float = doc("seconds the canary analysis may take", 900.0)


@dataclass(frozen=True)
class Environment:
    """One ``[tool.gopipe.deploy.environments.<name>]`` table."""

    provider: str | None = doc("deploy provider for this environment (default: the only one selected)", None)
    namespace: str | None = doc("namespace (overrides the provider's)", None)
    context: str | None = doc("kubeconfig context (overrides the provider's)", None)
    kubeconfig: str | None = doc("kubeconfig file inside the repository (overrides the provider's)", None)
    kubeconfig_secret: Secret | None = doc("kubeconfig from a secret (overrides the provider's)", None)
    allowed_refs: tuple[str, ...] | None = doc(
        "refs that may deploy here (replaces the stage's allowed_refs): default-branch, release-tags, "
        "pull-request, branch:<glob>, tag:<glob>",
        None,
    )
    values: dict[str, Any] = doc(
        "helm values for this environment, merged over the provider's", default_factory=dict
    )
    manifests: str | None = doc("kubectl: manifest directory or overlay for this environment", None)
    timeout: float | None = doc("seconds the rollout may take (overrides the provider's)", None)
    url: str | None = doc(
        "where the deployed environment is reached; shown on GitHub's deployment (environment.url)", None
    )


@dataclass(frozen=True)
class DeploySettings:
    """Stage-level keys of ``[tool.gopipe.deploy]``."""

    environments: dict[str, Environment] = doc(
        "environments, promoted in the order written; `gopipe run cd --env NAME` picks one",
        default_factory=dict,
    )
    allowed_refs: tuple[str, ...] = doc(
        "refs that may deploy: default-branch, release-tags, pull-request, branch:<glob>, tag:<glob>",
        DEFAULT_ALLOWED_REFS,
    )
    require_signed: bool = doc(
        "deploy only images signed by public_key, or keyless by certificate_identity[_regexp], "
        "that carry SLSA provenance (cosign tag scheme or OCI referrers: Sigstore bundles)",
        False,
    )
    public_key: str = doc("cosign.pub (PEM) inside the repository, for require_signed", "")
    certificate_identity: str = doc(
        "require_signed keyless: the signer's certificate identity (cosign's "
        "--certificate-identity), e.g. https://github.com/OWNER/REPO/.github/workflows/gopipe-cd.yml@refs/tags/v1.2.3",
        "",
    )
    certificate_identity_regexp: str = doc(
        "require_signed keyless: a regular expression the identity must contain a match of "
        "(cosign's --certificate-identity-regexp; anchor it with ^...$)",
        "",
    )
    certificate_oidc_issuer: str = doc(
        "require_signed keyless: the OIDC issuer the certificate must name", GITHUB_ISSUER
    )
    trusted_root: str = doc(
        "require_signed keyless: a Sigstore TrustedRoot or ClientTrustConfig JSON inside the "
        "repository (a private instance); default: Sigstore's public production root",
        "",
    )
    signature_insecure: bool = doc(
        "read signatures over plain HTTP / without TLS verification; loopback registries only", False
    )
    signature_ca_file: str = doc(
        "CA certificate (PEM) inside the repository, trusted besides the system store when "
        "require_signed reads a registry with a private CA",
        "",
    )

    @property
    def keyless(self) -> bool:
        """Whether require_signed checks a keyless identity rather than a key."""
        return bool(self.certificate_identity or self.certificate_identity_regexp)
