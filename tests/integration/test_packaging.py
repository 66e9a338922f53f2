"""The wheel installs only `kasmos.*` (never a bare `supervisor`, `workers` or `cli`) plus `kas`/`kms`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_layout(tmp_path: Path) -> None:
    source = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = out.glob("kasmos-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"kasmos", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for package in ("supervisor", "workers", "cli"):
        assert f"kasmos/{package}/__init__.py" in names
    assert "kasmos/workers/store/db.py" in names and "kasmos/workers/git/naming.py" in names
    assert not any(name.startswith("kasmos/tests") for name in names)
    entry_points = (
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    )
    assert "kas = kasmos.cli.main:run" in entry_points and "kms = kasmos.cli.main:run" in entry_points
