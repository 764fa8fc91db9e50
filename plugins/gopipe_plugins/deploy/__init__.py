"""Deploy providers: ``kubectl``, ``helm``, ``argo-rollouts`` and ``flagger``.

All four drive the real ``kubectl``/``helm`` binaries (so every kubeconfig auth method works),
deploy only digest references recorded by the upload stage, refuse to run from refs that may
not deploy, and record a ``deployment`` artifact per environment. See docs/deploy.md.

Each provider is its own plugin module so one can be blocked with ``disable_plugins``;
:mod:`.settings` declares the stage-level ``[tool.gopipe.deploy]`` keys, which the core validates
before a run starts.
"""
