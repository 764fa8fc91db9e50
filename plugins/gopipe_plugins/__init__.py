"""gopipe's default plugins. Each module is one plugin, registered by name in
``gopipe.manager.BUILTIN_PLUGINS`` exactly as a third-party plugin would be."""
