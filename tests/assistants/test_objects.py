"""CRUD, pagination and per-owner isolation of the stored objects."""

from __future__ import annotations

from nbext.store import ListQuery

from .helpers import OTHER, OWNER, error_of, wait_run
from .scripted_backend import Reply


def test_assistant_crud(service):
    created = service.assistants.create(
        OWNER, {"model": "scripted", "name": "Tutor", "metadata": {"course": "101"}}
    )
    assert (created.object, created.tools, created.temperature, created.response_format) == (
        "assistant",
        [],
        None,  # unset: the backend's default sampling applies
        "auto",
    )
    assert service.assistants.retrieve(OWNER, created.id) == created
    changed = service.assistants.update(
        OWNER, created.id, {"name": "Coach", "tools": [{"type": "code_interpreter"}]}
    )
    assert (changed.name, changed.tools[0].type, changed.metadata) == (
        "Coach",
        "code_interpreter",
        {"course": "101"},
    )
    assert service.assistants.retrieve(OWNER, created.id) == changed
    deleted = service.assistants.delete(OWNER, created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "assistant.deleted")
    assert error_of(service.assistants.retrieve, OWNER, created.id).status == 404


def test_thread_and_message_crud(service):
    thread = service.threads.create(
        OWNER,
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    ],
                }
            ],
            "metadata": {"a": "1"},
        },
    )
    [message] = service.messages.list(OWNER, thread.id).data
    assert [b.type for b in message.content] == ["text", "image_url"]
    assert (message.status, message.run_id, message.role) == ("completed", None, "user")
    updated = service.messages.update(OWNER, thread.id, message.id, {"metadata": {"seen": "yes"}})
    assert updated.metadata == {"seen": "yes"}
    assert service.threads.update(OWNER, thread.id, {"metadata": {"a": "2"}}).metadata == {"a": "2"}
    assert service.messages.delete(OWNER, thread.id, message.id).deleted
    assert service.messages.list(OWNER, thread.id).data == []
    assert service.threads.delete(OWNER, thread.id).object == "thread.deleted"
    assert error_of(service.messages.list, OWNER, thread.id).status == 404


def test_pagination(service):
    def listed(query):  # as the route parses the query string
        return service.assistants.list(OWNER, ListQuery.parse(query))

    ids = [
        service.assistants.create(OWNER, {"model": "scripted", "name": str(i)}).id for i in range(5)
    ]
    page = listed({"limit": "2"})  # query strings arrive as strings
    assert [a.id for a in page.data] == [ids[4], ids[3]]  # newest first
    assert (page.first_id, page.last_id, page.has_more, page.object) == (
        ids[4],
        ids[3],
        True,
        "list",
    )
    page = listed({"limit": 2, "after": page.last_id})
    assert [a.id for a in page.data] == [ids[2], ids[1]] and page.has_more
    page = listed({"limit": 2, "after": page.last_id})
    assert [a.id for a in page.data] == [ids[0]] and not page.has_more
    page = listed({"order": "asc", "limit": 2, "after": ids[1]})
    assert [a.id for a in page.data] == [ids[2], ids[3]] and page.has_more
    page = listed({"order": "asc", "limit": 2, "before": ids[3]})
    assert [a.id for a in page.data] == [ids[1], ids[2]] and page.has_more  # nearest the cursor
    page = listed({"limit": 10, "before": ids[2]})
    assert [a.id for a in page.data] == [ids[4], ids[3]] and not page.has_more
    assert len(service.assistants.list(OWNER).data) == 5
    empty = service.assistants.list(OTHER)
    assert (empty.data, empty.first_id, empty.has_more) == ([], None, False)


def test_owners_see_only_their_own_objects(service, backend, assistant):
    backend.script(Reply(text="hi"))
    thread = service.threads.create(OWNER, {"messages": [{"role": "user", "content": "x"}]})
    run = wait_run(service, service.runs.create(OWNER, thread.id, {"assistant_id": assistant.id}))
    assert error_of(service.assistants.retrieve, OTHER, assistant.id).status == 404
    assert error_of(service.threads.retrieve, OTHER, thread.id).status == 404
    assert error_of(service.messages.list, OTHER, thread.id).status == 404
    assert error_of(service.runs.retrieve, OTHER, thread.id, run.id).status == 404
    assert error_of(service.runs.context, OTHER, thread.id, run.id).status == 404
    assert error_of(service.assistants.delete, OTHER, assistant.id).status == 404
    # Someone else's assistant cannot run on your thread, nor yours on theirs.
    theirs = service.threads.create(OTHER)
    assert (
        error_of(service.runs.create, OTHER, theirs.id, {"assistant_id": assistant.id}).status
        == 404
    )
    assert service.assistants.list(OTHER).data == []
    # A cursor from another owner's list is not a cursor of this one.
    cursor = ListQuery(after=assistant.id)
    assert error_of(service.assistants.list, OTHER, cursor).param == "after"
