from telephony.ari.models import (
    ChannelEvent,
    RecordingEvent,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)

CHANNEL = {"id": "1795.1", "name": "PJSIP/anonymous-0001", "state": "Ring",
           "caller": {"name": "", "number": "13812345678"},
           "dialplan": {"context": "public", "exten": "12345", "priority": 2},
           "creationtime": "2026-11-25T06:40:01.123+0000"}


def test_stasis_start_is_typed() -> None:
    event = parse_event({"type": "StasisStart", "application": "hotline", "args": [],
                         "timestamp": "2026-11-25T06:40:01.200+0000", "channel": CHANNEL})
    assert isinstance(event, StasisStart)
    assert event.channel.caller_number == "13812345678"
    assert event.channel.dialed_exten == "12345"
    assert event.channel.context == "public"
    assert event.channel.created_at is not None and event.channel.created_at.tzinfo is not None


def test_end_and_channel_and_recording_events() -> None:
    assert isinstance(parse_event({"type": "StasisEnd", "channel": CHANNEL}), StasisEnd)
    destroyed = parse_event({"type": "ChannelDestroyed", "channel": CHANNEL, "cause": 16})
    assert isinstance(destroyed, ChannelEvent) and destroyed.type == "ChannelDestroyed"
    finished = parse_event({"type": "RecordingFinished",
                            "recording": {"name": "call-1", "state": "done", "duration": 4}})
    assert isinstance(finished, RecordingEvent) and finished.duration == 4


def test_unknown_event_types_do_not_raise() -> None:
    assert isinstance(parse_event({"type": "SomethingNew"}), UnknownEvent)


def test_a_caller_id_is_national_digits_or_withheld_never_raw_text() -> None:
    """ARI's caller id is the phone's claim: it enters as digits or not at all."""
    def number(raw: str) -> str:
        channel = {**CHANNEL, "caller": {"name": "", "number": raw}}
        event = parse_event({"type": "StasisStart", "application": "hotline", "args": [],
                             "timestamp": "2026-11-25T06:40:01.200+0000", "channel": channel})
        assert isinstance(event, StasisStart)
        return event.channel.caller_number

    assert number("+86 138 1234 5678") == "13812345678"
    assert [number(raw) for raw in ("anonymous", "PJSIP/x@ctx", "138&Local/1@default", "")] == [""] * 4

