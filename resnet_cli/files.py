"""Open input files without ever blocking: regular files only.

Opening a FIFO for reading waits for a writer forever, a character device such as
``/dev/zero`` never ends, a socket cannot be opened at all.  Whatever a folder, an argument
or a list on stdin names, it is checked with ``stat`` before it is opened, then opened
non-blocking and checked again (``fstat``), so a file swapped for a FIFO in between cannot
hang a worker either.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from resnet_cli.errors import InputError

NOT_REGULAR = "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for binary reading, or InputError if it is not a regular file.

    OSError (missing, permission denied, ...) propagates for the caller to word.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise InputError("is a directory" if stat.S_ISDIR(mode) else NOT_REGULAR)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(NOT_REGULAR)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
