"""Helpers every stage may import: Go positions and findings, cover profiles, the HTTP client
with retries, and how providers reach an OCI registry. Nothing here imports a stage."""
