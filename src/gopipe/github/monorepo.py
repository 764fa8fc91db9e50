"""``gopipe-ci.yml`` for a repository with several Go modules: a matrix over modules.

A first job lists the modules as JSON (``gopipe modules --json``; on a pull request only the
changed ones and their dependants, ``--changed-since`` the base branch), a matrix job runs
``nox -s ci -- --module PATH`` for each (``fromJSON``), and a job named ``ci`` sums the matrix
up, so one required status check covers every module however many there are (and a pull
request that touches no module passes). Each module's SARIF goes to code scanning under its
own category. cd holds these same jobs (without caches) before its deploy jobs, and
``nox -s cd`` at the top runs every module.

Kept apart from :mod:`gopipe.github.workflow` so the single-module workflows stay as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gopipe.config import Config
from gopipe.config.layers import layered_config, module_layers
from gopipe.config.loader import read_tool_table
from gopipe.github.yaml import Block
from gopipe.modules import Workspace, discover
from gopipe.monorepo import wants_modules

if TYPE_CHECKING:
    from gopipe.github.workflow import Job, Step, _Builder

MODULE_ARTIFACT = "gopipe-ci-"  # + the module's slug: its dist/gopipe
_MATRIX = "${{ fromJSON(needs.modules.outputs.modules) }}"

_LIST_MODULES = """\
if [ "$GOPIPE_EVENT" = pull_request ]; then
  modules="$(gopipe modules --json --changed-since "origin/$GOPIPE_BASE_REF")"
else
  modules="$(gopipe modules --json)"
fi
echo "modules=$modules" >> "$GITHUB_OUTPUT"
"""

_SUM_UP = """\
case "$GOPIPE_MODULES_RESULT/$GOPIPE_LIST_RESULT" in
  success/success|skipped/success) echo "every module passed" ;;
  *) echo "::error::ci failed: modules $GOPIPE_LIST_RESULT, matrix $GOPIPE_MODULES_RESULT"; exit 1 ;;
