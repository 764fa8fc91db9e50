"""The remote cache: stage results and Go's build cache in the team's own OCI registry.

``[tool.gopipe.cache] remote = "oci://host/repo"`` makes a fresh CI runner warm: stage results
(report entries, findings, artifacts) are OCI artifacts tagged by the stage fingerprint, large
files are blobs stored once by digest, and ``gopipe gocacheprog`` serves Go's build cache
(``GOCACHEPROG``) from the same repository. See docs/cache.md.
"""
