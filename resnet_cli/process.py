"""How the ``resnet`` process treats its surroundings: decoder warnings, for now.

Set up once by the command-line entry point, never on import, so a program that uses the
library keeps its own warning filters.
"""

from __future__ import annotations

import warnings


def quiet_decoders() -> None:
    """Pillow's warnings (damaged metadata it skips, odd palettes) are silenced: the file's
    record says whether it was classified, and stderr never gets a line that names no
    file.  A decompression-bomb warning becomes an error, so that file is refused.

    Process-wide filters, set before any worker starts: ``warnings.catch_warnings`` in
    each decoding thread would race (it swaps the global filter list).
    """
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
    warnings.filterwarnings("ignore", module=r"resnet_cli\.preprocess$")
    warnings.filterwarnings("error", message=r"Image size \(\d+ pixels\) exceeds limit")
