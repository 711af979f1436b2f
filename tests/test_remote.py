"""URL inputs without a cluster: a real S3 API (moto server) and HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import SQUEEZE, invoke

from resnet_cli import remote
from resnet_cli.errors import InputError
from resnet_cli.inputs import expand

pytest.importorskip("s3fs")

def predict(*args: str, input: str | None = None) -> tuple[int, list[dict], str]:
    result = invoke("predict", *SQUEEZE, "-f", "jsonl", *args, input=input)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, records, result.stderr


def without_paths(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "path"} for r in records]


def test_s3_prefix_is_walked_like_the_same_folder(bucket):
    url, local = bucket
    code, records, _ = predict(url)
    local_code, expected, _ = predict(str(local))
    assert [r["path"] for r in records] == [
        url + name for name in ("a_coffee.png", "c_text.jpg", "sub/b_cat.png")]
    assert without_paths(records) == without_paths(expected)
    assert records[1]["error"] == "not an image Pillow can read"
    assert code == local_code == 1


def test_s3_missing_key_and_bucket_are_error_records_and_the_run_goes_on(bucket):
    url, _ = bucket
    code, records, stderr = predict(url + "missing.jpg", "s3://no-such-bucket/x/",
                                    url + "a_coffee.png")
    assert records[0] == {"path": url + "missing.jpg", "error": "no such object"}
    assert records[1]["path"] == "s3://no-such-bucket/x/"
    assert records[1]["error"].startswith("cannot list: no such object")
    assert records[2]["predictions"][0]["label"] in {"espresso", "cup", "coffee mug"}
    assert code == 1
    assert "test-secret-c0ffee" not in stderr + json.dumps(records)


def test_url_on_stdin_is_one_input(bucket):
    url, _ = bucket
    code, records, _ = predict("-", input=f"{url}sub/b_cat.png\n{url}\n")
    assert records[0]["path"] == url + "sub/b_cat.png"
    assert "predictions" in records[0]
    assert records[1] == {"path": url, "error": "no such object"}  # literal, not walked
    assert code == 1


def test_http_listing_is_walked_like_the_folder(site):
    base, local = site
    code, records, _ = predict(base + "set/")
    _, expected, _ = predict(str(local))
    assert [r["path"] for r in records] == [
        base + "set/" + name for name in ("a_coffee.png", "c_text.jpg", "sub/b_cat.png")]
    assert without_paths(records) == without_paths(expected)
    assert code == 1


def test_http_missing_denied_and_slow_each_give_one_line(site, setenv):
    base, _ = site
    setenv("RESNET_TIMEOUT", "1")
    start = time.monotonic()
    code, records, _ = predict(base + "set/nope.jpg", base + "denied/x.jpg",
                               base + "slow/x.jpg", base + "set/a_coffee.png")
    assert time.monotonic() - start < 20
    assert [r.get("error") for r in records[:3]] == [
        "no such object", "access denied", "timed out after 1 s"]
    assert "predictions" in records[3]
    assert code == 1


def test_memory_and_file_urls(bucket):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe({"/t/b.jpg": b"x", "/t/a/z.png": b"y", "/t/a.jpg": b"z", "/t/skip.txt": b""})
    found = [s.path for s in expand(["memory://t/"])]
    assert found == ["memory:///t/a/z.png", "memory:///t/a.jpg", "memory:///t/b.jpg"]
    assert remote.fetch("memory:///t/b.jpg") == b"x"
    _, local = bucket
    local_order = [Path(s.path).relative_to(local) for s in expand([str(local)])]
    url_order = [Path(s.path.removeprefix("file://")).relative_to(local)
                 for s in expand([f"file://{local}"])]
    assert url_order == local_order


def test_size_cap_refuses_a_big_object():
    import fsspec

    fsspec.filesystem("memory").pipe("/big.jpg", b"\0" * 2048)
    with pytest.raises(InputError, match="larger than"):
        remote.fetch("memory:///big.jpg", limit=1024)
    assert len(remote.fetch("memory:///big.jpg", limit=4096)) == 2048


def test_credentials_in_urls_are_never_shown(site, tmp_path):
    """user:password@ and secret query values (a token, a signature) are used to fetch, and
    shown as *** in every format, on stderr and in the report."""
    base, _ = site
    with_user = base.replace("http://", "http://reader:pa55word@")
    inputs = [with_user + "set/a_coffee.png?token=t0ken-123&size=2", with_user + "set/nope.jpg",
              base + "denied/x.jpg?X-Amz-Signature=51gnature"]
    secrets = ("pa55word", "t0ken-123", "51gnature")
    code, records, stderr = predict("--report", str(tmp_path / "report"), *inputs)
    assert [r["path"] for r in records] == [
        base.replace("http://", "http://***@") + "set/a_coffee.png?token=***&size=2",
        base.replace("http://", "http://***@") + "set/nope.jpg",
        base + "denied/x.jpg?X-Amz-Signature=***"]
    assert "predictions" in records[0]  # the credentials were used to fetch it
    assert [r.get("error") for r in records[1:]] == ["no such object", "access denied"]
    assert code == 1
    shown = [stderr] + [p.read_text(errors="replace") for p in (tmp_path / "report").rglob("*")
                        if p.suffix in (".html", ".json", ".js", ".csv")]
    for fmt in ("table", "json", "csv", "tsv"):
        result = invoke("predict", *SQUEEZE, "-f", fmt, *inputs)
        shown += [result.stdout, result.stderr]
    assert not [s for s in secrets if any(s in text for text in shown)]
