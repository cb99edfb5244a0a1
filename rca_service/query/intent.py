"""What a question asks for (its intent) and which signals it mentions.

Intent is read with weighted phrase patterns rather than a model: the questions people type in
an incident are short and formulaic, the rules are inspectable, and they work offline. Each
intent sums the weights of its patterns that match; the highest total wins, ties broken by the
order of `Intent` (more specific first).
"""

from __future__ import annotations

import re
from enum import Enum


class Intent(str, Enum):
    """Kinds of question the engine answers. Declaration order breaks ties."""

    SIMILAR = "similar"  # has this happened before?
    REMEDIATION = "remediation"  # what is being done / is the fix applied?
    CHANGES = "changes"  # what changed before it started?
    LIST_INCIDENTS = "list_incidents"  # show incidents in a range
    STATUS = "status"  # is X ok?
    WHAT_BROKE = "what_broke"  # what broke at T?
    ROOT_CAUSE = "root_cause"  # why is X slow? what is the root cause?
    HELP = "help"
    UNKNOWN = "unknown"


_PATTERNS: dict[Intent, list[tuple[str, float]]] = {
    Intent.SIMILAR: [
        (r"\bhappen(ed|s)? before\b", 3), (r"\bseen (this|it|that) before\b", 3), (r"\bseen (this|that)\b.{0,40}\bbefore\b", 3), (r"\bsimilar\b", 2),
        (r"\b(before|previously)\b.*\b(seen|happened|occurred)\b", 1), (r"\blast time\b", 2),
        (r"\b(recur|recurring|again)\b", 1.5), (r"\bpast incidents? like\b", 3), (r"\bprecedent\b", 2),
        (r"\bany (prior|previous|earlier) (incidents?|occurrences?)\b", 2.5),
    ],
    Intent.REMEDIATION: [
        (r"\bremediat\w*", 3), (r"\b(fix|fixed|fixes)\b", 1.5), (r"\bapprov\w*", 2), (r"\brollback|roll(ed)? back\b", 1.5),
        (r"\b(restart|restarted|scale[ds]? out|scaled)\b", 1.5), (r"\bplaybook\b", 2),
        (r"\bwhat (is|was|are) (being )?(done|applied)\b", 2), (r"\baction(s)? (taken|pending|proposed)\b", 2.5),
        (r"\bpending\b", 1),
    ],
    Intent.CHANGES: [
        (r"\bwhat changed\b", 3), (r"\bchanges?\b", 1.5), (r"\bdeploy\w*", 2), (r"\brelease[ds]?\b", 1.5),
        (r"\bconfig(uration)? (change|update|push)\w*", 2), (r"\brolled out\b", 1.5), (r"\bnew version\b", 1.5),
    ],
    Intent.LIST_INCIDENTS: [
        (r"\b(show|list|give|get)( me)?( all)?( the)? (recent |open |active |resolved )?incidents\b", 3),
        (r"\bincidents\b", 1.5), (r"\bany (incidents?|outages?|alerts?)\b", 2),
        (r"\bhow many (incidents|outages|problems|issues)\b", 3), (r"\b(outages|alerts)\b", 1),
        (r"\bwhat incidents\b", 2),
    ],
    Intent.STATUS: [
        (r"\bis (the )?[\w\-. ]{1,40}? (ok|okay|fine|healthy|up|down|alright|working|normal|degraded|alive)\b", 3),
        (r"\b(status|health)\b", 2), (r"\bhow is (the )?[\w\-. ]{1,40}? doing\b", 3), (r"\bhealthy\b", 1),
        (r"\bany problems? with\b", 1.5), (r"\bhow('s| is) [\w\-. ]{1,40}? (looking|behaving)\b", 3),
        (r"\b(ok|okay)\?", 1),
    ],
    Intent.WHAT_BROKE: [
        (r"\bwhat (broke|failed|happened|went wrong|blew up|went down)\b", 3), (r"\bwhat('s| is) (broken|going on)\b", 2.5),
        (r"\bwhat('s| is) wrong\b(?! with)", 2.5),
        (r"\bwhich services? (broke|failed|was affected|were affected|went down)\b", 3), (r"\bwhat was (the )?(problem|issue)\b", 2),
        (r"\bdid something break\b", 2.5), (r"\boutage\b", 1),
    ],
    Intent.ROOT_CAUSE: [
        (r"\bwhy\b", 3), (r"\broot[- ]?cause\b", 3), (r"\bwhat caused\b", 3), (r"\bcause[ds]?\b", 1.5),
        (r"\bwhat('s| is) wrong with\b", 2.5), (r"\bculprit\b", 2.5), (r"\bto blame\b", 2.5), (r"\bresponsible for\b", 2),
        (r"\bexplain\b", 1.5), (r"\bwhere (is|are) (the )?(errors?|latency|slowness) coming from\b", 3),
        (r"\b(slow|slowness|timing out|timeouts?|failing|erroring|throwing)\b", 1),
    ],
    Intent.HELP: [(r"^\s*(help|\?|what can you do|commands)\s*\??\s*$", 5), (r"\bhow do i use\b", 3)],
}
_COMPILED = {intent: [(re.compile(p, re.I), w) for p, w in pats] for intent, pats in _PATTERNS.items()}

