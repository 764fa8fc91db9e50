"""gopipe's default plugins, one folder per stage and one plugin module per provider.

Each module is registered by name, exactly as a third-party plugin would be; the core finds
this list through the ``gopipe.builtins`` entry point (see ``gopipe.manager``). ``_common/``
holds the helpers every stage may import; no stage imports another stage.
"""

# (plugin name, module). One plugin per provider, named like the provider, so
# ``disable_plugins = ["slack"]`` blocks exactly that provider. The Go tester and builder
# are both called ``go``; their plugins are ``go-test`` and ``go-build``, and the name
# ``go`` blocks both (see ``ALIASES``).
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    # lint
    ("gofmt", "gopipe_plugins.lint.gofmt"),
    ("govet", "gopipe_plugins.lint.govet"),
    ("staticcheck", "gopipe_plugins.lint.staticcheck"),
    ("golangci-lint", "gopipe_plugins.lint.golangci_lint"),
    ("govulncheck", "gopipe_plugins.lint.govulncheck"),
    ("sarif", "gopipe_plugins.lint.sarif"),
    # test
    ("go-test", "gopipe_plugins.test.gotest"),
    # coverage
    ("summary", "gopipe_plugins.coverage.summary"),
    ("threshold", "gopipe_plugins.coverage.threshold"),
    ("cobertura", "gopipe_plugins.coverage.cobertura"),
    ("html", "gopipe_plugins.coverage.html"),
    # build
    ("go-build", "gopipe_plugins.build.gobuild"),
    # package
    ("oci-image", "gopipe_plugins.package.oci_image"),
    ("archive", "gopipe_plugins.package.archive"),
    ("docker", "gopipe_plugins.package.docker"),
    ("buildah", "gopipe_plugins.package.buildah"),
    ("nfpm", "gopipe_plugins.package.nfpm"),
    ("source-archive", "gopipe_plugins.package.source_archive"),
    # upload
    ("registry", "gopipe_plugins.upload.registry"),
    ("harbor", "gopipe_plugins.upload.harbor"),
    ("ecr", "gopipe_plugins.upload.ecr"),
    ("oci-artifact", "gopipe_plugins.upload.oci_artifact"),
    ("s3", "gopipe_plugins.upload.s3"),
    ("helm-chart", "gopipe_plugins.upload.helm_chart"),
    # publish
    ("github", "gopipe_plugins.publish.github"),
    ("gitlab", "gopipe_plugins.publish.gitlab"),
    ("homebrew", "gopipe_plugins.publish.homebrew"),
    ("provenance", "gopipe_plugins.upload.provenance"),
    ("sign", "gopipe_plugins.upload.sign"),
    # deploy
    ("deploy-settings", "gopipe_plugins.deploy.settings"),
    ("kubectl", "gopipe_plugins.deploy.kubectl"),
    ("helm", "gopipe_plugins.deploy.helm"),
    ("argo-rollouts", "gopipe_plugins.deploy.argo"),
    ("flagger", "gopipe_plugins.deploy.flagger"),
    # notify
    ("slack", "gopipe_plugins.notify.slack"),
    ("wecom", "gopipe_plugins.notify.wecom"),
    ("dingtalk", "gopipe_plugins.notify.dingtalk"),
    ("feishu", "gopipe_plugins.notify.feishu"),
    ("teams", "gopipe_plugins.notify.teams"),
    ("webhook", "gopipe_plugins.notify.webhook"),
    ("email", "gopipe_plugins.notify.mail"),
    ("notify-state", "gopipe_plugins.notify.state"),
    # observe
    ("pushgateway", "gopipe_plugins.observe.pushgateway"),
    ("metadata", "gopipe_plugins.observe.metadata"),
)
# A provider name shared by several built-in plugins blocks all of them.
ALIASES: dict[str, tuple[str, ...]] = {"go": ("go-test", "go-build")}

# Plugins whose only hook registers one provider, as (stage, provider name). A run imports
# such a module only when its provider is selected (or its table needs its option types), so
# ``gopipe run ci`` never imports the image, upload or deploy code. Plugins with observer
# hooks, stage settings or mergers (sarif, go-test, go-build, deploy-settings, notify-state,
# metadata) are always imported. ``tests/core/test_lazy_plugins.py`` checks this table.
LAZY_PROVIDERS: dict[str, tuple[str, str]] = {
    "gofmt": ("lint", "gofmt"),
    "govet": ("lint", "govet"),
    "staticcheck": ("lint", "staticcheck"),
    "golangci-lint": ("lint", "golangci-lint"),
    "govulncheck": ("lint", "govulncheck"),
    "summary": ("coverage", "summary"),
    "threshold": ("coverage", "threshold"),
    "cobertura": ("coverage", "cobertura"),
    "html": ("coverage", "html"),
    "oci-image": ("package", "oci-image"),
    "archive": ("package", "archive"),
    "docker": ("package", "docker"),
    "buildah": ("package", "buildah"),
    "nfpm": ("package", "nfpm"),
    "source-archive": ("package", "source-archive"),
    "registry": ("upload", "registry"),
    "harbor": ("upload", "harbor"),
    "ecr": ("upload", "ecr"),
    "oci-artifact": ("upload", "oci-artifact"),
    "s3": ("upload", "s3"),
    "helm-chart": ("upload", "helm-chart"),
    "provenance": ("upload", "provenance"),
    "sign": ("upload", "sign"),
    "github": ("publish", "github"),
    "gitlab": ("publish", "gitlab"),
    "homebrew": ("publish", "homebrew"),
    "kubectl": ("deploy", "kubectl"),
    "helm": ("deploy", "helm"),
    "argo-rollouts": ("deploy", "argo-rollouts"),
    "flagger": ("deploy", "flagger"),
    "slack": ("notify", "slack"),
    "wecom": ("notify", "wecom"),
    "dingtalk": ("notify", "dingtalk"),
    "feishu": ("notify", "feishu"),
    "teams": ("notify", "teams"),
    "webhook": ("notify", "webhook"),
    "email": ("notify", "email"),
    "pushgateway": ("notify", "pushgateway"),
}
