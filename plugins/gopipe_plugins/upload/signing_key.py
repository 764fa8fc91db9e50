"""The signing key of the upload providers that sign (``provenance``, ``sign``): a cosign
key from a ``Secret``, its password from a ``Secret`` or ``COSIGN_PASSWORD`` (as cosign)."""

from __future__ import annotations

from typing import Any

from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.secrets import Secret
from gopipe_plugins._common.cosign_key import BadKey, load_private_key


def load_signing_key(ctx: ProviderContext[Any], key: Secret, password: Secret | None, config_key: str) -> Any:
    """The EC private key; every problem is a one-line ConfigError that shows neither secret."""
    file = ctx.config.display_file
    try:
        pem = key.reveal()
    except LookupError as exc:
        raise ConfigError(file, f"{config_key}.key", str(exc), "set the key Secret to cosign.key") from None
    if password is not None:
        try:
            secret = password.reveal()
        except LookupError as exc:
            raise ConfigError(file, f"{config_key}.password", str(exc)) from None
    else:
        secret = ctx.env.get("COSIGN_PASSWORD", "")
    if len(secret) >= 4:
        ctx.add_secret(secret)
    try:
        return load_private_key(pem.encode(), secret)
    except ImportError as exc:
        raise ConfigError(
            file, f"{config_key}.key", f"signing needs {exc.name}", "pip install cryptography pynacl"
        ) from None
    except BadKey as exc:
        where = password.describe() if password is not None else "COSIGN_PASSWORD"
        fix = (
            f"check the password in {where}"
            if "password" in str(exc)
            else "point key at a cosign.key (cosign generate-key-pair)"
        )
        raise ConfigError(file, f"{config_key}.key", f"{key.describe()}: {exc}", fix) from None
