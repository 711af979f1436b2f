"""Text that is safe to show: file names and labels can hold any byte but ``/`` and NUL.

A name with ESC or a newline in it would otherwise drive the terminal or forge a line of
output (``x\\nforged.jpg: error: ...``).  Dependency-free, for every human format.  A URL's
credentials (``user:password@``, a token or signature in its query string) are never
shown: every record, error line and report names a URL through :func:`display_path`.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls as \\xNN; the invisible characters that reorder or
# break lines on a terminal (bidi overrides and isolates, line/paragraph separators) as
# \\uNNNN.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROLS |= {c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                         0x2028, 0x2029)}


# scheme://user:password@host -> scheme://***@host
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]+@")
# ?token=..., &X-Amz-Signature=..., &sig=... (presigned S3/GCS URLs, Azure SAS, API keys)
_SECRET_PARAM = re.compile(
    r"([?&;][^=&#\s]*(?:token|sig|key|secret|passw|pwd|credential|auth|session)[^=&#\s]*=)"
    r"[^&;#\s'\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with each URL's user information and secret-looking query values as ***."""
    if "://" not in text:
        return text
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def display_path(path: str) -> str:
    """A path whose bytes that are not UTF-8 appear as ``\\xNN`` (JSON escapes the rest),
    and whose URL credentials appear as ``***``."""
    return redact(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
