"""The desk's websocket protocol (`/ws/desk`), version 1: message types, schemas, errors.

Pure: parsing and validating what a browser sends, and naming what the server sends; no
sockets here (`agent_desk/desk.py` is the adapter). Every message is one JSON object with a
`type`; a client message may carry a `ref` the server echoes in its `ack` or `error`, so the
page can tell which of its requests failed. A bad message gets a typed `error` and changes
nothing; it never closes the socket, and never affects a call. `PROTOCOL.md` documents it;
`protocol_schema()` is the machine-readable form (JSON Schema per client message).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

VERSION = 1
#: Larger client messages are refused with `too_large` (the socket stays open).
MAX_MESSAGE_BYTES = 16 * 1024

#: Break reasons an agent may give (the ACD's `break`; `no_answer` is set by the system).
BREAK_REASONS = ("rest", "meal", "training", "meeting")


class DeskProtocolError(Exception):
    """A client message the server will not act on. `code` is stable; `message` is zh-CN."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def to_message(self) -> dict[str, Any]:
        return error_message(self.code, self.message, self.ref)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    ref: str | None = Field(default=None, max_length=64)


class SetStatus(_Message):
    """就绪 / 小休: the agent's own availability."""

    type: Literal["agent.set_status"]
    status: Literal["available", "break"]
    reason: Literal["rest", "meal", "training", "meeting"] | None = None


class Hangup(_Message):
    type: Literal["call.hangup"]
    call_id: str = Field(min_length=1, max_length=64)


class Hold(_Message):
    """Hold: the caller hears music and the agent does not hear the caller."""

    type: Literal["call.hold"]
    call_id: str = Field(min_length=1, max_length=64)
    on: bool


class WrapUp(_Message):
    """The end of after-call work. `no_new_content` and `harassment` feed the anti-abuse screen."""

    type: Literal["call.wrap_up"]
    call_id: str = Field(min_length=1, max_length=64)
    no_new_content: bool = False
    harassment: bool = False
    note: str = Field(default="", max_length=500)


class ThreeWay(_Message):
    """三方连线: ring a handling unit into the agent's call, once the caller agreed (临沂条例
    第十四条: 征得诉求人同意); without `caller_consented` no unit is rung."""

    type: Literal["call.three_way"]
    call_id: str = Field(min_length=1, max_length=64)
    unit: str = Field(min_length=1, max_length=64)
    caller_consented: bool = False


class Transfer(_Message):
    """Emergency transfer to 110/119/120/122; blind unless `warm` (the agent stays)."""

    type: Literal["call.transfer"]
    call_id: str = Field(min_length=1, max_length=64)
    line: Literal["110", "119", "120", "122"]
    warm: bool = False


class Leave(_Message):
    """The agent leaves a call that goes on between the caller and a unit."""

    type: Literal["call.leave"]
    call_id: str = Field(min_length=1, max_length=64)


class PlaceCallback(_Message):
    """回访 from the desk: call the citizen of a task on the callback agents' list."""

    type: Literal["callback.place"]
    task_id: str = Field(min_length=1, max_length=64)


class Ping(_Message):
    type: Literal["ping"]


AnyClientMessage = (SetStatus | Hangup | Hold | WrapUp | ThreeWay | Transfer | Leave | PlaceCallback
                    | Ping)
ClientMessage = Annotated[AnyClientMessage, Field(discriminator="type")]
_CLIENT = TypeAdapter(ClientMessage)
CLIENT_TYPES = ("agent.set_status", "call.hangup", "call.hold", "call.wrap_up", "call.three_way",
                "call.transfer", "call.leave", "callback.place", "ping")

#: Messages the server sends (documented in PROTOCOL.md).
SERVER_TYPES = (
    "desk.ready", "agent.status", "call.offered", "call.answered", "call.missed",
    "call.withdrawn", "call.hung_up", "call.ended", "asr.partial", "asr.final", "asr.mode", "ack", "pong",
    "error", "agent.wrap_up_expired", "three_way.ringing", "three_way.answered",
    "three_way.busy", "three_way.no_answer", "three_way.rejected", "three_way.failed",
    "three_way.left", "call.requeued", "call.emergency",
    "callback.ringing", "callback.answered", "callback.not_reached", "callback.ended",
    "supervisor.joined", "supervisor.left", "assist.update", "queue.length",
)

ERROR_CODES = {
    "malformed": "消息不是有效的 JSON 对象",
    "too_large": "消息过大",
    "unknown_type": "未知的消息类型",
    "invalid": "消息字段不正确",
    "not_allowed": "当前状态下不能执行此操作",
    "not_found": "没有这通电话",
    "unavailable": "服务暂时不可用，请稍后重试",
}


def error_message(code: str, message: str | None = None, ref: str | None = None) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message or ERROR_CODES.get(code, code),
            "ref": ref}


def parse_client_message(raw: str | bytes) -> AnyClientMessage:
    """One client message, validated; DeskProtocolError says why not."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DeskProtocolError("too_large", f"消息过大（上限 {MAX_MESSAGE_BYTES} 字节）")
    try:
        data = json.loads(raw)
        # Valid JSON may still hold no text: a lone surrogate (`"\ud800"`) cannot be encoded, so
        # an answer echoing it (its `ref`, its `type`) could never be sent, and nesting deeper than
        # the parser's recursion limit is refused by Python itself.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeError
        raise DeskProtocolError("malformed", ERROR_CODES["malformed"]) from None
    if not isinstance(data, dict):
        raise DeskProtocolError("malformed", ERROR_CODES["malformed"])
    ref = data.get("ref") if isinstance(data.get("ref"), str) else None
    if data.get("type") not in CLIENT_TYPES:
        raise DeskProtocolError("unknown_type", f"未知的消息类型：{str(data.get('type'))[:40]}", ref)
    try:
        message = _CLIENT.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise DeskProtocolError("invalid", f"字段 {field}：{first['msg']}", ref) from None
    if isinstance(message, SetStatus) and message.status == "break" and message.reason is None:
        raise DeskProtocolError("invalid", "小休需要说明原因（reason）", ref)
    return message


def protocol_schema() -> dict[str, Any]:
    """JSON Schema of every client message, with the version and the server's message types."""
    return {"version": VERSION, "max_message_bytes": MAX_MESSAGE_BYTES,
            "client_messages": _CLIENT.json_schema(), "server_messages": list(SERVER_TYPES),
            "error_codes": ERROR_CODES}
