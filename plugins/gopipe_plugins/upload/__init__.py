"""Upload providers: OCI registries (generic, Harbor, ECR), OCI artifacts next to images, S3.

See docs/upload.md. Each provider is its own plugin module so one can be blocked with
``disable_plugins`` without touching the others.
"""
