"""Names of the Asterisk channels and bridges the bridge process creates itself.

Everything we create starts with `hotline-`, so a StasisStart for it is never mistaken for a
citizen's call, and a restarted process can tell its predecessor's leftovers apart.
"""

from __future__ import annotations

import uuid

OWN_PREFIX = "hotline-"


def is_own_resource(resource_id: str) -> bool:
    return resource_id.startswith(OWN_PREFIX)


def call_bridge_id(call_id: str) -> str:
    return f"{OWN_PREFIX}call-{call_id}"


def is_call_bridge(resource_id: str) -> bool:
    return resource_id.startswith(f"{OWN_PREFIX}call-")


def tap_ids(call_id: str, speaker: str) -> tuple[str, str, str]:
    """(snoop channel, media channel, tap bridge) for one direction of one tap.

    A fresh token per tap: a restarted process must not collide with the leftovers of the
    tap its predecessor had open on the same call.
    """
    token = uuid.uuid4().hex[:6]
    return (f"{OWN_PREFIX}snoop-{call_id}-{token}-{speaker}",
            f"{OWN_PREFIX}media-{call_id}-{token}-{speaker}",
            f"{OWN_PREFIX}tap-{call_id}-{token}-{speaker}")


def agent_channel_id(call_id: str, agent_id: str) -> str:
    """The channel that rings an agent for a call; a fresh token per offer."""
    return f"{OWN_PREFIX}agent-{uuid.uuid4().hex[:6]}-{agent_id}-{call_id}"


def is_agent_channel(resource_id: str) -> bool:
    return resource_id.startswith(f"{OWN_PREFIX}agent-")


def parse_agent_channel(resource_id: str) -> tuple[str, str] | None:
    """(agent id, call id) of an agent channel; call ids are UUIDs (36 characters)."""
    if not is_agent_channel(resource_id):
        return None
    rest = resource_id[len(f"{OWN_PREFIX}agent-") + 7:]
    call_id, agent_id = rest[-36:], rest[:-37]
    return (agent_id, call_id) if agent_id and len(call_id) == 36 else None


def party_channel_id(call_id: str) -> str:
    """A third party brought into a call: a handling unit or an emergency line."""
    return f"{OWN_PREFIX}party-{uuid.uuid4().hex[:6]}-{call_id}"


def is_party_channel(resource_id: str) -> bool:
    return resource_id.startswith(f"{OWN_PREFIX}party-")


def call_of_party_channel(resource_id: str) -> str | None:
    if not is_party_channel(resource_id):
        return None
    call_id = resource_id[len(f"{OWN_PREFIX}party-") + 7:]
    return call_id if len(call_id) == 36 else None


def callback_channel_id(task_id: str) -> str:
    """The channel that calls a citizen back for a callback task (one per attempt)."""
    return f"{OWN_PREFIX}callback-{uuid.uuid4().hex[:6]}-{task_id}"


def is_callback_channel(resource_id: str) -> bool:
    return resource_id.startswith(f"{OWN_PREFIX}callback-")


def task_of_callback_channel(resource_id: str) -> str | None:
    if not is_callback_channel(resource_id):
        return None
    return resource_id[len(f"{OWN_PREFIX}callback-") + 7:] or None


def relay_ids(call_id: str) -> tuple[str, str]:
    """(bridge, citizen's channel) of one confidential relay call (保密联络)."""
    return f"{OWN_PREFIX}relay-{call_id}", f"{OWN_PREFIX}relayc-{call_id}"


def is_relay_citizen_channel(resource_id: str) -> bool:
    return resource_id.startswith(f"{OWN_PREFIX}relayc-")


def relay_call_of(resource_id: str) -> str | None:
    """The relay call a bridge or citizen channel of ours belongs to."""
    for prefix in (f"{OWN_PREFIX}relayc-", f"{OWN_PREFIX}relay-"):
        if resource_id.startswith(prefix):
            return resource_id[len(prefix):] or None
    return None


def monitor_ids(call_id: str, supervisor_id: str) -> tuple[str, str, str]:
    """(supervisor's leg, snoop channel, monitor bridge) of one supervisor on one call."""
    token = uuid.uuid4().hex[:6]
    return (f"{OWN_PREFIX}monitor-{token}-{supervisor_id}-{call_id}",
            f"{OWN_PREFIX}msnoop-{token}-{call_id}",
            f"{OWN_PREFIX}mbridge-{token}-{call_id}")


def is_monitor_leg(resource_id: str) -> bool:
    return resource_id.startswith(f"{OWN_PREFIX}monitor-")
