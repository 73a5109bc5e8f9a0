"""Checkpointing in one place.

* ``files``      the file format: atomic writes, safe loads (``weights_only``), finding the newest ``last.ckpt``
* ``rng``        the random generators' states, so a resume draws what the uninterrupted run would have drawn
* ``run_state``  what a checkpoint holds, how a run is restored from one, and where a resume starts; the one
                 writer of ``last.ckpt`` and ``best.ckpt`` (the trainer owns one ``RunState``)
* ``legacy``     checkpoints written before the package was regrouped: their layout and ``_target_`` paths,
                 updated on load

Outside this package, ``checkpoint.load`` / ``checkpoint.save`` / ``checkpoint.find_last`` are the way in.
"""
from dltrain.checkpoint.files import FORMAT, find_last, load, save

__all__ = ["FORMAT", "find_last", "load", "save"]
