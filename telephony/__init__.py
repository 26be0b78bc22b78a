"""The call path: every citizen's call to 12345 from its arrival in Asterisk to its call record.

`ari/` (pure codec, REST client, event stream), `call_flow.py` (answer, bridge, record, screen,
greet, hand to the queue, persist), `active_call.py` and `call_state.py` (a call in progress and
its Redis mirror), `media_tap.py` / `media_socket.py` (audio to live transcription),
`fastagi.py`, `prompts.py`, `special_lines.py`, `resource_ids.py`, `recording_length.py`,
`call_metrics.py`; durability: `outbox.py`, `message_spool.py`, `fallback_recording.py`,
`app_owner.py`.

People joining a call stay here: three-way calls (`conference.py`), supervisors listening,
whispering or barging (`monitor.py`) and the agents' softphone endpoints they and the queue
dial (`softphone.py`). They act inside the citizen's own bridge and call state, the flow
routes their legs' events and tears them down with the call, and the outbound calls dial
through `conference.dial_string`: moving them out would need the same ports back in.

What the call path needs from other capabilities it states in `ports.py`; the queue
(`call_queue/`), outbound calls (`outbound/`), intake, the screen and transcription implement
them, and only `hotline.composition` joins the two sides. Nothing here imports those packages.
"""
