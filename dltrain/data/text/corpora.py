"""Text corpora for language modelling, each a single string.

* ``python_stdlib`` (offline, the default): the source code of a fixed list of
  modules of Python's own standard library, read from the interpreter's
  ``stdlib`` folder in that order. Every Python installation ships it, so it
  needs no download; it is real, varied text (code, comments, docstrings).
  The exact text depends a little on the Python version (3.11 here).
* ``tiny_shakespeare`` (Karpathy's char-rnn corpus, ~1.1 MB) and ``wikitext2``
  (Merity et al., 2016; its train, valid and test files in that order) are
  downloaded into ``root`` on first use; offline they fail in one sentence.
"""
from __future__ import annotations

import sysconfig
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from dltrain.errors import UserError

# A fixed, deterministic list (about 1.9 MB of text on Python 3.11): widely used modules, mixed styles.
STDLIB_MODULES = (
    "argparse", "ast", "base64", "bisect", "calendar", "collections/__init__", "configparser", "contextlib",
    "copy", "csv", "dataclasses", "datetime", "difflib", "enum", "fractions", "functools", "gettext", "glob",
    "heapq", "inspect", "ipaddress", "json/decoder", "json/encoder", "locale", "logging/__init__", "numbers",
    "operator", "optparse", "os", "pathlib", "pprint", "queue", "random", "shlex", "shutil", "statistics",
    "string", "subprocess", "tempfile", "textwrap", "threading", "tokenize", "traceback", "typing",
)

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
WIKITEXT2_URL = "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip"


def python_stdlib(root: str | None = None, modules: tuple[str, ...] = STDLIB_MODULES) -> str:
    """The concatenated source of ``modules`` (paths under the stdlib folder, without ``.py``)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for module in modules:
        path = stdlib / f"{module}.py"
        if not path.is_file():
            raise UserError(f"The Python corpus needs {path}, which this interpreter does not ship; "
                            "use data=tiny_shakespeare or a Python with its standard library sources.")
        texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


def _download(url: str, target: Path, name: str) -> Path:
    """``url`` into ``target`` unless it is there already."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        urllib.request.urlretrieve(url, partial)
    except OSError as error:  # URLError, timeouts, DNS failures are all OSErrors
        partial.unlink(missing_ok=True)
        raise UserError(
            f"{name} is not in {target.parent} and could not be downloaded from {url} ({type(error).__name__}): "
            f"put the file at {target}, or connect to the internet, or use the offline data=python_chars."
        ) from None
    partial.rename(target)
    return target


def tiny_shakespeare(root: str) -> str:
    path = _download(TINY_SHAKESPEARE_URL, Path(root) / "tiny_shakespeare" / "input.txt", "Tiny Shakespeare")
    return path.read_text(encoding="utf-8")


def wikitext2(root: str) -> str:
    folder = Path(root) / "wikitext2"
    archive = _download(WIKITEXT2_URL, folder / "wikitext-2-v1.zip", "WikiText-2")
    with zipfile.ZipFile(archive) as files:
        return "".join(files.read(f"wikitext-2/wiki.{split}.tokens").decode("utf-8")
                       for split in ("train", "valid", "test"))


CORPORA: dict[str, Callable[[str], str]] = {
    "python_stdlib": python_stdlib,
    "tiny_shakespeare": tiny_shakespeare,
    "wikitext2": wikitext2,
}


def load_corpus(name: str, root: str) -> str:
    if name not in CORPORA:
        raise UserError(f"data.corpus={name} is not a known corpus; use one of {', '.join(CORPORA)}.")
    return CORPORA[name](root)
