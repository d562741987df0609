"""Stage services: each takes a study id, reads its inputs from the database, and writes its
outputs together with the status change in one transaction. Each is idempotent: a stage that
finds the study already past it does nothing, and a rerun replaces its own earlier results."""
