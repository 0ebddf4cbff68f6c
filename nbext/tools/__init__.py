"""Server-side tools the Assistants runtime runs: file_search, code_interpreter, functions."""
