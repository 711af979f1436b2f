"""Coverage-guided fuzzing (atheris/libFuzzer) of what reads hostile bytes.

Targets:
  decode       resnet_cli.preprocess.load_rgb on any bytes (seeds: tiny images in every
               format Pillow writes). Must return an RGB image or raise InputError.
  pth          resnet_cli.torch_formats.read_pth on a valid torch.save zip whose data.pkl is
               the fuzzed bytes (libFuzzer cannot fix zip CRCs, so the pickle is fuzzed
               inside a well-formed archive). Must return a state dict or raise ResnetError.
  safetensors  resnet_cli.torch_formats.read_safetensors on any bytes. Same contract.

A Python exception outside the contract, a crash, more than --rss-mb of memory or more
than --timeout seconds on one input is a finding: libFuzzer writes the input to
fuzz/findings/ and the run fails.  The corpus grows in fuzz/.corpus/TARGET across runs.

    python fuzz/run.py --seconds 60                  # every target, time split evenly
    python fuzz/run.py --target decode --seconds 3600
    python fuzz/run.py --target decode fuzz/findings/crash-...   # replay one input
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("decode", "pth", "safetensors")
STORAGE_KEYS = ("0", "1", "2", "3")


def image_seeds() -> dict[str, bytes]:
    """Tiny images in every mode and format Pillow writes (made here, not committed)."""
    from PIL import Image

    base = Image.linear_gradient("L").resize((12, 9)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    images = {"rgb": base, "rgba": base.convert("RGBA"), "l": base.convert("L"),
              "p": base.convert("P"), "1": base.convert("1"), "cmyk": base.convert("CMYK"),
              "i16": base.convert("L").convert("I;16")}
    formats = {"png": ("rgb", "rgba", "l", "p", "1", "i16"), "jpeg": ("rgb", "l", "cmyk"),
               "gif": ("p",), "bmp": ("rgb", "1"), "tiff": ("rgb", "cmyk", "i16"),
               "webp": ("rgb", "rgba"), "ico": ("rgba",), "tga": ("rgb",), "ppm": ("rgb",),
               "blp": ("p",), "dds": ("rgba",), "jpeg2000": ("rgb",), "pcx": ("rgb",),
               "sgi": ("rgb",), "im": ("rgb",), "qoi": ("rgb",)}
    seeds = {}
    for fmt, modes in formats.items():
        for mode in modes:
            buf = io.BytesIO()
            try:
                images[mode].save(buf, fmt.upper(), **({"exif": exif} if fmt == "jpeg" else {}))
            except (OSError, KeyError, ValueError):
                continue  # a format this Pillow build cannot write
            seeds[f"{fmt}-{mode}"] = buf.getvalue()
    return seeds


def seeds(target: str) -> dict[str, bytes]:
    if target == "decode":
        return image_seeds()
    name = {"pth": "state_dict.pkl", "safetensors": "tiny.safetensors"}[target]
    return {name: (HERE / "seeds" / name).read_bytes()}


def pth_archive(pickle_bytes: bytes) -> bytes:
    """A torch.save zip around ``pickle_bytes``, with storages the pickle may name."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        archive.writestr("archive/byteorder", "little")
        for key in STORAGE_KEYS:
            archive.writestr(f"archive/data/{key}", bytes(range(64)))
        archive.writestr("archive/version", "3\n")
    return buf.getvalue()


def fuzz_one(target: str, libfuzzer_args: list[str]) -> None:
    """In this process: instrument, then let libFuzzer drive one target."""
    import atheris

    with atheris.instrument_imports(include=["PIL", "resnet_cli"]):
        from resnet_cli import preprocess, process, torch_formats
        from resnet_cli.errors import InputError, ResnetError

    process.quiet_decoders()  # as the command line runs: bomb warnings are errors
    scratch = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-", dir="/dev/shm"
                                    if os.path.isdir("/dev/shm") else None))
    path = scratch / "input"

    def one_input(data: bytes) -> None:
        if target == "decode":
            path.write_bytes(data)
            try:
                img = preprocess.load_rgb(path)
            except InputError:
                return
            assert img.mode == "RGB", img.mode
            return
        path.write_bytes(pth_archive(data) if target == "pth" else data)
        read = torch_formats.read_pth if target == "pth" else torch_formats.read_safetensors
        with contextlib.suppress(ResnetError):
            read(path)

    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


def run_target(target: str, seconds: int, rss_mb: int, timeout: int) -> tuple[int, int]:
    """Fuzz one target in a child process; (executions, findings)."""
    corpus = HERE / ".corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in seeds(target).items():
        (corpus / f"seed-{name}").write_bytes(data)
    findings = HERE / "findings"
    findings.mkdir(exist_ok=True)
    before = set(findings.iterdir())
    args = [f"-max_total_time={seconds}", f"-rss_limit_mb={rss_mb}", f"-timeout={timeout}",
            "-print_final_stats=1", f"-artifact_prefix={findings}/{target}-", str(corpus)]
    child = subprocess.run([sys.executable, __file__, "--child", target, "--", *args],
                           capture_output=True, text=True)
    log = child.stdout + child.stderr
    executions = int((re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
                      or re.findall(r"#(\d+)\s", log) or ["0"])[-1])
    new = sorted(set(findings.iterdir()) - before)
    if child.returncode != 0 or new:
        print(log[-4000:], file=sys.stderr)
    return executions, len(new) or int(child.returncode != 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--seconds", type=int, default=60, help="in all, split by target")
    parser.add_argument("--rss-mb", type=int, default=2048)
    parser.add_argument("--timeout", type=int, default=20, help="seconds per input")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("replay", nargs="*", help="inputs to run once, not fuzz")
    opts = parser.parse_args()
    if opts.child:
        fuzz_one(opts.child, opts.replay)
        return 0
    if opts.replay:
        fuzz_one(opts.target, ["-runs=1", *opts.replay])
        return 0
    targets = TARGETS if opts.target == "all" else (opts.target,)
    failed = 0
    for target in targets:
        executions, found = run_target(target, max(1, opts.seconds // len(targets)),
                                       opts.rss_mb, opts.timeout)
        print(f"{target:<12} {executions:>9} executions  {found} findings")
        failed += found
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
