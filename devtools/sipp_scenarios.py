"""SIPp scenarios the project uses to place real calls (tests, benchmarks, `hotline sandbox-call`).

Scenarios are generated rather than stored as XML files because tests vary the caller number,
the hold time and the audio; the variable parts are SIPp's own `[$var]` globals set with `-set`.
"""

from __future__ import annotations

import struct
from xml.sax.saxutils import escape

_HEADER = """<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
  <Global variables="caller" />
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[$caller]" <sip:[$caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:[$caller]@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP {payload}
      a=rtpmap:{payload} {codec}/8000
    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="183" optional="true" />
  <recv response="200" rtd="true" />
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[$caller]" <sip:[$caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:[$caller]@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""

_BYE = """
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[$caller]" <sip:[$caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:[$caller]@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true" />
  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>
</scenario>
"""


def pcap_call_scenario(hold_ms: int, pcap: str = "pcap/g711a.pcap") -> str:
    """Call, stream G.711 a-law audio from a pcap, stay `hold_ms` after answer, hang up."""
    body = (f'  <nop><action><exec play_pcap_audio="{escape(pcap)}"/></action></nop>\n'
            f'  <pause milliseconds="{int(hold_ms)}"/>\n')
    return _HEADER.format(name="hotline pcap call", payload=8, codec="PCMA") + body + _BYE


def speech_call_scenario(wav: str, hold_ms: int, loops: int = 1) -> str:
    """Call and stream an 8 kHz mono mu-law WAV as PCMU RTP (SIPp 3.8 rtp_stream), then hang up.

    `loops=-1` repeats the audio until the hang-up: a real phone sends RTP for the whole call,
    and Asterisk's bridge recording only grows while audio frames arrive.
    """
    body = (f'  <nop><action><exec rtp_stream="{escape(wav)},{int(loops)},0"/></action></nop>\n'
            f'  <pause milliseconds="{int(hold_ms)}"/>\n')
    return _HEADER.format(name="hotline speech call", payload=0, codec="PCMU") + body + _BYE


def _mulaw_byte(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = max(0, magnitude.bit_length() - 8)
    exponent = min(exponent, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def caller_audio_wav(seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A µ-law WAV of a voice-like warbling tone, for calls that need continuous caller audio."""
    import io
    import math
    import struct

    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
        value = 0.25 * envelope * (math.sin(2 * math.pi * 220 * t) + 0.5 * math.sin(2 * math.pi * 660 * t))
        frames.append(_mulaw_byte(int(value * 32767)))
    out = io.BytesIO()
    # WAVE_FORMAT_MULAW (7): the wave module only writes PCM, so the header is built by hand.
    fmt = struct.pack("<HHIIHH", 7, 1, rate, rate, 1, 8)
    out.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(frames)) + b"WAVE")
    out.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
    out.write(b"data" + struct.pack("<I", len(frames)) + bytes(frames))
    return out.getvalue()


_ANSWER_BYE = """
  <recv request="BYE" timeout="{timeout_ms}" />
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[$caller]@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>
</scenario>
"""


def hung_up_by_hotline_scenario(wav: str, timeout_ms: int) -> str:
    """Call, stream audio, and wait for the HOTLINE to hang up (fails after `timeout_ms`)."""
    body = f'  <nop><action><exec rtp_stream="{escape(wav)},-1,0"/></action></nop>\n'
    return (_HEADER.format(name="hotline hangs up", payload=0, codec="PCMU") + body
            + _ANSWER_BYE.format(timeout_ms=int(timeout_ms)))


_AGENT_SDP = """
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000"""


