"""The nine stages, their data dependencies and the three pipelines built from them."""

from __future__ import annotations

from enum import Enum


class Stage(str, Enum):
    """A hook point. Each stage runs the providers selected by name in config."""

    LINT = "lint"
    TEST = "test"
    COVERAGE = "coverage"
    BUILD = "build"
    PACKAGE = "package"
    UPLOAD = "upload"
    PUBLISH = "publish"
    DEPLOY = "deploy"
    NOTIFY = "notify"

    def __str__(self) -> str:
        return self.value


# Data dependencies: a stage needs what these produced. Planning a stage pulls them in.
DEPENDS_ON: dict[Stage, tuple[Stage, ...]] = {
    Stage.LINT: (),
    Stage.TEST: (),
    Stage.COVERAGE: (Stage.TEST,),
    Stage.BUILD: (),
    Stage.PACKAGE: (Stage.BUILD,),
    Stage.UPLOAD: (Stage.PACKAGE,),
    Stage.PUBLISH: (Stage.UPLOAD,),
    Stage.DEPLOY: (Stage.UPLOAD,),
    Stage.NOTIFY: (),
}

PIPELINES: dict[str, tuple[Stage, ...]] = {
    "ci": (Stage.LINT, Stage.TEST, Stage.COVERAGE, Stage.BUILD),
    "cd": (Stage.PACKAGE, Stage.UPLOAD, Stage.DEPLOY),
    # a tag goes in, a published release comes out; announcing it is notify's job
    "release": (Stage.BUILD, Stage.PACKAGE, Stage.UPLOAD, Stage.PUBLISH),
}

# Providers used when config names none (zero-config defaults for a standard Go repo).
DEFAULT_PROVIDERS: dict[Stage, tuple[str, ...]] = {
    Stage.LINT: ("gofmt", "govet", "staticcheck"),
    Stage.TEST: ("go",),
    Stage.COVERAGE: ("summary", "threshold", "cobertura", "html"),
    Stage.BUILD: ("go",),
    Stage.PACKAGE: ("oci-image", "archive"),
    Stage.UPLOAD: (),
    Stage.PUBLISH: (),
    Stage.DEPLOY: (),
    Stage.NOTIFY: (),
}

# Seconds before a stage is stopped; overridable with ``[tool.gopipe.<stage>] timeout``.
DEFAULT_TIMEOUT_S: dict[Stage, float] = {
    Stage.LINT: 900,
    Stage.TEST: 1800,
    Stage.COVERAGE: 300,
    Stage.BUILD: 1800,
    Stage.PACKAGE: 900,
    Stage.UPLOAD: 900,
    Stage.PUBLISH: 900,
    Stage.DEPLOY: 1800,
    Stage.NOTIFY: 120,
}
