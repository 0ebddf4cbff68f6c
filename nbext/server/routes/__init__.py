"""One module of routes per resource family of the OpenAI API."""
