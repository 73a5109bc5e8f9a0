"""The engine: the one training loop and everything it owns (optimizers and schedules, precision, callbacks,
loggers, devices and seeding, DDP, preemption). Tasks say what a batch means; the engine runs them."""
