#!/usr/bin/env python3
"""Set up the environment and run infoprop's main job or its tests, with nothing but Python >= 3.11.

    python3 tasks.py run     # create .venv if needed, then write the frontier report to out/
    python3 tasks.py test    # create .venv if needed, then lint and run the whole test suite

The environment is (re)built when pyproject.toml changes. torch is installed first, pinned to the CPU
build available offline (2.13.0), so that pip never pulls a multi-GB CUDA build.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH = os.environ.get("INFOPROP_TORCH", "torch==2.13.0")
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _run(*cmd: str | os.PathLike[str]) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def setup() -> Path:
    """Create or refresh .venv; return its python."""
    if sys.version_info < (3, 11):
        sys.exit(f"infoprop needs Python >= 3.11, this is {sys.version.split()[0]}")
    python = BIN / "python"
    stamp = VENV / ".infoprop-stamp"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TORCH.encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = (python, "-m", "pip", "install", "--disable-pip-version-check", "-q")
    _run(*pip, TORCH)
    _run(*pip, "-e", ".[dev]")
    stamp.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__.strip())
        return 2
    python = setup()
    if argv[0] == "run":
        # out/ is the main job's own output: a rerun replaces it (--overwrite replaces only what infoprop wrote).
        return subprocess.call([str(BIN / "infoprop"), "report", "--overwrite", *argv[1:]], cwd=ROOT)
    _run(python, "-m", "ruff", "check", "src", "tests", "benchmarks")
    return subprocess.call([str(python), "-m", "pytest", *argv[1:]], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
