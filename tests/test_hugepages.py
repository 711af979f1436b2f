"""The ``resnet`` command starts itself again with glibc's malloc on 2 MB pages, where the
kernel gives those only to memory that asks (THP ``madvise``): real processes, real pages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_cli import hugepages

needs_madvise = pytest.mark.skipif(
    not hugepages.wanted({}), reason="THP is not in madvise mode here, or glibc < 2.35")

# Prints its pid and GLIBC_TUNABLES, relaunches as the resnet command does with these
# arguments (a relaunched program starts over: it prints that line again), then fills
# 64 MiB and prints what is on 2 MB pages.
PROBE = """
import os, sys
from resnet_cli import hugepages
print(os.getpid(), os.environ.get("GLIBC_TUNABLES"), flush=True)
hugepages.relaunch(sys.argv[1:])
block = b"x" * (64 << 20)  # malloc'd and written (numpy would madvise large arrays itself)
print(os.getpid(), os.environ.get("GLIBC_TUNABLES"), hugepages.in_use() >> 20, flush=True)
"""


def probe(*args: str, **env: str) -> list[list[str]]:
    """The probe's lines: 3 if it started again, else 2."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("GLIBC_TUNABLES", "RESNET_HUGEPAGES")}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=True)
    return [line.split() for line in done.stdout.splitlines()]


@needs_madvise
def test_a_run_starts_again_in_the_same_process_with_malloc_on_2mb_pages():
    before, again, after = probe("predict", "photo.jpg")
    assert before[0] == again[0] == after[0]  # the same pid: exec, not a child
    assert before[1] == "None" and again[1] == after[1] == hugepages.TUNABLE
    assert int(after[2]) >= 32  # most of the 64 MiB block is on 2 MB pages


@needs_madvise
@pytest.mark.parametrize("args", [(), ("--help",), ("predict", "-h"), ("--version",)])
def test_help_and_version_do_not_pay_the_restart(args):
    _, after = probe(*args)
    assert after[1] == "None"


@needs_madvise
def test_resnet_hugepages_0_and_a_tunable_already_set_are_respected():
    (before, after) = probe("predict", RESNET_HUGEPAGES="0")
    assert before[0] == after[0] and after[1] == "None" and int(after[2]) < 32
    (_, after) = probe("predict", GLIBC_TUNABLES="glibc.malloc.hugetlb=0")
    assert after[1] == "glibc.malloc.hugetlb=0" and int(after[2]) < 32


def test_environ_adds_the_tunable_to_the_ones_already_there():
    assert hugepages.environ({"A": "1"}) == {"A": "1", "GLIBC_TUNABLES": hugepages.TUNABLE}
    kept = hugepages.environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert kept["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{hugepages.TUNABLE}"
    assert not hugepages.wanted(kept)


def test_thp_mode_reads_the_bracketed_mode(tmp_path: Path):
    (tmp_path / "enabled").write_text("always [madvise] never\n")
    assert hugepages.thp_mode(tmp_path / "enabled") == "madvise"
    assert hugepages.thp_mode(tmp_path / "missing") is None


@needs_madvise
def test_bench_says_how_much_of_the_resnet_process_is_on_2mb_pages():
    done = subprocess.run([sys.executable, "-m", "resnet_cli", "bench", "-m", "squeezenet1.1",
                           "-b", "8", "--repeats", "1"],
                          env={k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"},
                          capture_output=True, text=True, timeout=300, check=True)
    last = done.stdout.splitlines()[-1]
    assert last.startswith("on 2 MB pages: ") and int(last.split()[4]) > 0, done.stdout
