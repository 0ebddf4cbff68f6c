"""``/v1/nbext/...``: the kit's own routes (status, backend switch); router and protocol."""
