import gopipe.nox

gopipe.nox.install()
