"""The compiled accelerator: selected at import, forced off by PERSISTKIT_PUREPYTHON=1,
reported by ``persistkit --version``, and optional at install time."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from persistkit import accel

ROOT = Path(__file__).resolve().parent.parent


def _version(env_extra):
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, "-m", "persistkit.cli", "--version"], env=env,
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_version_names_the_accelerator():
    lines = _version({})
    assert lines[0].startswith("persistkit ")
    assert lines[1] in ("accelerator: compiled", "accelerator: pure-python",
                        "accelerator: partial")
    assert lines[1] == accel.version_line()


def test_pure_python_can_be_forced():
    assert _version({"PERSISTKIT_PUREPYTHON": "1"})[1] == "accelerator: pure-python"


def test_forced_pure_switch():
    with accel.forced_pure():
        assert accel.module("blobs") is None
        assert accel.active() == "pure-python"
    if accel.compiled_available("blobs") is not None and not accel.forced():
        assert accel.module("blobs") is not None


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="CI checks the compiled build")
def test_ci_runs_the_compiled_path():
    assert accel.active() == "compiled", accel.missing()


def test_build_without_a_compiler_falls_back_to_pure_python(tmp_path):
    # The extension build with a C compiler that always fails must still succeed
    # (pip install runs this same build_ext), leaving no compiled module behind.
    env = dict(os.environ, CC="/bin/false", LDSHARED="/bin/false")
    env.pop("PERSISTKIT_PUREPYTHON", None)
    lib, tmp = tmp_path / "lib", tmp_path / "tmp"
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(lib),
                        "--build-temp", str(tmp), "--force"], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "using the pure-Python path" in r.stderr
    assert not list(lib.rglob("*.so"))
    # And the package imports and runs on the pure path when no compiled module exists.
    pkg = tmp_path / "pkg"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard", "persistkit"],
                           check=True, capture_output=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        dst = pkg / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes((ROOT / rel).read_bytes())
    env = dict(os.environ, PYTHONPATH=str(pkg))
    env.pop("PERSISTKIT_PUREPYTHON", None)
    out = subprocess.run([sys.executable, "-c",
                          "import persistkit.accel as a, persistkit.cli; print(a.active()); print(a.__file__)"],
                         env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    active, where = out.stdout.split()
    assert where.startswith(str(pkg)), where
    assert active == "pure-python"
