"""README's layout section is the map of the package: it names every folder, and every module of the folders
that hold the machinery (engine, checkpoint, launch, predict, visuals, and the top level)."""
from __future__ import annotations

import re
from pathlib import Path

import dltrain

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(dltrain.__file__).resolve().parent
MODULES_NAMED = ("", "engine", "checkpoint", "launch", "predict", "visuals")


def layout_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return re.search(r"## Layout\n+```text\n(.*?)```", readme, re.S).group(1)


def test_readme_layout_names_every_folder_of_the_package():
    layout = layout_section()
    folders = {p.name for p in PACKAGE.rglob("*") if p.is_dir() and (p / "__init__.py").exists()}
    missing = sorted(f for f in folders if f"{f}/" not in layout)
    assert not missing, f"README's layout does not name these folders: {missing}"


def test_readme_layout_names_every_module_of_the_machinery():
    layout = layout_section()
    modules = [p for folder in MODULES_NAMED for p in (PACKAGE / folder).glob("*.py") if p.name != "__init__.py"]
    missing = sorted(str(p.relative_to(PACKAGE)) for p in modules if p.name not in layout)
    assert not missing, f"README's layout does not name these modules: {missing}"
    assert len(modules) > 30
