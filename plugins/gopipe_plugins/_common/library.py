"""A library repository: no main package, so the build stage only checks that it compiles.

The build records a ``compile-check`` artifact (no file) instead of binaries. Stages that turn
binaries into something (package) read it to say plainly that there is nothing to do, rather
than fail, when the user has not asked for them explicitly (the zero-config case).
"""

from __future__ import annotations

from gopipe.context import ProviderContext

KIND = "compile-check"


def record_compile_check(ctx: ProviderContext[object], packages: int) -> None:
    """Say that the build compiled ``packages`` packages and made no binary (a library)."""
    ctx.add_artifact(KIND, "./...", packages=packages, main_packages=0)


def is_library_build(ctx: ProviderContext[object]) -> bool:
    """The build stage found no main package and only compiled the module."""
    return bool(ctx.artifacts.of_kind(KIND)) and not ctx.artifacts.of_kind("binary")


def nothing_to_package(ctx: ProviderContext[object]) -> bool:
    """True, with the reason in the summary and log, when a zero-config package stage meets a
    library: no binaries is then the expected outcome, not a failure. With ``providers`` set
    explicitly the user asked for packages, and the provider's own error stands."""
    if ctx.config.stage("package").explicit or not is_library_build(ctx):
        return False
    ctx.summary = "nothing to package: the module has no main package (a library)"
    ctx.log(
        "the build stage found no main package, so there are no binaries to package; "
        'set main = ["./path/to/cmd"] in [tool.gopipe] if the module has a command'
    )
    return True
