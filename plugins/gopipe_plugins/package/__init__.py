"""Package providers other than ``oci-image``: release archives + SBOMs, docker, buildah.

Each submodule is its own plugin (listed in ``gopipe.manager.BUILTIN_PLUGINS``) so one can
be blocked with ``disable_plugins`` without losing the others:

* :mod:`.archive` — ``archive``: tar.gz/zip per target, ``checksums.txt``, CycloneDX SBOMs
* :mod:`.docker` — ``docker``: ``docker build``/``buildx`` of the repository's Dockerfile
* :mod:`.buildah` — ``buildah``: ``buildah bud --isolation chroot`` of the same Dockerfile

See docs/packaging.md.
"""
