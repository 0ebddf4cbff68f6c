"""Schema fuzzing of the Assistants server (see :mod:`fuzz.schema_fuzz`)."""
