"""Views the magics draw in a cell; each also renders as static HTML/text."""
