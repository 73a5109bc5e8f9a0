"""``dltrain mode=predict``: run a checkpoint on image files (or sample a generator) and write the results."""
