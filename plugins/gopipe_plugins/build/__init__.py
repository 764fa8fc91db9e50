"""Build providers: ``go`` (reproducible cross-compiled binaries, one per main package and target)."""
