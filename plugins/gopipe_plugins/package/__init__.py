"""Package providers, one plugin module each, built from the build stage's binaries:

* :mod:`.oci_image` — ``oci-image``: reproducible multi-arch OCI images without a daemon
  (on the ``gopipe_oci`` library);
* :mod:`.archive` — ``archive``: tar.gz/zip per target, ``checksums.txt``, CycloneDX SBOMs
  (:mod:`.archive_writer`, :mod:`.sbom`);
* :mod:`.docker` — ``docker``: ``docker build``/``buildx`` of the repository's Dockerfile;
* :mod:`.buildah` — ``buildah``: ``buildah bud --isolation chroot`` of the same Dockerfile
  (both share :mod:`.dockerfile_build`).

See docs/packaging.md and docs/oci.md.
"""
