"""Done-when test of the installable kit: build the wheel, install it into a fresh virtual
environment, and from a folder outside the repository run ``csresearch init``, ``demo-data``
and ``report all``.

To stay fast and offline the fresh environment reuses the dependencies of the running one: a
``.pth`` file adds this interpreter's site-packages *after* its own, and the wheel is installed
with ``--no-deps`` (so the kit itself, its templates and configs come from the wheel only). No
``csresearch`` Jupyter kernel is visible there, so the reports run in ``python3`` of the fresh
interpreter, as after a plain ``pip install``. The data files of the reused packages (nbconvert's
HTML templates under ``share/jupyter``) are offered through ``JUPYTER_PATH``, without the
kernel specs that sit beside them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
REPORTS = ("retention", "health", "churn_drivers", "maturity")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    return r.stdout + r.stderr


def _build_wheel(tmp: Path) -> Path:
    """The wheel of the working tree, built from a copy (nothing is written into the repository)."""
    src = tmp / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src)
    shutil.copytree(REPO / "csresearch", src / "csresearch", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
          str(src)], cwd=tmp, env=dict(os.environ))
    (wheel,) = dist.glob("csresearch-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path) -> Path:
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "reuse_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
         cwd=tmp, env=dict(os.environ))
    return env_dir / "bin"


def test_wheel_init_demo_data_and_report_all_outside_the_repo(tmp_path):
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    wheel = _build_wheel(tmp_path)
    bindir = _fresh_venv(tmp_path, wheel)
    times["wheel + venv"] = time.perf_counter() - t0
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    share = tmp_path / "share-jupyter"  # nbconvert's templates of the reused install, no kernel specs
    share.mkdir()
    (share / "nbconvert").symlink_to(Path(sys.prefix) / "share" / "jupyter" / "nbconvert")
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", JUPYTER_DATA_DIR=str(tmp_path / "jupyter"),
               JUPYTER_PATH=str(share), PYTHONWARNINGS="ignore")
    where = _run([str(bindir / "python"), "-c", "import csresearch; print(csresearch.__file__)"], tmp_path, env)
    assert str(tmp_path / "venv") in where, where  # the wheel's copy, not the repository's
    cli = str(bindir / "csresearch")

    t = time.perf_counter()
    work = tmp_path / "work"
    work.mkdir()
    _run([cli, "init", "proj"], work, env)
    assert (work / "proj" / "reports.yaml").exists()
    _run([cli, "demo-data", "--accounts", "300", "--out", "data/demo"], work / "proj", env)
    shutil.copy(REPO / "data" / "maturity_answers.yaml", work / "proj" / "maturity_answers.yaml")  # filled in
    times["init + demo-data"] = time.perf_counter() - t

    t = time.perf_counter()
    out = _run([cli, "report", "all", "--config", str(work / "proj" / "reports.yaml"), "--quiet"], tmp_path, env,
               timeout=900)
    times["report all"] = time.perf_counter() - t
    assert "4 of 4 reports done" in out, out
    for name in REPORTS:
        html = (work / "proj" / "reports" / "2025-12-31" / f"{name}.html").read_text()
        assert "Provenance" in html and "Traceback" not in html, name
    assert not (work / "proj" / "reports" / "_failed").exists()
    kernels = _run([str(bindir / "python"), "-c", "from csresearch.reports.kernel import kernel_name_for as k; "
                    "print(k('csresearch'))"], tmp_path, env)
    assert kernels.strip() == "python3"  # no csresearch kernel spec here: the current interpreter ran them
    index = (work / "proj" / "reports" / "index.html").read_text()
    assert all(f'href="2025-12-31/{name}.html"' in index for name in REPORTS)
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
