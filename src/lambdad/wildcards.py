"""Wildcard matching of user-supplied patterns (IAM actions, resources and conditions, ALB rules).

``*`` is any run of characters and ``?`` exactly one; nothing else is special. Patterns come from
tenants (their own policies, their load-balancer rules), so matching must never backtrack: a regex
built from ``*a*a*a*b`` takes exponential time on a near miss, and it ran on the server's only
event loop. Here a pattern is split at its stars into fixed-length blocks; the first block must
match at the start, the last at the end, and each middle block is taken at its leftmost place
after the previous one. That greedy choice is safe (a later star can absorb whatever an earlier,
longer choice would have), so no block is ever revisited: one pass over the text, with literal
blocks found by ``str.find`` and blocks holding ``?`` by a Shift-And scan.

ARNs follow IAM's rule ("IAM JSON policy elements: Resource"): wildcards stay inside a
colon-delimited segment, except that a ``*`` ending a segment may run across the following colons.
So a segment ending in ``*`` matches one segment of the ARN and then any number of whole ones, and
every other segment matches exactly one: the same block matching, over segments.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

__all__ = ["arn_match", "match"]

# A block: (length, ((offset, literal run), ...)); a "?" is any character at its offset.
_Block = tuple[int, tuple[tuple[int, str], ...]]


def _fold(text: str) -> str:
    """Lower case without changing the length (``?`` counts characters)."""
    if text.isascii():
        return text.lower()
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


@functools.lru_cache(maxsize=4096)
def _blocks(pattern: str) -> tuple[_Block, ...]:
    blocks = []
    for part in pattern.split("*"):
        runs = []
        offset = 0
        for piece in part.split("?"):
            if piece:
                runs.append((offset, piece))
            offset += len(piece) + 1
        blocks.append((len(part), tuple(runs)))
    return tuple(blocks)


def _at(block: _Block, text: str, pos: int) -> bool:
    return all(text.startswith(run, pos + offset) for offset, run in block[1])


def _find(block: _Block, text: str, start: int, end: int) -> int:
    """The leftmost position >= start where the block matches within text[:end]; -1 if none."""
    size, runs = block
    last = end - size
    if last < start:
        return -1
    if not runs:
        return start
    if len(runs) == 1:
        offset, run = runs[0]
        hit = text.find(run, start + offset, end - size + offset + len(run))
        return hit - offset if hit >= 0 else -1
    return _shift_and(block, text, start, end)


@functools.lru_cache(maxsize=1024)
def _masks(block: _Block) -> tuple[dict[str, int], int]:
    """Shift-And masks: the block positions each character may fill, and those "?" fills."""
    size, runs = block
    by_char: dict[str, int] = {}
    literal = 0
    for offset, run in runs:
        for i, c in enumerate(run):
            by_char[c] = by_char.get(c, 0) | 1 << (offset + i)
            literal |= 1 << (offset + i)
    return by_char, ((1 << size) - 1) & ~literal


def _shift_and(block: _Block, text: str, start: int, end: int) -> int:
    # One pass over the text, whatever the block holds (no re-scanning per candidate position):
    # bit i of `state` says block[:i + 1] matches the text ending here.
    size = block[0]
    by_char, wild = _masks(block)
    done = 1 << (size - 1)
    state = 0
    for j in range(start, end):
        state = ((state << 1) | 1) & (by_char.get(text[j], 0) | wild)
        if state & done:
            return j - size + 1
    return -1


def match(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """Whether ``text`` matches the whole of ``pattern`` (``*`` any run, ``?`` one character)."""
    if ignore_case:
        pattern, text = _fold(pattern), _fold(text)
    blocks = _blocks(pattern)
    first = blocks[0]
    if len(blocks) == 1:
        return len(text) == first[0] and _at(first, text, 0)
    final = blocks[-1]
    end = len(text) - final[0]
    if end < first[0] or not _at(first, text, 0) or not _at(final, text, end):
        return False
    pos = first[0]
    for block in blocks[1:-1]:
        found = _find(block, text, pos, end)
        if found < 0:
            return False
        pos = found + block[0]
    return True


# --- ARNs ---------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _arn_blocks(pattern: str) -> tuple[tuple[str, ...], ...]:
    """The pattern's segments, cut after each one ending in ``*`` (the segment-level stars)."""
    blocks: list[tuple[str, ...]] = []
    current: list[str] = []
    for segment in pattern.split(":"):
        current.append(segment)
        if segment.endswith("*"):
            blocks.append(tuple(current))
            current = []
    blocks.append(tuple(current))
    return tuple(blocks)


def _segments_at(block: Sequence[str], segments: Sequence[str], pos: int) -> bool:
    return all(match(p, segments[pos + i]) for i, p in enumerate(block))


def _first_segments(block: Sequence[str], segments: Sequence[str], start: int, end: int) -> int:
    for pos in range(start, end - len(block) + 1):
        if _segments_at(block, segments, pos):
            return pos
    return -1


def arn_match(pattern: str, arn: str) -> bool:
    """Whether ``arn`` matches the ARN pattern ``pattern`` (Resource elements, ArnLike)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == arn
    blocks = _arn_blocks(pattern)
    segments = arn.split(":")
    first = blocks[0]
    if len(blocks) == 1:
        return len(segments) == len(first) and _segments_at(first, segments, 0)
    final = blocks[-1]
    end = len(segments) - len(final)
    if end < len(first) or not _segments_at(first, segments, 0) or not _segments_at(final, segments, end):
        return False
    pos = len(first)
    for block in blocks[1:-1]:
        found = _first_segments(block, segments, pos, end)
        if found < 0:
            return False
        pos = found + len(block)
    return True
