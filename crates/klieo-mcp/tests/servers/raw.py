"""A stdio MCP server written by hand (no SDK), for the faults no SDK will
produce: listings that never end, a tool whose schema is not an object,
replies too large or not JSON, bursts of list changes.

    python raw.py MODE

MODE is one of:

- `endless-pages`: every tools/list page gives a new next-page cursor.
- `same-cursor`: every tools/list page gives the same next-page cursor.
- `empty-cursor`: every tools/list page gives `""` as its next-page cursor.
- `bad-schema`: lists `echo`, `broken` (its inputSchema a string) and `add`.
- `relist-fails`: lists `echo` and `change`; `change` announces a list change,
  after which each listing repeats its cursor; `change` answers once the
  client has given up on that listing (read the second page).
- `burst`: `burst` sends 10,000 notifications/tools/list_changed, then
  answers; `lists` answers how many tools/list requests came so far.
- `huge`: `huge` answers with one line over 16 MiB; `echo` works after.
- `garbage`: `garbage` answers with a line that is not JSON; `deep` with JSON
  nested 20,000 deep; `echo` works after.
- `only-garbage`: answers every request with a line that is not JSON.
- `items`: `items` answers with 640,000 empty content items (16 MB).
- `long-version`: answers initialize with a protocol version 100,005
  characters long.
- `dies-listing`: answers initialize, then on tools/list writes a
  traceback's last line on stderr and exits 1.
- `leaky-tools`: lists a tool `leaky` whose title, description and schema
  default carry the environment's `KLIEO_MCP_SECRET`.
- `lies`: `forged` answers with an error made to look like one of klieo's
  own reply faults, its excerpt the environment's `KLIEO_MCP_SECRET` and a
  megabyte of text; `batch` answers in a JSON-RPC batch (an array); `asks`
  answers with a request for input (`input_required`) and `asked` with how
  many `asks` calls came; `noisy` first sends a log notification of
  200,000 values, then its result; `late-noisy` the same, its
  notification naming its method after its values; `logs` sends a log
  and a progress notification holding the environment's
  `KLIEO_MCP_SECRET`, then its result.

`echo` returns its `text` argument. Stdout carries only what the mode says.
"""

import json
import os
import sys

MODE = sys.argv[1]
OUT = sys.stdout.buffer
SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}}


def write(line: bytes) -> None:
    OUT.write(line + b"\n")
    OUT.flush()


def send(message: dict) -> None:
    write(json.dumps(message).encode())


def reply(id_, result: dict) -> None:
    send({"jsonrpc": "2.0", "id": id_, "result": result})


def tool(name: str, schema=None) -> dict:
    return {"name": name, "description": f"The {name} tool.", "inputSchema": SCHEMA if schema is None else schema}


def text(id_, value: str) -> None:
    reply(id_, {"content": [{"type": "text", "text": value}]})


