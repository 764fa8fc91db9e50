"""Publish providers: turn a version tag's archives, checksums, SBOMs and packages into a release.

See docs/release.md. The stage runs only in a release (a clean checkout of a version tag),
never with ``--snapshot``; the release notes are the ``changelog`` artifact the core wrote.
"""
