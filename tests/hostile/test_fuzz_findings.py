"""What fuzz/run.py found, kept as tests (README: Fuzzing)."""

from __future__ import annotations

import io
import zipfile

from hostile_proc import resnet

# 40 bytes: an empty OrderedDict stored at memo index 174,417,761 (LONG_BINPUT).  CPython's
# unpickler grows its memo table to that index: 1.4 GB touched, 41 s on this machine.
HUGE_MEMO = (b"\x80\x02ccollections\nOrderedDict\n)Rr" + (174417761).to_bytes(4, "little")
             + b".")


def test_pth_naming_a_huge_memo_index_is_refused_before_unpickling(tmp_path, baseline_rss):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("archive/data.pkl", HUGE_MEMO)
        archive.writestr("archive/version", "3\n")
    (tmp_path / "memo.pth").write_bytes(buf.getvalue())
    run = resnet("weights", "import", "-m", "resnet18_v1", str(tmp_path / "memo.pth"))
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "memo index 174417761" in run.stderr, run.stderr
    assert run.peak_rss_mib < baseline_rss + 100  # before: 1.4 GB more
