"""Read a GitHub Actions log the way the runner does, written from the spec, not from gopipe.

The spec (the Actions toolkit's ``command.ts`` and the runner's command parser):

- a command is a line that starts, after leading whitespace, with ``::NAME``, optionally a
  space and ``key=value`` properties joined by ``,``, then ``::`` and the message;
- in the message ``%25``, ``%0D``, ``%0A`` stand for ``%``, CR, LF; in property values also
  ``%3A`` for ``:`` and ``%2C`` for ``,``;
- ``::group::TITLE`` … ``::endgroup::`` fold lines; groups do not nest;
- after ``::stop-commands::TOKEN`` no line is a command until the line ``::TOKEN::``.

This module deliberately imports nothing from gopipe: it checks gopipe's output against the
spec, so it must not share gopipe's escaping code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    name: str
    properties: dict[str, str]
    message: str
    group: str | None  # the title of the group it was issued in


@dataclass
class Group:
    title: str
    lines: list[str] = field(default_factory=list)


@dataclass
class ActionsLog:
    commands: list[Command] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    top: list[str] = field(default_factory=list)  # plain lines outside any group

    def of(self, *names: str) -> list[Command]:
        return [c for c in self.commands if c.name in names]

    def group(self, title: str, *, prefix: bool = False) -> Group:
        """The one group titled ``title`` (or whose title starts with it)."""
        found = [g for g in self.groups if g.title == title or (prefix and g.title.startswith(title))]
        assert len(found) == 1, f"{len(found)} groups titled {title!r}: {[g.title for g in self.groups]}"
        return found[0]


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def parse_command(line: str) -> tuple[str, dict[str, str], str] | None:
    """``(name, properties, message)`` if the runner would read ``line`` as a command."""
    text = line.lstrip()
    if not text.startswith("::"):
        return None
    end = text.find("::", 2)
    if end < 0:
        return None
    head, message = text[2:end], text[end + 2 :]
    name, _, props_text = head.partition(" ")
    properties: dict[str, str] = {}
    for item in props_text.split(",") if props_text else []:
        key, sep, value = item.partition("=")
        assert sep, f"property without '=' in {line!r}"
        properties[key] = unescape_property(value)
    return name, properties, unescape_data(message)


def parse_log(text: str) -> ActionsLog:
    log = ActionsLog()
    current: Group | None = None
    stopped: str | None = None
    for line in text.splitlines():
        if stopped is not None:
            if line.strip() == f"::{stopped}::":
                stopped = None
            else:
                (current.lines if current else log.top).append(line)
            continue
        parsed = parse_command(line)
        if parsed is None:
            (current.lines if current else log.top).append(line)
            continue
        name, properties, message = parsed
        if name == "group":
            current = Group(message)  # a group inside a group ends the first one
            log.groups.append(current)
        elif name == "endgroup":
            current = None
        elif name == "stop-commands":
            stopped = message
        else:
            log.commands.append(Command(name, properties, message, current.title if current else None))
    assert stopped is None, "commands were stopped and never resumed"
    return log
