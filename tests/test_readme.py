"""README.md as a new user meets it: its set-up command, its activation step and its Usage
examples run as written in a fresh clone (no ../shared beside it), under the Python this
suite runs on, and print what the README shows.  ``.ci/run`` runs the suite once per
supported Python, so each one is covered once per CI run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SUPPORTED = ("3.11", "3.12")
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def section(title: str) -> str:
    return README.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, lang: str = "") -> list[str]:
    """The fenced blocks of ``text`` whose info string is ``lang`` ("" for output)."""
    found: list[str] = []
    opened: str | None = None
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if opened is None:
                opened, lines = line[3:].strip(), []
            else:
                found += ["".join(lines)] if opened == lang else []
                opened = None
        elif opened is not None:
            lines.append(line)
    return found


def base_python() -> Path:
    """The interpreter running this suite, outside its virtualenv (what `python3` is on a
    machine that has this version)."""
    return Path(getattr(sys, "_base_executable", "") or sys.executable)


def clean_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """This environment as a new user's shell: `python3` from ``bin_dir``, no active
    virtualenv (its bin/ left off PATH), no PYTHONPATH, an empty weights cache."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [bin_dir, *(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return {**env, "PATH": os.pathsep.join(map(str, path)), "RESNET_HOME": str(home)}


@pytest.mark.slow
@pytest.mark.parametrize("version", SUPPORTED)
def test_readme_set_up_and_usage_run_as_written(version, tmp_path):
    if version != RUNNING:
        pytest.skip(f"this run is Python {RUNNING}: Python {version} is covered when the "
                    f"suite runs under it (.ci/run runs it on {' and '.join(SUPPORTED)})")
    python = base_python()
    if not python.is_file():
        pytest.skip(f"no base interpreter for Python {version} found at {python}")
    clone = tmp_path / "resnet"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    assert not (tmp_path / "shared").exists()  # a user has no ../shared
    bin_dir = tmp_path / "bin"  # `python3` is this version, as on a machine with only it
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python)
    env = clean_env(bin_dir, tmp_path / "cache")

    def run(script: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=clone,
                                env=env, capture_output=True, text=True, timeout=1200)
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result

    setup = section("Set-up and the main job")
    command, shown = blocks(setup, "bash")[0], blocks(setup)[0]
    assert command.startswith("python3 -m venv .venv")
    # stdout is exactly the README's: pip is quiet (-q), the table is plain text in a pipe.
    assert run(command).stdout == shown
    version_line = run(".venv/bin/python --version").stdout
    assert version_line.startswith(f"Python {version}.")

    activate, usage = blocks(setup, "bash")[1], blocks(section("Usage"), "bash")[0]
    assert ". .venv/bin/activate" in activate and "resnet --help" in activate
    assert "Usage: resnet [OPTIONS] COMMAND" in run(activate).stdout
    out = run(activate + usage).stdout  # the Usage examples, in the activated shell
    assert "tests/data/coffee.png,espresso" in out  # the csv | cut line
    assert '"label": "espresso"' in out and '"label": "missile"' in out  # -k 3 -f json
    assert re.search(r"^squeezenet1\.1 .*bundled", out, re.M)  # weights list, plain text
    labels = (clone / "labels.csv").read_text().splitlines()
    assert labels[0].startswith("path,model,error,label_1")
    assert sorted(line.split(",")[0] for line in labels[1:]) == [
        "tests/data/grace_hopper.jpg", "tests/data/rocket.jpg"]


def test_ci_and_packaging_cover_every_supported_python():
    """.ci/run tests each version README names; pyproject admits exactly those."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^for version in (.+); do$", ci, re.M).group(1).split() == list(SUPPORTED)
    requires = re.search(r'^requires-python = "(.+)"$', (ROOT / "pyproject.toml").read_text(),
                         re.M).group(1)
    assert requires == f">={SUPPORTED[0]},<3.{int(SUPPORTED[-1].split('.')[1]) + 1}"
    setup = section("Set-up and the main job")
    assert f"Python {' or '.join(SUPPORTED)}:" in setup
