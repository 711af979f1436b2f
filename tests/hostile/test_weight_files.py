"""Hostile weight files: every malformed .pth or .safetensors is one line, exit 2, nothing
run, nothing read out of bounds, nothing left in the cache.

The files are crafted here opcode by opcode (weights_helpers), the way an attacker would,
and imported through the real CLI.
"""

from __future__ import annotations

import pickle
import zipfile
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile_proc import resnet
from weights_helpers import (
    Pth,
    View,
    cache_leftovers,
    deflated_zeros,
    floats,
    one_line,
    one_tensor_pth,
    pickle_member,
    raw_zip,
    safetensors,
    state_dict,
    tensor,
)

from resnet_cli.cli import cli


def import_weights(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["weights", "import", str(path), "--model", "resnet18"])
    return result.exit_code, result.stderr


def assert_refused(path: Path, reason: str, cache: Path) -> str:
    code, stderr = import_weights(path)
    line = one_line(stderr)
    assert code == 2, stderr
    assert line.startswith(f"Error: {path}"), line
    assert reason in line, line
    assert cache_leftovers(cache) == [], "a failed import left files in the cache"
    return line


def t(key: str, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
      numel: int) -> View:
    return View(key, offset, size, stride, numel)


PTH_CASES = {
    # The two views that read process memory before (a segfault and 990 heap floats).
    "negative stride": (one_tensor_pth(t("0", 0, (990,), (-1,), 10), floats(10)),
                        "tensor stride (-1,) is not a list of non-negative integers"),
    "far negative stride": (one_tensor_pth(t("0", 0, (10,), (-10**8,), 10), floats(10)),
                            "tensor stride"),
    "negative offset": (one_tensor_pth(t("0", -1000, (10,), (1,), 10), floats(10)),
                        "tensor offset -1000 is not a non-negative integer"),
    "view past the end": (one_tensor_pth(t("0", 5, (10,), (1,), 10), floats(10)),
                          "reaches element 14 of a storage of 10"),
    "offset overflowing int64": (one_tensor_pth(t("0", 2**63, (1,), (1,), 10), floats(10)),
                                 "reaches element 9223372036854775808"),
    "stride overflowing int64": (one_tensor_pth(t("0", 0, (3,), (2**62,), 10), floats(10)),
                                 "reaches element 9223372036854775808"),
    "view larger than storage": (one_tensor_pth(t("0", 0, (10**5, 10**5), (0, 0), 10),
                                                floats(10)),
                                 "a tensor of 10000000000 elements views a storage of 10"),
    "size and stride lengths differ": (one_tensor_pth(t("0", 0, (2, 5), (5,), 10), floats(10)),
                                       "differ in length"),
    "storage shorter than declared": (one_tensor_pth(t("0", 0, (10,), (1,), 1000), floats(10)),
                                      "storage '0' declares 1000 x 4 bytes but its file holds 40"),
    "storage file missing": (Pth(state_dict({"fc.bias": tensor(t("7", 0, (1,), (1,), 1))})),
                             "'archive/data/7' is missing from the archive"),
    "garbage pickle": (Pth(b"\x80\x02garbage"), "corrupt .pth (UnpicklingError"),
    "empty pickle": (Pth(b""), "corrupt .pth"),
    "pickle of a list": (Pth(pickle.dumps([1, 2])), "not a state dict of tensors"),
    "BUILD on a storage type": (Pth(b"\x80\x02ctorch\nFloatStorage\n}(X\x05\x00\x00\x00dtype"
                                    b"X\x02\x00\x00\x00u1ub."),
                                "refused, the pickle tries to modify a storage type"),
    "BUILD on the tensor builder": (Pth(b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n"
                                        b"N}(X\x01\x00\x00\x00aK\x01u\x86b."),
                                    "refused, the pickle tries to modify a loader object"),
    "BUILD on a storage": (Pth(b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                               b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\ntQ}b.",
                               {"0": floats(10)}),
                           "refused, the pickle tries to modify a storage"),
    "tensor on a non-storage": (Pth(b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00"
                                    b")))tR."),
                                "a tensor is built on something that is not a storage"),
    "odd persistent id": (Pth(b"\x80\x02X\x04\x00\x00\x00evilQ."),
                          "refused, unexpected persistent id 'evil'"),
    "non-string key": (Pth(state_dict({5: tensor(t("0", 0, (10,), (1,), 10))}),
                           {"0": floats(10)}), "key 5 is not a name"),
    "value that is not a tensor": (Pth(state_dict({"fc.bias": b"K\x05"})), "'fc.bias' is a int"),
    "unknown key suffix": (one_tensor_pth(t("0", 0, (10,), (1,), 10), floats(10), "bn1.foo"),
                           "unexpected tensor 'bn1.foo': bn1 has no 'foo'"),
    "unknown layer": (one_tensor_pth(t("0", 0, (10,), (1,), 10), floats(10), "head.weight"),
                      "unexpected tensor 'head.weight'"),
    "unsupported zip compression": (Pth(state_dict({"fc.bias": tensor(t("0", 0, (10,), (1,),
                                                                       10))}),
                                        {"0": floats(10)}, compression=zipfile.ZIP_BZIP2),
                                    "'archive/data/0' uses unsupported zip compression 12"),
}


