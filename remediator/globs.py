"""Redis glob patterns (SCAN MATCH): could a pattern match some key under a prefix?

FLUSH_REDIS deletes what its patterns match, and the platform's Redis may be the
remediator's own: a pattern that could reach ``amc:remediator:*`` or ``rq:*`` is refused.
The syntax is Redis's: ``*``, ``?``, ``[...]`` (``^`` negates, ``a-z`` ranges), ``\\``.
"""

from __future__ import annotations


def may_match_prefix(pattern: str, prefix: str) -> bool:
    """True when ``pattern`` matches at least one key that starts with ``prefix``."""
    at = 0
    for char in prefix:
        if at >= len(pattern):
            return False  # the pattern's keys all end before the prefix does
        element = pattern[at]
        if element == "*":
            return True  # it takes the rest of the prefix, and anything after it
        if element == "[":
            matched, at = _in_class(pattern, at + 1, char)
            if not matched:
                return False
            continue
        if element == "\\" and at + 1 < len(pattern):
            at += 1
            element = pattern[at]
        elif element == "?":
            element = char
        if element != char:
            return False
        at += 1
    return True  # the prefix is matched; what is left of the pattern can match a suffix


def _in_class(pattern: str, at: int, char: str) -> tuple[bool, int]:
    """Does the class starting at ``at`` (after its ``[``) take ``char``? And where it ends."""
    negate = at < len(pattern) and pattern[at] == "^"
    at += negate
    found = False
    while at < len(pattern) and pattern[at] != "]":
        if pattern[at] == "\\" and at + 1 < len(pattern):
            at += 1
            found |= pattern[at] == char
            at += 1
        elif at + 2 < len(pattern) and pattern[at + 1] == "-" and pattern[at + 2] != "]":
            low, high = sorted((pattern[at], pattern[at + 2]))
            found |= low <= char <= high
            at += 3
        else:
            found |= pattern[at] == char
            at += 1
    return found != negate, at + 1  # an unclosed class ends with the pattern, as in Redis
