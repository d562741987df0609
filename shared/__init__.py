"""Code common to the gateway and the workers: settings, database, state machine, storage."""