@pytest.mark.parametrize("case", PTH_CASES)
def test_malformed_pth_is_one_line_and_exit_2(case, tmp_path, cache):
    pth, reason = PTH_CASES[case]
    assert_refused(pth.write(tmp_path / "hostile.pth"), reason, cache)


def test_bad_crc_is_refused(tmp_path, cache):
    good = one_tensor_pth(t("0", 0, (10,), (1,), 10), floats(10)).bytes()
    data = bytearray(good)
    where = data.index(floats(10))
    data[where + 4] ^= 0xFF  # one stored float flipped, the CRC left as it was
    (tmp_path / "crc.pth").write_bytes(bytes(data))
    assert_refused(tmp_path / "crc.pth", "Bad CRC-32", cache)


def test_encrypted_member_is_refused(tmp_path, cache):
    pkl = state_dict({"fc.bias": tensor(t("0", 0, (10,), (1,), 10))})
    raw = raw_zip([pickle_member(pkl), ("archive/data/0", 0, floats(10),
                                        zlib.crc32(floats(10)), 40)], flags=0x1)
    (tmp_path / "enc.pth").write_bytes(raw)
    assert_refused(tmp_path / "enc.pth", "'archive/data.pkl' is encrypted", cache)


def test_unknown_compression_method_is_refused(tmp_path, cache):
    pkl = state_dict({"fc.bias": tensor(t("0", 0, (10,), (1,), 10))})
    raw = raw_zip([pickle_member(pkl), ("archive/data/0", 99, floats(10), 0, 40)])
    (tmp_path / "m99.pth").write_bytes(raw)
    assert_refused(tmp_path / "m99.pth", "unsupported zip compression 99", cache)


def test_not_a_zip_and_no_data_pkl(tmp_path, cache):
    (tmp_path / "junk.pth").write_bytes(b"PK\x03\x04" + bytes(100))
    assert_refused(tmp_path / "junk.pth", "not a zip-format .pth", cache)
    (tmp_path / "other.pth").write_bytes(raw_zip([("x.txt", 0, b"hi", zlib.crc32(b"hi"), 2)]))
    assert_refused(tmp_path / "other.pth", "no single data.pkl inside", cache)


