"""Image references: ``[registry/]repository[:tag][@sha256:...]`` (Docker's rules)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .digest import check_digest

DOCKER_HUB = "registry-1.docker.io"
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def sanitize_tag(tag: str) -> str:
    """Make a rendered template a valid tag (``1.2.3+meta`` -> ``1.2.3-meta``)."""
    return _TAG_BAD.sub("-", tag).lstrip(".-")[:128]


def check_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise ValueError(f"invalid tag: {tag!r}")
    return tag


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, value: str, default_tag: str = "latest") -> Reference:
        """Parse a reference; a first component without ``.``/``:`` (and not localhost) is a
        Docker Hub repository, as the Docker CLI does."""
        rest, digest = value, ""
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            check_digest(digest)
        tag = ""
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], check_tag(rest[colon + 1 :])
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, repo = first, remainder
        else:
            registry, repo = DOCKER_HUB, rest
            if "/" not in repo:
                repo = "library/" + repo
        if not _REPO_RE.match(repo):
            raise ValueError(f"invalid repository name in {value!r}")
        if not tag and not digest:
            tag = default_tag
        return cls(registry, repo, tag, digest)

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when pinned, else the tag."""
        return self.digest or self.tag

    def name_with_tag(self) -> str:
        return f"{self.registry}/{self.repository}" + (f":{self.tag}" if self.tag else "")

    def __str__(self) -> str:
        return self.name_with_tag() + (f"@{self.digest}" if self.digest else "")


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``[::1]``, with or without a port."""
    name = host.strip()
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
