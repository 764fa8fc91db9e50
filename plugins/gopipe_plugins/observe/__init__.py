"""Observability: build metadata, and pipeline/DORA metrics pushed to a Pushgateway."""
