"""Outbound calls: calls the hotline places to citizens, beside the citizens' calls to 12345.

`callback_dialer.py` (回访: the automatic satisfaction survey; the citizen answers with a key
or in words), `desk_callback.py` (a callback an agent places from the desk: the agent's
softphone first, then the citizen) and `confidential_relay.py` (保密联络: a unit keys in a
one-time code and is connected to the citizen without learning their number).

The call path (`telephony.call_flow`) never imports this package: it routes these calls'
events through its ports (`telephony.ports.SurveyCalls` for the survey dialer, `SideCalls`
for desk callbacks and the relay), which `hotline.composition` joins. The package builds on
the call path's ARI client, prompts and resource ids, never on the flow, and not on the queue.
"""