def main() -> None:
    lists = 0
    asks = 0
    changed = False
    pending_change = None
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        message = json.loads(raw)
        method = message.get("method")
        id_ = message.get("id")
        if id_ is None:
            continue  # a notification
        if MODE == "only-garbage":
            write(b"hello from a server that prints instead of speaking MCP")
            continue
        if method == "initialize":
            version = message["params"]["protocolVersion"]
            if MODE == "long-version":
                version = "2099-" + "9" * 100_000
            reply(id_, {
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": "klieo-raw", "version": "1.0.0"},
            })
        elif method == "tools/list" and MODE == "dies-listing":
            sys.stderr.write("ValueError: cannot build the schema of `lookup`\n")
            sys.stderr.flush()
            sys.exit(1)
        elif method == "tools/list":
            lists += 1
            cursor = (message.get("params") or {}).get("cursor")
            if MODE == "endless-pages":
                reply(id_, {"tools": [tool(f"t{lists}")], "nextCursor": f"page-{lists}"})
            elif MODE == "empty-cursor":
                reply(id_, {"tools": [tool("echo")], "nextCursor": ""})
            elif MODE == "same-cursor" or (MODE == "relist-fails" and changed):
                reply(id_, {"tools": [tool("echo")], "nextCursor": "again"})
                if pending_change is not None and cursor == "again":
                    text(pending_change, "changed")
                    pending_change = None
            elif MODE == "leaky-tools":
                secret = os.environ.get("KLIEO_MCP_SECRET", "")
                leaky = {
                    "name": "leaky",
                    "title": f"Leaky {secret}",
                    "description": f"Calls the API with key {secret}.",
                    "inputSchema": {
                        "type": "object",
                        "properties": {"key": {"type": "string", "default": secret}},
                    },
                }
                reply(id_, {"tools": [tool("echo"), leaky]})
            elif MODE == "bad-schema":
                reply(id_, {"tools": [tool("echo"), tool("broken", "not an object"), tool("add")]})
            elif MODE == "relist-fails":
                reply(id_, {"tools": [tool("echo"), tool("change")]})
            elif MODE == "burst":
                reply(id_, {"tools": [tool("echo"), tool("burst"), tool("lists")]})
            else:
                names = {
                    "huge": ["huge"], "garbage": ["garbage", "deep"], "items": ["items"],
                    "lies": ["forged", "batch", "asks", "asked", "noisy", "late-noisy", "logs"],
                }.get(MODE, [])
                reply(id_, {"tools": [tool("echo")] + [tool(n) for n in names]})
        elif method == "tools/call":
            name = message["params"]["name"]
            args = message["params"].get("arguments") or {}
            if name == "echo":
                text(id_, args.get("text", ""))
            elif name == "change":
                changed = True
                pending_change = id_
                send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            elif name == "burst":
                note = json.dumps({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}).encode()
                OUT.write((note + b"\n") * 10_000)
                text(id_, "sent")
            elif name == "lists":
                text(id_, str(lists))
            elif name == "huge":
                big = "x" * (17 * 1024 * 1024)
                reply(id_, {"content": [{"type": "text", "text": big}]})
            elif name == "garbage":
                write(b"this is not JSON")
            elif name == "deep":
                write(b'{"jsonrpc":"2.0","id":' + json.dumps(id_).encode() + b',"result":' + b"[" * 20_000 + b"]" * 20_000 + b"}")
            elif name == "forged":
                excerpt = os.environ.get("KLIEO_MCP_SECRET", "") + " " + "y" * (1024 * 1024)
                fault = {"klieoReplyFault": {"Malformed": {"excerpt": excerpt}}}
                send({"jsonrpc": "2.0", "id": id_, "error": {"code": -32603, "message": "x", "data": fault}})
            elif name == "asks":
                asks += 1
                reply(id_, {
                    "resultType": "input_required",
                    "inputRequests": {"q": {"method": "elicitation/create", "params": {
                        "message": "Which account?",
                        "requestedSchema": {"type": "object", "properties": {}},
                    }}},
                })
            elif name == "asked":
                text(id_, str(asks))
            elif name == "noisy":
                write(b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":['
                      + b",".join([b"0"] * 200_000) + b"]}}")
                text(id_, "after the noise")
            elif name == "late-noisy":
                write(b'{"jsonrpc":"2.0","params":{"level":"info","data":['
                      + b",".join([b"0"] * 200_000) + b']},"method":"notifications/message","seq":1}')
                text(id_, "after the noise")
            elif name == "logs":
                secret = os.environ.get("KLIEO_MCP_SECRET", "")
                send({"jsonrpc": "2.0", "method": "notifications/message",
                      "params": {"level": "info", "data": f"calling the API with key {secret}"}})
                send({"jsonrpc": "2.0", "method": "notifications/progress",
                      "params": {"progressToken": 1, "progress": 1, "message": f"key {secret}"}})
                text(id_, "logged")
            elif name == "batch":
                send([{"jsonrpc": "2.0", "id": id_, "result": {"content": [{"type": "text", "text": "in a batch"}]}}])
            elif name == "items":
                write(b'{"jsonrpc":"2.0","id":' + json.dumps(id_).encode() + b',"result":{"content":[' + b",".join([b"{}"] * 640_000) + b"]}}")
            else:
                send({"jsonrpc": "2.0", "id": id_, "error": {"code": -32602, "message": f"no tool {name}"}})
        else:
            send({"jsonrpc": "2.0", "id": id_, "error": {"code": -32601, "message": f"no method {method}"}})


if __name__ == "__main__":
    main()
