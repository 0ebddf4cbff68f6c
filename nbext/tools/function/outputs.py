"""``submit_tool_outputs``: the client's function results, checked and recorded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openai.types.beta.threads import Run

from nbext.errors import invalid
from nbext.store import PROMPTS, RUN_STEPS, Store


def matched_outputs(run: Run, tool_outputs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{call id: output}``, exactly one per function call the run is waiting on."""
    if run.status != "requires_action" or run.required_action is None:
        raise invalid(f'Runs in status "{run.status}" do not accept tool outputs.')
    expected = [c.id for c in run.required_action.submit_tool_outputs.tool_calls]
    outputs: dict[str, str] = {}
    for i, item in enumerate(tool_outputs):
        call_id = item.get("tool_call_id")
        if call_id not in expected:
            raise invalid(
                f"Invalid 'tool_outputs[{i}].tool_call_id': no tool call '{call_id}' "
                "is waiting for an output.",
                param=f"tool_outputs[{i}].tool_call_id",
            )
        outputs[call_id] = item.get("output", "")
    if set(outputs) != set(expected):
        raise invalid(
            f"Expected tool outputs for call_ids {expected}, got {list(outputs)}.",
            param="tool_outputs",
        )
    return outputs


def record_outputs(store: Store, run_id: str, outputs: Mapping[str, str]) -> None:
    """Into the run's last prompt record (what the model is told next) and its steps."""
    record = store.all(PROMPTS, run_id=run_id)[-1]
    record = record.model_copy(update={"tool_outputs": {**record.tool_outputs, **outputs}})
    store.update(PROMPTS, record)
    for step_id in record.step_ids:
        step = store.get(RUN_STEPS, None, step_id)
        if step.step_details.type == "tool_calls":
            for call in step.step_details.tool_calls:
                if call.type == "function" and call.id in outputs:
                    call.function.output = outputs[call.id]
            store.update(RUN_STEPS, step)
