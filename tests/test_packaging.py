"""The wheel carries its configs and guides: an installed (not editable) dltrain runs from any folder, and its
messages name guides it has (`dltrain --help TOPIC`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_installed_wheel_finds_its_configs_and_trains(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("dltrain-*.whl")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=600)
    assert (target / "dltrain" / "configs" / "train.yaml").is_file()

    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}  # the installed copy, not the source tree
    code = "import dltrain.cli, sys; sys.argv[0] = 'dltrain'; dltrain.cli.main()"
    result = subprocess.run([sys.executable, "-c", code, "trainer=debug"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert str(target / "dltrain" / "configs") in subprocess.run(
        [sys.executable, "-c", "import dltrain.launch.config as c; print(c.CONFIG_DIR)"], cwd=work, env=env,
        capture_output=True, text=True).stdout
    assert list((work / "outputs" / "debug" / "mlp_digits").iterdir())  # trainer=debug runs have their own folder

    # a message names a guide the wheel has, and `dltrain --help TOPIC` prints it from the installed package
    result = subprocess.run([sys.executable, "-c", code, "data=arrays"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 2 and "dltrain --help own_data" in result.stderr, result.stderr[-2000:]
    assert "docs/" not in result.stderr and "configs/experiment" not in result.stderr
    guide = subprocess.run([sys.executable, "-c", code, "--help", "own_data"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=600)
    assert guide.returncode == 0 and "## Layouts" in guide.stdout
    assert (target / "dltrain" / "docs" / "own_data.md").is_file()
