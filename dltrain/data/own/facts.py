"""A fact found in the user's files, and the same fact stated by the config: they must agree.

An own-data config leaves its facts null, and the module fills them from the files. A config that states
one (a checkpoint's, in ``mode=eval``; or the user on the command line) states what the model was built
for, so data that disagrees cannot be fed to it: that is said in one sentence instead of failing later
on a shape.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import ListConfig

from dltrain.errors import UserError


def agree(module: Any, found: dict[str, Any], source: str) -> None:
    """Set each found fact on ``module``; one the module was given must be the same."""
    for key, value in found.items():
        given = getattr(module, key, None)
        if given is not None and _plain(given) != _plain(value):
            raise UserError(
                f"{source} gives data.{key}={value}, but the config says data.{key}={given}; leave data.{key} unset "
                "so it is read from the data (a checkpoint's model fits only data shaped as its training data)."
            )
        setattr(module, key, value)


def _plain(value: Any) -> Any:
    """A config list (ListConfig) or tuple as a plain list, to compare with what the files say."""
    return list(value) if isinstance(value, (Sequence, ListConfig)) and not isinstance(value, str) else value