# Signal families as the store names them (store.frames.signal_family) and the words for them.
SIGNAL_WORDS: dict[str, tuple[str, ...]] = {
    "latency": ("slow", "slowness", "latency", "latencies", "response time", "p99", "p95", "p90", "lag", "laggy",
                "timeout", "timeouts", "timing out", "sluggish", "delay", "delays", "duration"),
    "errors": ("error", "errors", "erroring", "5xx", "500s", "failing", "failures", "failed", "exception",
               "exceptions", "crash", "crashing", "fault", "faults"),
    "cpu": ("cpu", "processor", "cpu usage", "throttling", "throttled"),
    "memory": ("memory", "mem", "oom", "heap", "out of memory", "leak", "ram"),
    "network": ("network", "packet", "packets", "connection", "connections", "dns", "bandwidth", "tcp",
                "unreachable"),
    "traffic": ("traffic", "requests", "request rate", "throughput", "qps", "rps", "load", "volume"),
}
_SIGNAL_RES = {
    sig: re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.I) for sig, words in SIGNAL_WORDS.items()
}

# Words that belong to the question's grammar, intent or signals; never part of a service name.
VOCABULARY = frozenset(
    w for words in SIGNAL_WORDS.values() for phrase in words for w in phrase.split()
) | frozenset(
    """a an the is are was were be been being am do does did has have had having it its it's this that these those
    what whats what's why how who which when where whom whose there their they them we our us you your i me my
    of on in at to for from by with about into over under since until till between before after during around
    and or not no yes any all some many much more most less least very just only also still ever again
    ok okay fine healthy up down alright working normal degraded alive broken wrong going happened happening
    show list give get tell find see seen look looking behaving doing please can could would should will
    incident incidents outage outages alert alerts problem problems issue issues root cause causes caused cause
    changed change changes deploy deployed deploys deployment deployments release released config configuration
    broke break breaking failed fail went blew started start starts began begin stop stopped
    service services svc system app application component components pod pods node nodes
    last past previous recent recently today yesterday tonight morning afternoon evening night hour hours minute
    minutes min mins second seconds day days week weeks ago now time times am pm noon midnight
    status health state similar before happen happens remediation remediations fix fixed approve approved
    rollback roll back restart restarted pending applied done action actions playbook culprit blame explain
    responsible help spike spikes high higher low lower increase increased drop dropped rising rise
    coming something anything everything else other same like because so then than if
    """.split()
)


def classify_intent(question: str) -> tuple[Intent, float]:
    """The question's intent and the summed weight that chose it (0 for UNKNOWN)."""
    best, best_score = Intent.UNKNOWN, 0.0
    for intent in Intent:
        score = sum(w for rx, w in _COMPILED.get(intent, []) if rx.search(question))
        if score > best_score:  # strict: earlier intents win ties
            best, best_score = intent, score
    return best, best_score


def extract_signals(question: str) -> list[str]:
    """Signal families the question mentions, in a stable order."""
    return [sig for sig, rx in _SIGNAL_RES.items() if rx.search(question)]
