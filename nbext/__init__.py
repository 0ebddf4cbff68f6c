"""nbext: Chat Completions and Assistants, side by side in Jupyter."""

__version__ = "0.1.0"