def _response(status: str, *, tag: bool = True, contact: bool = False, sdp: bool = False,
              cseq: str = "[last_CSeq:]", retrans: bool = False) -> str:
    """One SIPp `<send>` of a response to the last request (a phone answering a call)."""
    lines = ["[last_Via:]", "[last_From:]",
             "[last_To:];tag=[pid]SIPpTag01[call_number]" if tag else "[last_To:]",
             "[last_Call-ID:]", cseq]
    if contact:
        lines.append("Contact: <sip:[local_ip]:[local_port];transport=[transport]>")
    body = "\n      ".join([f"SIP/2.0 {status}", *lines])
    body += _AGENT_SDP if sdp else "\n      Content-Length: 0"
    attributes = ' retrans="500"' if retrans else ""
    return f"  <send{attributes}>\n    <![CDATA[\n      {body}\n    ]]>\n  </send>\n"


_UAS_HEADER = """<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
  <recv request="INVITE" crlf="true" />
"""


def agent_phone_scenario(answer_after_ms: int | None) -> str:
    """An agent's desk SIP phone (SIPp in server mode): rings, then answers after
    `answer_after_ms` and stays until the BYE; `None`: rings until the caller gives up (CANCEL)."""
    ringing = _response("180 Ringing", contact=True)
    if answer_after_ms is None:
        return (_UAS_HEADER.format(name="agent phone, no answer") + ringing
                + '  <recv request="CANCEL" />\n' + _response("200 OK", tag=False)
                + _response("487 Request Terminated", cseq="CSeq: [cseq] INVITE")
                + '  <recv request="ACK" />\n</scenario>\n')
    return (_UAS_HEADER.format(name="agent phone") + ringing
            + f'  <pause milliseconds="{int(answer_after_ms)}"/>\n'
            + _response("200 OK", contact=True, sdp=True, retrans=True)
            + '  <recv request="ACK" optional="true" rtd="true" crlf="true" />\n'
            + '  <recv request="BYE" />\n' + _response("200 OK", tag=False) + "</scenario>\n")


_DTMF_SDP = _AGENT_SDP.replace("m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000",
                               "m=audio [media_port] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n"
                               "      a=rtpmap:101 telephone-event/8000\n      a=fmtp:101 0-16")


def citizen_phone_scenario(key: str, *, after_ms: int = 1500) -> str:
    """A citizen's phone answering a callback (SIPp in server mode): it answers, waits
    `after_ms`, presses `key` (RFC 4733 telephone-event from SIPp's own DTMF pcaps) and stays
    until the hotline hangs up."""
    if key not in "0123456789" or len(key) != 1:
        raise ValueError("one digit")
    answer = _response("200 OK", contact=True, sdp=True, retrans=True).replace(_AGENT_SDP, _DTMF_SDP)
    return (_UAS_HEADER.format(name="citizen phone") + _response("180 Ringing", contact=True)
            + answer + '  <recv request="ACK" rtd="true" crlf="true" />\n'
            + f'  <pause milliseconds="{int(after_ms)}"/>\n'
            + f'  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_{key}.pcap"/></action></nop>\n'
            + '  <recv request="BYE" />\n' + _response("200 OK", tag=False) + "</scenario>\n")


_DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def dtmf_pcap(digits: str, *, press_ms: int = 160, gap_ms: int = 240) -> bytes:
    """A pcap of RFC 4733 telephone-events keying `digits`, for SIPp's `play_pcap_audio`.

    SIPp's own DTMF pcaps (one per digit) all carry the same RTP timestamp and sequence
    numbers, and SIPp replays RTP headers as they are: a receiver takes the second digit for a
    retransmission of the first and drops it. Here each digit is a new event (its own
    timestamp) and sequence numbers go on rising, as a phone sends them."""
    if not digits or any(d not in _DTMF_EVENTS for d in digits):
        raise ValueError("digits, # and * only")
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
    seq, ts, clock = 1000, 16000, 0.0
    step = 0.02
    for digit in digits:
        ticks = max(3, press_ms // 20)
        packets = [(k == 0, False, 160 * (k + 1)) for k in range(ticks)]
        packets += [(False, True, 160 * ticks)] * 3  # the end, sent three times (RFC 4733)
        for i, (marker, end, duration) in enumerate(packets):
            rtp = struct.pack("!BBHIIBBH", 0x80, (0x80 if marker else 0) | 101, seq & 0xFFFF,
                              ts, 0x1234ABCD, _DTMF_EVENTS[digit], (0x80 if end else 0) | 10,
                              duration)
            udp = struct.pack("!HHHH", 4000, 4000, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
            frame = b"\x00" * 12 + b"\x08\x00" + ip
            at = clock + min(i, ticks - 1 + (1 if end else 0)) * step
            out += struct.pack("<IIII", int(at), int((at % 1) * 1e6), len(frame), len(frame)) + frame
            seq += 1
        clock += (ticks + 1) * step + gap_ms / 1000
        ts += int(8000 * ((ticks + 1) * step + gap_ms / 1000))
    return bytes(out)


def dtmf_pcap_ms(digits: str, *, press_ms: int = 160, gap_ms: int = 240) -> int:
    """How long `dtmf_pcap(digits)` takes to play."""
    return len(digits) * ((max(3, press_ms // 20) + 1) * 20 + gap_ms)


def relay_unit_scenario(pcap: str, keys_ms: int, *, wait_ms: int = 2500,
                        hold_ms: int | None = None, bye_timeout_ms: int = 30000) -> str:
    """A handling unit phoning the confidential relay: it calls, waits `wait_ms` for the
    prompt, keys in a code (`pcap`, from `dtmf_pcap`, lasting `keys_ms`), then talks `hold_ms`
    and hangs up; `hold_ms` None: it waits for the HOTLINE to hang up (a refused code, a
    caller not reached)."""
    header = _HEADER.format(name="unit phoning the relay", payload=0, codec="PCMU").replace(
        "RTP/AVP 0\n      a=rtpmap:0 PCMU/8000",
        "RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n"
        "      a=fmtp:101 0-16")
    body = (f'  <pause milliseconds="{int(wait_ms)}"/>\n'
            f'  <nop><action><exec play_pcap_audio="{escape(pcap)}"/></action></nop>\n'
            f'  <pause milliseconds="{int(keys_ms)}"/>\n')
    if hold_ms is None:
        return header + body + _ANSWER_BYE.format(timeout_ms=int(bye_timeout_ms))
    return header + body + f'  <pause milliseconds="{int(hold_ms)}"/>\n' + _BYE


def checked_phone_scenario(from_pattern: str, *, answer_after_ms: int = 300) -> str:
    """A phone (SIPp in server mode) that accepts only a call whose From matches
    `from_pattern` (a regular expression: the caller id it must see), answers and stays until
    the BYE. A From that does not match fails the call."""
    pattern = escape(from_pattern, {'"': "&quot;"})
    check = (f'  <recv request="INVITE" crlf="true">\n    <action>\n'
             f'      <ereg regexp="{pattern}" search_in="hdr" header="From:" '
             f'check_it="true" assign_to="from_ok"/>\n    </action>\n  </recv>\n')
    return ('<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            '<scenario name="checked phone">\n' + check
            + _response("180 Ringing", contact=True)
            + f'  <pause milliseconds="{int(answer_after_ms)}"/>\n'
            + _response("200 OK", contact=True, sdp=True, retrans=True)
            + '  <recv request="ACK" optional="true" rtd="true" crlf="true" />\n'
            + '  <recv request="BYE" />\n' + _response("200 OK", tag=False)
            + '  <Reference variables="from_ok" />\n</scenario>\n')


def speaking_phone_scenario(wav: str) -> str:
    """A citizen's phone answering a callback (SIPp in server mode) and speaking instead of
    pressing a key: it answers and streams `wav` (8 kHz mono mu-law, looped) until the BYE."""
    return (_UAS_HEADER.format(name="citizen speaking") + _response("180 Ringing", contact=True)
            + _response("200 OK", contact=True, sdp=True, retrans=True)
            + '  <recv request="ACK" rtd="true" crlf="true" />\n'
            + f'  <nop><action><exec rtp_stream="{escape(wav)},-1,0"/></action></nop>\n'
            + '  <recv request="BYE" />\n' + _response("200 OK", tag=False) + "</scenario>\n")
