"""Image packagers that need no container daemon (``oci-image``)."""
