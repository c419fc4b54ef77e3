"""Django's SQLite backend, with a process's writers queued in turn (see `base`)."""
