"""The webhook under generated input, at a real ``amc-remediator serve``: malformed JSON, wrong
types at every field, huge, deep and chunked bodies, unicode and NUL, label values shaped
like shell, path and Redis-protocol injection. Each gets a 4xx with the reason or a decision;
nothing from the payload reaches a key name, a command or a log line unescaped."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.remediator.conftest import SERVED_ALERTS, TOKEN, alert, message
from tests.remediator.stack import Served, send_raw

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
HOSTILE = [
    "$(touch /tmp/amc-pwned)", "; reboot", "`id`", "a && rm -rf /", "| nc evil 1",
    "../../../../etc/passwd", "/dev/null\x00.yml", "\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    "FLUSHALL", "amc:remediator:lock", "*", "{{ .Token }}", "%s%s%n", "\x1b[31mred",
    "\u202eevil", "名前", "\ud7ff\ue000", "x" * 5000,
]  # fmt: skip
# Every key the remediator and RQ write: their prefixes, then ids made of safe characters.
KEY = re.compile(r"^(amc:remediator:|rq:)[A-Za-z0-9:_.\-|]+$")
CANARY = b"canary"  # the test's own key: no FLUSHALL may ever reach Redis
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _post(served: Served, body: bytes | Iterator[bytes], **headers: str) -> tuple[int, Any]:
    status, raw = send_raw(served.base, "POST", "/webhook", body, {**HEADERS, **headers})
    return status, json.loads(raw) if raw.startswith(b"{") else raw


def _keys_are_ours(served: Served) -> None:
    for key in served.redis.scan_iter(count=1000):
        assert key == CANARY or KEY.match(key.decode(errors="replace")), key


def _log_is_json_lines(served: Served) -> None:
    for line in served.log_lines():
        json.loads(line)  # one record per line: a payload's newline cannot forge another


@FUZZ
@given(
    value=st.sampled_from(HOSTILE) | st.text(max_size=60),
    where=st.sampled_from(["label", "annotation", "alertname", "command", "fingerprint"]),
)
def test_hostile_label_values_are_data_never_keys_commands_or_log_lines(
    served: Served, value: str, where: str
) -> None:
    served.redis.set(CANARY, "alive")
    item = alert("CacheStale", fingerprint=f"{abs(hash(value)) % 16**16:016x}")
    if where == "label":
        item["labels"]["instance"] = value
    elif where == "annotation":
        item["annotations"] = {"summary": value, "runbook_url": value}
    elif where == "alertname":
        item["labels"]["alertname"] = value
    elif where == "command":
        item["labels"]["command"] = value
    else:
        item["fingerprint"] = value
    status, reply = _post(served, json.dumps(message(item)).encode())
    if where == "fingerprint" and not re.fullmatch(r"[0-9A-Za-z]{1,64}", value):
        assert status == 400, reply
        assert reply["detail"]["field"] == "alerts.0.fingerprint"
    else:
        assert status == 200, reply
        (decision,) = reply["decisions"]
        # only the configured map or an allowed command label chooses a command
        assert decision["command"] in {None, *SERVED_ALERTS.values()}
    assert served.redis.get(CANARY) == b"alive"
    _keys_are_ours(served)
    for raw in served.redis.scan_iter("amc:remediator:execution:*"):
        record = json.loads(served.redis.get(raw) or b"{}")
        assert record.get("params") in ({}, None)  # an alert's labels never become parameters


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


VALID = message(alert("CacheStale"), alert("HighErrorRate", fingerprint="b2"))
FIELDS = [p for p in _paths(VALID) if p]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(path=st.sampled_from(FIELDS), value=JSON)
def test_a_wrong_type_at_any_field_is_a_400_naming_it_or_still_decided(
    served: Served, path: tuple[Any, ...], value: Any
) -> None:
    body = copy.deepcopy(VALID)
    node = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    status, reply = _post(served, json.dumps(body).encode())
    assert status in (200, 400), reply
    if status == 400:
        assert reply["error"] == "invalid_request"
        assert isinstance(reply["detail"]["field"], str)
        assert reply["detail"]["message"]
    _keys_are_ours(served)


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_bytes_that_are_not_a_notification_are_a_400_at_the_body(
    served: Served, raw: bytes
) -> None:
    status, reply = _post(served, raw)
    assert status == 400, reply
    assert reply["error"] == "invalid_request"


def test_huge_deep_and_chunked_bodies_are_refused_with_their_reason(served: Served) -> None:
    deep = b'{"status": "firing", "alerts": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    status, reply = _post(served, deep)
    assert status == 413  # over max_body_bytes (64 KiB here) before it is parsed
    nested = b'{"status": "firing", "alerts": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    status, reply = _post(served, nested)
    assert status == 400
    assert reply["detail"]["field"] == "body"
    nul = json.dumps(message(alert("CacheStale", instance="a\x00b"))).encode()
    assert _post(served, nul)[0] == 200
    # chunked, no Content-Length: read up to the limit, then refused
    chunks = iter([b'{"status": "firing", "alerts": [' + b" " * 70_000, b"]}"])
    status, reply = _post(served, chunks, **{"Transfer-Encoding": "chunked"})
    assert status == 413
    small = iter([json.dumps(VALID).encode()[:50], json.dumps(VALID).encode()[50:]])
    status, reply = _post(served, small, **{"Transfer-Encoding": "chunked"})
    assert status == 200, reply
    _log_is_json_lines(served)
    assert TOKEN not in "\n".join(served.log_lines())
