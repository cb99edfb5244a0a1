"""`/rca ...` slash-command text → a command."""

from __future__ import annotations

import re
from dataclasses import dataclass

HELP = ("*/rca* answers questions about incidents:\n"
        "• `/rca <question>` — e.g. `/rca why is <service> slow?`, `/rca what broke at 14:05?`\n"
        "• `/rca incidents` — the newest incidents\n"
        "• `/rca status <service>` — is the service OK?\n"
        "• `/rca approve <remediation-id>` / `/rca reject <remediation-id> [reason]` — needs the operator role\n"
        "• `/rca help` — this text")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


@dataclass(frozen=True)
class Command:
    """A parsed slash command: name is help|incidents|status|approve|reject|ask|invalid."""

    name: str
    arg: str = ""
    reason: str = ""


def parse_command(text: str) -> Command:
    text = (text or "").strip()
    if not text or text.lower() in ("help", "-h", "--help", "?"):
        return Command("help")
    word, _, rest = text.partition(" ")
    word, rest = word.lower(), rest.strip()
    if word == "incidents" and len(rest.split()) <= 1:
        return Command("incidents", rest.lower())
    if word == "status" and rest:
        return Command("status", rest)
    if word in ("approve", "reject"):
        rem_id, _, reason = rest.partition(" ")
        if not _ID.match(rem_id):
            return Command("invalid", f"`/rca {word}` needs a remediation id, e.g. `/rca {word} rem-123`")
        return Command(word, rem_id, reason.strip())
    return Command("ask", text)
