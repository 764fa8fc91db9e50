pytest_plugins = [
    "tests.harness.procs",
    "tests.harness.registry",
    "tests.harness.faulty_proxy",
    "tests.harness.dockerd",
    "tests.harness.buildah",
    "tests.harness.pushgateway",
    "tests.harness.moto_server",
    "tests.harness.smtp",
    "tests.harness.k8s",
]