def test_zip_bomb_storage_is_refused_unread_fast_and_small(tmp_path, cache):
    """A 2 MB .pth whose storage inflates to 2 GiB: refused from the zip directory."""
    size = 2 << 30
    pkl = state_dict({"fc.weight": tensor(t("0", 0, (size // 4,), (1,), size // 4))})
    bomb = raw_zip([pickle_member(pkl), ("archive/data/0", zipfile.ZIP_DEFLATED,
                                         deflated_zeros(size), 0, size)])
    assert len(bomb) < 3 << 20
    (tmp_path / "bomb.pth").write_bytes(bomb)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    env = {"RESNET_HOME": str(cache)}
    baseline = resnet("weights", "import", str(tmp_path / "junk.pth"), "-m", "resnet18", env=env)
    run = resnet("weights", "import", str(tmp_path / "bomb.pth"), "-m", "resnet18", env=env)
    line = one_line(run.stderr)
    assert run.returncode == 2 and "'archive/data/0' declares 2147483648 bytes" in line, line
    # Before: 4.3 GB and 22 s.  Now: what refusing a 4-byte file costs, give or take.
    assert run.peak_rss_mib < baseline.peak_rss_mib + 50, (run, baseline)
    assert run.seconds < baseline.seconds + 5, (run, baseline)
    assert cache_leftovers(cache) == []


def test_pickle_bomb_is_refused_unread(tmp_path, cache):
    size = 256 << 20
    bomb = raw_zip([("archive/data.pkl", zipfile.ZIP_DEFLATED, deflated_zeros(size), 0, size)])
    (tmp_path / "pkl-bomb.pth").write_bytes(bomb)
    assert_refused(tmp_path / "pkl-bomb.pth", "'archive/data.pkl' declares 268435456 bytes",
                   cache)


def _exploits(marker: Path) -> dict[str, bytes]:
    """Pickles that would create ``marker`` if anything in them ran."""
    cmd = f"touch {marker}".encode()
    arg = b"X" + len(cmd).to_bytes(4, "little") + cmd
    code = f"open({str(marker)!r}, 'w')".encode()
    code_arg = b"X" + len(code).to_bytes(4, "little") + code
    return {
        "GLOBAL os.system": b"\x80\x02cos\nsystem\n(" + arg + b"tR.",
        "GLOBAL posix.system": b"\x80\x02cposix\nsystem\n(" + arg + b"tR.",
        "STACK_GLOBAL builtins.exec": (b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93(" + code_arg
                                       + b"tR."),
        "INST subprocess.call": b"(" + arg + b"isubprocess\ncall\n.",
        "OBJ builtins.eval": b"\x80\x02cbuiltins\neval\n" + b"(" + code_arg + b"o.",
        "REDUCE inside a tensor": state_dict({"fc.bias": b"cos\nsystem\n(" + arg + b"tR"}),
        "via a sealed builder": (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n"
                                 b"(cos\nsystem\n" + arg + b"\x86tR."),
    }


@pytest.mark.parametrize("name", list(_exploits(Path("m"))))
def test_code_in_a_pickle_never_runs(name, tmp_path, cache):
    marker = tmp_path / "pwned"
    path = Pth(_exploits(marker)[name]).write(tmp_path / "evil.pth")
    line = assert_refused(path, "", cache)
    assert "refus" in line or "corrupt" in line, line
    assert not marker.exists()


def _st_cases() -> dict[str, tuple[bytes, str]]:
    f32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    body = floats(2)
    return {
        "header is a list": (safetensors([1, 2], body), "the header is a JSON list"),
        "header is a string": (safetensors("tensors", body), "the header is a JSON str"),
        "header not JSON": (safetensors(None, body, raw_header=b"\xff{"), "not JSON"),
        "header past the file": (b"\xff" * 8 + b"{}", "exceeds the file"),
        "too short": (b"\x01\x00", "too short"),
        "duplicate key": (safetensors(None, body, raw_header=b'{"a": 1, "a": 2}'),
                          "names a key twice"),
        "entry is a list": (safetensors({"fc.bias": [1]}, body), "entry is not an object"),
        "no data_offsets": (safetensors({"fc.bias": {"dtype": "F32", "shape": [2]}}, body),
                            "'fc.bias': no data_offsets"),
        "one-element offsets": (safetensors({"fc.bias": {**f32, "data_offsets": [8]}}, body),
                                "data_offsets [8] are not two"),
        "string offsets": (safetensors({"fc.bias": {**f32, "data_offsets": ["0", "8"]}}, body),
                           "data_offsets ['0', '8']"),
        "reversed offsets": (safetensors({"fc.bias": {**f32, "data_offsets": [8, 0]}}, body),
                             "are not two ordered"),
        "boolean shape": (safetensors({"fc.bias": {**f32, "shape": [True, 2]}}, body),
                          "shape [True, 2] is not a list of non-negative"),
        "negative shape": (safetensors({"fc.bias": {**f32, "shape": [-2]}}, body),
                           "shape [-2]"),
        "shape/length mismatch": (safetensors({"fc.bias": {**f32, "shape": [3]}}, body),
                                  "shape [3] of F32 needs 12 bytes, data_offsets give 8"),
        "unknown dtype": (safetensors({"fc.bias": {**f32, "dtype": "Q7"}}, body),
                          "unsupported dtype 'Q7'"),
        "overlapping offsets": (safetensors({"fc.bias": {**f32, "data_offsets": [0, 8]},
                                             "fc.weight": {**f32, "data_offsets": [4, 12]}},
                                            floats(3)),
                                "tensor 'fc.weight' at bytes 4-12 overlaps the previous"),
        "gap between tensors": (safetensors({"fc.bias": {**f32, "data_offsets": [0, 8]},
                                             "fc.weight": {**f32, "data_offsets": [12, 20]}},
                                            floats(5)), "leaves a gap"),
        "offsets not covering the data": (safetensors({"fc.bias": f32}, floats(4)),
                                          "the tensors cover 8 bytes of data, the file "
                                          "holds 16"),
        "offsets past the data": (safetensors({"fc.bias": {**f32, "shape": [4],
                                                           "data_offsets": [0, 16]}}, body),
                                  "the tensors cover 16 bytes of data, the file holds 8"),
        "metadata not an object": (safetensors({"__metadata__": [1], "fc.bias": f32}, body),
                                   "__metadata__ is not an object"),
        "unknown tensor name": (safetensors({"fc.gamma": f32}, body),
                                "unexpected tensor 'fc.gamma'"),
    }


@pytest.mark.parametrize("case", list(_st_cases()))
def test_malformed_safetensors_is_one_line_and_exit_2(case, tmp_path, cache):
    data, reason = _st_cases()[case]
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(data)
    assert_refused(path, reason, cache)


def test_well_formed_file_of_the_wrong_shape_leaves_no_temporary(tmp_path, cache):
    """Conversion succeeds, MXNet refuses the shapes: the converted file must go."""
    path = one_tensor_pth(t("0", 0, (10,), (1,), 10), floats(10)).write(tmp_path / "fc.pth")
    assert_refused(path, "", cache)  # "does not fit resnet18_v1: ..."
