"""Target platforms (``linux/amd64``, ``linux/arm/v7`` ...) as OCI index entries describe them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, value: str) -> Platform:
        """Parse ``os/arch[/variant]``; the OS part must be given (``linux/arm64``)."""
        parts = value.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"invalid platform {value!r}, expected os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Platform:
        return cls(str(obj.get("os", "")), str(obj.get("architecture", "")), str(obj.get("variant", "")))

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def matches(self, other: Platform) -> bool:
        """Whether an index entry *other* can serve this requested platform.

        An unset variant matches any variant, and arm64 treats ``v8`` as the default.
        """
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if not self.variant or self.variant == other.variant:
            return True
        return self.architecture == "arm64" and {self.variant, other.variant} <= {"", "v8"}

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)
