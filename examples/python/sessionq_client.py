#!/usr/bin/env python3
"""A sessionq gateway client in Python, standard library only.

Establishes a session for a terminal, stores a parameter and a file in it,
submits a job in the session, follows the job's events until it ends, and
closes the session. Every JSON name is camelCase; a payload is any JSON
value (or bytes, base64, as payloadBase64).

    SESSIONQ_API_URL=http://127.0.0.1:8080 SESSIONQ_TOKEN=sqt_... python3 sessionq_client.py
"""
import json
import os
import sys
import urllib.error
import urllib.request

BASE = os.environ.get("SESSIONQ_API_URL", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ["SESSIONQ_TOKEN"]
JOB_TYPE = os.environ.get("SESSIONQ_JOB_TYPE", "echo")


class Error(Exception):
    """An error answer: {"error": {"code": ..., "message": ...}}."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


def call(method, path, body=None, session=None, raw=None):
    """One request; returns (answer headers, decoded JSON or bytes)."""
    headers = {"Authorization": "Bearer " + TOKEN}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if raw is not None:
        data = raw
        headers["Content-Type"] = "application/octet-stream"
    if session:
        headers["Sessionq-Session"] = session
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            payload = res.read()
            if res.headers.get("Content-Type", "").startswith("application/json"):
                return res.headers, json.loads(payload)
            return res.headers, payload
    except urllib.error.HTTPError as e:
        err = json.loads(e.read())["error"]
        raise Error(e.code, err["code"], err["message"]) from None


def events(path):
    """Yields (event, data) from a Server-Sent Events stream until it ends."""
    req = urllib.request.Request(BASE + path, headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=60) as res:
        name = None
        for line in res:
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                yield name, json.loads(line[len("data: "):])


def main():
    hdrs, s = call("POST", "/v1/sessions", {"createSession": True, "TID": "py-terminal-1"})
    sid = s["sessionId"]
    assert hdrs["Sessionq-Session"] == sid, "the session is echoed"
    print("session", sid, "created" if s["created"] else "found")

    # Another client of the same terminal finds it through the TID.
    _, again = call("POST", "/v1/sessions", {"createSession": False, "TID": "py-terminal-1"})
    assert again["sessionId"] == sid and not again["created"]
    try:
        call("POST", "/v1/sessions", {"createSession": False})
    except Error as e:
        print("without a TID:", e.code)

    call("PUT", f"/v1/sessions/{sid}/params/lang", {"value": "en"})
    call("PUT", f"/v1/sessions/{sid}/files/hello.txt", raw=b"hello from python\n")
    _, sub = call("POST", "/v1/jobs", {"type": JOB_TYPE, "payload": {"ping": 1}, "maxRetry": 2}, session=sid)
    print("job", sub["id"], "submitted, seq", sub["seq"])

    last = None
    for name, data in events(f"/v1/jobs/{sub['id']}/events"):
        last = data["job"]
        print("event", name, last["state"])
    assert last["sessionId"] == sid and last["maxRetry"] == 2
    print("result", json.dumps(last.get("result")))

    _, params = call("GET", f"/v1/sessions/{sid}/params", session=sid)
    print("params", json.dumps(params["params"], sort_keys=True))
    call("DELETE", f"/v1/sessions/{sid}")
    try:
        call("GET", f"/v1/sessions/{sid}")
    except Error as e:
        print("after close:", e.code)
    return 0 if last and last["state"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
