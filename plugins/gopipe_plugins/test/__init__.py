"""Test providers: ``go`` (``go test -json -race`` with coverage, shards) and the mergers of its outputs."""
