"""The queue (话务分配, ACD): who gets the next call.

`agent_state.py` (pure agent state machine: available, ringing, on a call, wrap-up, breaks),
`queue_policy.py` (pure policy: longest-idle agent with the skill, queue order and limits),
`acd.py` (the shared store: the policy run inside Redis Lua, so nodes agree and restarts keep
it) and `distributor.py` (the ARI side: rings the agent's softphone, joins them to the caller's
bridge, music and position announcements, overflow to a message).

The call path (`telephony.call_flow`) never imports this package: it hands callers over through
its `telephony.ports.CallQueue` port, which `hotline.composition` joins to `CallDistributor`.
The package builds on the call path's ARI client, call state and prompts, never on the flow.

Named `call_queue`, not `queue`: a top-level `queue` package would shadow the standard
library's `queue` module (used by `concurrent.futures`, `logging.handlers`, ...) for the whole
process.
"""
