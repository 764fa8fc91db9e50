"""Turn the remote cache on for one run: the stage store, and ``GOCACHEPROG`` for Go commands."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from gopipe.context import RunContext
from gopipe.errors import ConfigError
from gopipe.remote_cache.options import CacheOptions, load_cache_options

if TYPE_CHECKING:  # the store, the OCI client and boto3 load only when a remote is configured
    from gopipe.remote_cache.connection import Connection
    from gopipe.remote_cache.stages import RemoteStageCache

ENV_CONNECTION = "GOPIPE_CACHE_CONNECTION"
ENV_WRITES = "GOPIPE_CACHE_WRITES"
ENV_INDEX = "GOPIPE_GOCACHE_INDEX"  # the Go cache index of this run's stages (go_index.py)
ENV_JOURNAL = "GOPIPE_GOCACHE_JOURNAL"  # where the cache programs of a trusted run list their entries
MIN_GO_MINOR = 24  # GOCACHEPROG left GOEXPERIMENT in Go 1.24


def open_remote_cache(run: RunContext) -> RemoteStageCache | None:
    """The run's remote stage cache, or None (not configured, ``--no-cache``, bad config)."""
    try:
        opts = load_cache_options(run.config)
    except ConfigError:
        return None  # reported by the preflight check; never reached with a bad config
    if not opts.remote or not run.args.use_cache:
        return None
    from gopipe.remote_cache import gocacheprog
    from gopipe.remote_cache.connection import Connection
    from gopipe.remote_cache.go_index import GoIndex, index_scope
    from gopipe.remote_cache.stages import RemoteStageCache
    from gopipe.remote_cache.trust import may_write

    connection = Connection.from_options(opts, run.root, run.env)
    writes = may_write(opts, run.env)
    run.console.line(run.redactor(f"remote cache {opts.remote}: {writes.why}"))
    run.events.emit("remote_cache", remote=opts.remote, writes=writes.allowed, why=writes.why)
    cache = RemoteStageCache(
        connection,
        opts,
        root=run.root,
        dist=run.config.dist,
        env=run.env,
        redact=run.redactor,
        say=lambda text: _say(run, text),
        writes=writes,
    )
    if opts.go_build_cache and _enable_gocacheprog(run, opts, connection, writes.allowed):
        cache_dir = gocacheprog.cache_dir(dict(run.env))
        journal = run.out / "cache" / "gocache-journal.jsonl"
        journal.unlink(missing_ok=True)  # a previous run's, on a reused runner
        index_file = run.out / "cache" / "gocache-index.json"
        index_file.unlink(missing_ok=True)
        run.env[ENV_INDEX] = str(index_file)
        if writes.allowed:
            run.env[ENV_JOURNAL] = str(journal)
        cache.go_index = GoIndex(
            cache.pool,
            cache_dir,
            index_file=index_file,
            journal=journal,
            scope=index_scope(run.go.version()),
            writes=writes.allowed,
            say=lambda text: _say(run, text),
        )
    return cache


def _say(run: RunContext, text: str) -> None:
    run.console.line(f"warning: {text}")
    run.events.emit("warning", message=text)


def _enable_gocacheprog(run: RunContext, opts: CacheOptions, connection: Connection, writes: bool) -> bool:
    """Point every Go command of the run at ``gopipe.remote_cache.gocacheprog`` (False: not)."""
    version = run.go.version()
    try:
        minor = int(version.removeprefix("go").split(".")[1])
    except (IndexError, ValueError):
        minor = 0
    if minor < MIN_GO_MINOR:
        run.console.line(f"remote cache: Go {version} has no GOCACHEPROG (1.24+); Go's own cache is used")
        return False
    if "GOCACHEPROG" in run.env:
        run.console.line("remote cache: GOCACHEPROG is already set; it is left alone")
        return False
    settings = run.out / "cache" / "gocacheprog.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(connection.to_json())
    del opts
    run.env["GOCACHEPROG"] = f"{sys.executable} -m gopipe.remote_cache.gocacheprog"
    run.env[ENV_CONNECTION] = str(settings)
    run.env[ENV_WRITES] = "1" if writes else "0"
    return True
