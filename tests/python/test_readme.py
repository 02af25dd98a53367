"""Every ```python and ```r block of README.md runs as pasted.

The blocks of each language run in order, as one script, in a fresh process started in an empty
folder. The environment variable ``SCMVP_EXAMPLE_CELLS`` (read by ``scmvp.io.load_example`` and
R's ``ReadSCMVPExample``) makes the examples train on a sample of the bundled cells rather than for
minutes on all of them; the README says so. R blocks run with ``Rscript`` and the installed R
package, with ``SCMVP_PYTHON`` set to this Python; they are skipped only when Rscript is absent.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
#: cells the examples train on (at least 200, so that early stopping has held-out cells)
EXAMPLE_CELLS = "300"


def readme_blocks(language: str, text: str | None = None) -> list[str]:
    """The fenced code blocks of README.md in ``language`` (``python`` or ``r``), in order."""
    text = README.read_text() if text is None else text
    return re.findall(rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.M | re.S)


def test_blocks_are_found():
    text = "a\n```python\nx = 1\n```\n```r\ny <- 2\n```\n```bash\nls\n```\n```python\nprint(x)\n```\n"
    assert readme_blocks("python", text) == ["x = 1\n", "print(x)\n"]
    assert readme_blocks("r", text) == ["y <- 2\n"]
    assert readme_blocks("python") and readme_blocks("r"), "README.md has no python or r block"


def _run(cmd, script: Path, cwd: Path, timeout: int) -> None:
    env = dict(os.environ, SCMVP_EXAMPLE_CELLS=EXAMPLE_CELLS, SCMVP_PYTHON=sys.executable)
    env.pop("SCMVP_EXAMPLE_DIR", None)
    proc = subprocess.run([*cmd, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"README blocks in {script.name} failed (exit {proc.returncode}).\n--- script ---\n{script.read_text()}"
        f"\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    )


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    script = tmp_path / "readme.py"
    script.write_text("\n".join(readme_blocks("python")))
    _run([sys.executable], script, work, timeout=900)
    assert (work / "model.pt").exists()  # the last line saves and reloads the model


@pytest.mark.slow
def test_readme_r_blocks_run(tmp_path):
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript is not installed")
    work = tmp_path / "empty"
    work.mkdir()
    script = tmp_path / "readme.R"
    script.write_text("\n".join(readme_blocks("r")))
    _run([rscript, "--vanilla"], script, work, timeout=1200)
