"""``/v1/threads/{thread_id}/messages``: router and service (bodies in :mod:`nbext.api.params`)."""
