"""Text that is safe to show: file names and labels can hold any byte but ``/`` and NUL.

A name with ESC or a newline in it would otherwise drive the terminal or forge a line of
output (``x\\nforged.jpg: error: ...``).  Dependency-free, for every human format.
"""

from __future__ import annotations

# C0 controls, DEL and C1 controls as \\xNN; the invisible characters that reorder or
# break lines on a terminal (bidi overrides and isolates, line/paragraph separators) as
# \\uNNNN.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROLS |= {c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                         0x2028, 0x2029)}


def display_path(path: str) -> str:
    """A path whose bytes that are not UTF-8 appear as ``\\xNN`` (JSON escapes the rest)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def printable(text: str, keep: str = "") -> str:
    """``text`` for a terminal: undecodable bytes and control characters as escapes.

    ``keep``: control characters to leave alone (CSV quotes tabs and newlines itself).
    """
    try:
        text = display_path(text)
    except UnicodeEncodeError:  # a lone surrogate that no file name decodes to
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    table = _CONTROLS if not keep else {c: e for c, e in _CONTROLS.items()
                                        if chr(c) not in keep}
    return text.translate(table)