esac
"""


def workflow_workspace(config: Config) -> Workspace | None:
    """The modules when ``config`` is the top of a multi-module repository, else None."""
    if not wants_modules(config.root):
        return None
    workspace = discover(config.root)
    return workspace if workspace.is_multi else None


def module_configs(config: Config) -> list[Config]:
    """Each module's config (the top's tables layered with its own) when ``config`` is the top
    of a multi-module repository, else none: what ``nox -s cd`` at the top runs each with."""
    workspace = workflow_workspace(config)
    if workspace is None:
        return []
    root_raw, _ = read_tool_table(config.file)
    configs = []
    for module in workspace.modules:
        layers = module_layers(config.file, root_raw, module.path, module.dir)
        configs.append(layered_config(module.dir, layers, present=True)[0])
    return configs


def monorepo_ci_workflow(b: _Builder, base: dict[str, Any]) -> dict[str, Any]:
    """The single-module ci workflow ``base`` (its triggers, env and concurrency) with the
    module matrix as its jobs."""
    from gopipe.github.workflow import CI_STAGES, _nox, permissions

    read = permissions("contents")
    jobs: dict[str, Job] = {}
    jobs["modules"] = b.job(
        "modules",
        [
            *_setup(
                b, "modules", go_version_file="go.work" if (b.config.root / "go.work").is_file() else None
            ),
            b.check_workflows(),
            {
                "name": "List the modules to run",
                "id": "list",
                "env": {
                    "GOPIPE_EVENT": "${{ github.event_name }}",
                    "GOPIPE_BASE_REF": "${{ github.base_ref }}",
                },
                "run": Block(_LIST_MODULES),
            },
        ],
        permissions=dict(read),
        outputs={"modules": "${{ steps.list.outputs.modules }}"},
    )
    jobs["module"] = b.job(
        "ci ${{ matrix.module.path }}",
        [
            *_setup(b, "ci-${{ matrix.module.slug }}", go_version_file="${{ matrix.module.path }}/go.mod"),
            b.run(
                "Run the ci pipeline in one module",
                _nox("ci", '--module "$GOPIPE_MODULE"'),
                {**b.secrets_env(CI_STAGES), "GOPIPE_MODULE": "${{ matrix.module.path }}"},
            ),
            b.upload(f"{MODULE_ARTIFACT}${{{{ matrix.module.slug }}}}", "${{ matrix.module.out }}"),
        ],
        permissions=dict(read),
        needs=["modules"],
        strategy={"fail-fast": False, "matrix": {"module": _MATRIX}},
        **{"if": "${{ needs.modules.outputs.modules != '[]' }}"},
    )
    jobs["ci"] = {
        "name": "ci",
        "needs": ["modules", "module"],
        "if": "${{ always() }}",
        "permissions": {},
        "runs-on": b.opts.runs_on,
        "timeout-minutes": 5,
        "steps": [
            {
                "name": "Sum up the modules",
                "env": {
                    "GOPIPE_LIST_RESULT": "${{ needs.modules.result }}",
                    "GOPIPE_MODULES_RESULT": "${{ needs.module.result }}",
                },
                "run": Block(_SUM_UP),
            }
        ],
    }
    if b.lints:
        jobs["code-scanning"] = _code_scanning(b)
    return {**base, "jobs": jobs}


def _setup(b: _Builder, job: str, *, go_version_file: str | None) -> list[Step]:
    """Checkout, Go and Python, caches keyed on every module's go.sum, and gopipe; in cd
    (``b.caches`` false) no cache at all."""
    os_ = "${{ runner.os }}"
    gosum = "${{ hashFiles('**/go.sum') }}"
    tools = b.tool_versions_hash()
    go: dict[str, Any] = {"cache": False}
    go |= {"go-version-file": go_version_file} if go_version_file else {"go-version": "stable"}
    toolchains = [
        b.checkout(),
        b.action("Set up Go", "actions/setup-go", go),
        b.action("Set up Python", "actions/setup-python", {"python-version": b.opts.python_version}),
    ]
    if not b.caches:
        return [*toolchains, b.install_step()]
    return [
        *toolchains,
        b.action(
            "Cache Go modules",
            "actions/cache",
            {"path": "~/go/pkg/mod", "key": f"gomod-{os_}-{gosum}", "restore-keys": f"gomod-{os_}-"},
        ),
        b.action(
            "Cache Go build",
            "actions/cache",
            {
                "path": "~/.cache/go-build",
                "key": f"gobuild-{os_}-{job}-{gosum}-${{{{ github.sha }}}}",
                "restore-keys": Block(f"gobuild-{os_}-{job}-{gosum}-\ngobuild-{os_}-{job}-\n"),
            },
        ),
        b.action(
            "Cache gopipe tools",
            "actions/cache",
            {
                "path": "~/.cache/gopipe",
                "key": f"gopipe-tools-{os_}-{tools}-${{{{ hashFiles('**/go.mod', '**/go.sum') }}}}",
                "restore-keys": f"gopipe-tools-{os_}-{tools}-",
            },
        ),
        b.install_step(),
    ]


def _code_scanning(b: _Builder) -> Job:
    """Each module's lint SARIF to code scanning, from a job that runs no project code."""
    from gopipe.github.workflow import _SCANNED_EVENTS, permissions

    sarif = "${{ matrix.module.out }}/lint.sarif"
    sarif_expr = "format('{0}/lint.sarif', matrix.module.out)"
    return b.job(
        "code scanning ${{ matrix.module.path }}",
        [
            b.checkout(history=False),
            b.action(
                "Download the module's ci output",
                "actions/download-artifact",
                {
                    "name": f"{MODULE_ARTIFACT}${{{{ matrix.module.slug }}}}",
                    "path": "${{ matrix.module.out }}",
                },
            ),
            b.action(
                "Upload lint findings to code scanning",
                "github/codeql-action/upload-sarif",
                {"sarif_file": sarif, "category": "gopipe-lint/${{ matrix.module.path }}"},
                **{"if": f"hashFiles({sarif_expr}) != ''"},
            ),
        ],
        permissions=permissions("actions", "contents", "security-events"),
        needs=["modules", "module"],
        strategy={"fail-fast": False, "matrix": {"module": _MATRIX}},
        **{"if": "${{ !cancelled() && needs.modules.outputs.modules != '[]' && (" + _SCANNED_EVENTS + ") }}"},
    )
