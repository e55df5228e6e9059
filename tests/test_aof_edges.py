"""AOF edge cases: files that are symlinks out of the AOF folder, repair output inside
the input folder, and an empty manifest -- each checked against what a real server does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from realredis import RedisServer

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"
SOURCE = CORPUS / "redis-7.0.15" / "aof-hybrid" / "appendonlydir"


def run(*args):
    r = subprocess.run([sys.executable, "-m", "persistkit.cli", *map(str, args)],
                       capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def _part(folder: Path, suffix: str) -> Path:
    (p,) = [f for f in folder.iterdir() if f.name.endswith(suffix)]
    return p


def _dir_with_link(tmp_path: Path, suffix: str) -> tuple[Path, Path]:
    """A copy of a real 7.0 AOF folder whose ``suffix`` file was moved out and symlinked back."""
    folder = tmp_path / "data" / "appendonlydir"
    shutil.copytree(SOURCE, folder)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    part = _part(folder, suffix)
    target = outside / part.name
    part.rename(target)
    part.symlink_to(target)
    return folder, target


def _dbsize(folder: Path, workdir: Path) -> int:
    shutil.copytree(folder, workdir / "appendonlydir", symlinks=True)
    with RedisServer(workdir, "--appenddirname", "appendonlydir", appendonly=True) as srv:
        r = srv.client()
        sizes = []
        for db in (0, 1, 5):
            r.select(db)
            sizes.append(r.dbsize())
        return sum(sizes)


@pytest.mark.parametrize("suffix", [".incr.aof", ".base.rdb"])
def test_verify_warns_of_a_symlink_leading_outside(tmp_path, suffix):
    folder, target = _dir_with_link(tmp_path, suffix)
    code, out, _ = run("verify", folder, "--json")
    assert code == 0
    (report,) = json.loads(out)["reports"]
    warnings = [w for w in report["problems"] if w["code"] == "symlink-outside"]
    assert warnings and all(w["severity"] == "warning" for w in warnings)
    assert len(warnings) == 1
    assert str(target) in warnings[0]["message"]


def test_a_symlink_inside_the_folder_is_not_reported(tmp_path):
    folder = tmp_path / "appendonlydir"
    shutil.copytree(SOURCE, folder)
    incr = _part(folder, ".incr.aof")
    real = folder / ("real-" + incr.name)
    incr.rename(real)
    incr.symlink_to(real.name)
    code, out, _ = run("verify", folder, "--json")
    assert "symlink-outside" not in out
    # (the renamed file is now an unlisted file in the folder: a warning of its own)
    assert "unlisted-file" in out


def test_a_real_server_follows_such_a_link(tmp_path):
    folder, _ = _dir_with_link(tmp_path, ".incr.aof")
    plain = tmp_path / "plain"
    shutil.copytree(SOURCE, plain)
    assert _dbsize(folder, tmp_path / "w1") == _dbsize(plain, tmp_path / "w2") > 0


def test_repair_refuses_a_symlink_outside_unless_asked(tmp_path):
    folder, target = _dir_with_link(tmp_path, ".incr.aof")
    out = tmp_path / "repaired"
    code, _, err = run("repair", folder, "-o", out)
    assert code == 2
    assert "--follow-symlinks" in err and str(target) in err
    assert not out.exists()
    code, _, err = run("repair", folder, "-o", out, "--follow-symlinks")
    assert code == 0, err
    copied = _part(out, ".incr.aof")
    assert not copied.is_symlink()
    assert copied.read_bytes() == target.read_bytes()
    assert run("verify", out)[0] == 0


@pytest.mark.parametrize("given", ["dir", "manifest"])
def test_repair_refuses_an_output_inside_the_input_folder(tmp_path, given):
    folder = tmp_path / "appendonlydir"
    shutil.copytree(SOURCE, folder)
    before = sorted(p.name for p in folder.iterdir())
    src = folder if given == "dir" else _part(folder, ".manifest")
    code, _, err = run("repair", src, "-o", folder / "sub")
    assert code == 2
    assert "inside the input folder" in err
    assert sorted(p.name for p in folder.iterdir()) == before


def test_empty_manifest_is_refused_as_the_server_refuses_it(tmp_path):
    work = tmp_path / "srv"
    (work / "appendonlydir").mkdir(parents=True)
    manifest = work / "appendonlydir" / "appendonly.aof.manifest"
    manifest.write_bytes(b"")
    # The oracle: a Redis 7 server stops at start-up on this folder.
    with pytest.raises(RuntimeError) as info:
        RedisServer(work, "--appenddirname", "appendonlydir", appendonly=True)
    assert "Found an empty AOF manifest" in str(info.value)
    for given in (manifest.parent, manifest):
        code, out, _ = run("verify", given, "--json")
        assert code == 1
        assert '"manifest-empty"' in out
        assert "refuses to start" in out
