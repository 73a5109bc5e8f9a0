"""From a command line to a finished run: config location and checks, building a run, sweeps,
cross-validation, and the process-level glue of launchers (job devices, torchrun's shared run directory)."""
