"""``/v1/threads/runs`` and ``/v1/threads/{thread_id}/runs``: runs, steps, context, prompts."""
