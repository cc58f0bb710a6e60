"""An MCP server that misbehaves on request, for klieo-mcp's integration tests.

The reference server (server-everything) only shows a well-behaved peer. This
one, built on the official MCP Python SDK (`mcp` 2.x, `MCPServer`), shows the
cases it cannot: a tool failing with `isError`, a call that never answers and
must be cancelled, a server dying in the middle of a call, and a tool list
that changes at run time.

    python faults.py               # stdio (the default)
    python faults.py --http PORT   # streamable HTTP on http://127.0.0.1:PORT/mcp

At start it writes `faults server started pid=<pid>` to stderr and, when the
`KLIEO_MCP_STARTS` environment variable names a file, appends a line to it, so
tests can count (re)starts. When `KLIEO_MCP_REFUSE` names a file that exists,
it writes why on stderr and exits with status 4 instead; when `KLIEO_MCP_MUTE`
names a file that exists, it never answers (not even the handshake) until its
stdin closes. When `KLIEO_MCP_ENDS` names a file, a stdio server appends how it
ended: `stdin closed` (half a second after its stdin closed, as a server
writing what it keeps), or `terminated` (on SIGTERM); with `KLIEO_MCP_STAYS`
set too, it does not exit when its stdin closes, and only a signal ends it.
In stdio mode stdout carries protocol messages only.
"""

import argparse
import functools
import os
import signal
import sys
import time
from typing import TypedDict

import anyio
import mcp_types as types
from mcp.server import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

# WARNING keeps the SDK's and uvicorn's per-request logging off stderr, whose
# last lines the tests read.
server = MCPServer("klieo-faults", version="1.0.0", log_level="WARNING")

# MCPServer has no setting for the `listChanged` capability flags, so the
# low-level server's initialize options default to announcing
# `tools.listChanged: true`, for stdio and HTTP sessions alike.
_lowlevel = server._lowlevel_server
_lowlevel.create_initialization_options = functools.partial(
    _lowlevel.create_initialization_options,
    notification_options=NotificationOptions(tools_changed=True),
)

# Request ids of `hang` calls the client cancelled, and an event set (then
# replaced) at each one, so `cancelled_calls` can wait without polling; the
# same for `hang` calls started, for `hanging`.
_cancelled: list[str] = []
_cancel_seen = anyio.Event()
_hanging = 0
_hang_seen = anyio.Event()


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@server.tool(structured_output=False)
def echo(text: str) -> str:
    """Returns the text unchanged."""
    return text


class Sum(TypedDict):
    sum: int


@server.tool()
def add(a: int, b: int) -> Sum:
    """Adds two integers; the result is structured: {"sum": a + b}."""
    # A TypedDict return gives the tool an outputSchema and the result structuredContent.
    return {"sum": a + b}


@server.tool(structured_output=False)
def fail(message: str) -> str:
    """Always fails: the result has isError true and the message in its text."""
    # ToolError becomes a tool result with isError, not a JSON-RPC error; its text
    # reads "Error executing tool fail: <message>".
    raise ToolError(message)


@server.tool(structured_output=False)
async def hang(ctx: Context) -> str:
    """Never answers; only the client's notifications/cancelled ends it."""
    global _cancel_seen, _hanging, _hang_seen
    _hanging += 1
    _hang_seen.set()
    _hang_seen = anyio.Event()
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        # The SDK applies notifications/cancelled by cancelling this handler's
        # scope. Nothing here awaits, since the scope is already cancelled.
        _cancelled.append(ctx.request_id)
        _err("hang cancelled")
        _cancel_seen.set()
        _cancel_seen = anyio.Event()
        raise
    raise AssertionError("unreachable")


@server.tool(structured_output=False)
async def cancelled_calls(at_least: int = 1) -> int:
    """Waits (10 s at most) until at least `at_least` hang calls have been cancelled; returns how many have been."""
    with anyio.move_on_after(10):
        while len(_cancelled) < at_least:
            await _cancel_seen.wait()
    return len(_cancelled)


@server.tool(structured_output=False)
async def hanging(at_least: int = 1) -> int:
    """Waits (10 s at most) until at least `at_least` hang calls have started; returns how many have."""
    with anyio.move_on_after(10):
        while _hanging < at_least:
            await _hang_seen.wait()
    return _hanging


@server.tool(structured_output=False)
def pid() -> int:
    """Returns the server's process id (tests kill it between calls)."""
    return os.getpid()


@server.tool(structured_output=False)
def exit_mid_call() -> str:
    """Exits the server process (status 3) without answering the call."""
    _err("exiting mid-call on purpose")
    if secret := os.environ.get("KLIEO_MCP_SECRET"):
        # As a server that prints its token in an error does.
        _err(f"invalid key {secret}")
    os._exit(3)


@server.tool(structured_output=False)
async def add_tool(name: str, ctx: Context) -> str:
    """Registers a new tool called `name` (it returns "added <name>"), then sends notifications/tools/list_changed."""
    reply = f"added {name}"

    def added() -> str:
        return reply

    server.add_tool(added, name=name, description=f"Added at run time; returns {reply!r}.", structured_output=False)
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        # 2026-07-28 delivers change notifications on subscriptions/listen streams only.
        await ctx.notify_tools_changed()
    else:
        # Sent on this call's own stream (over HTTP, the POST's SSE response), so it
        # reaches the client before the result, with or without a GET stream.
        await ctx.session.send_notification(
            types.ToolListChangedNotification(), related_request_id=ctx.request_context.request_id
        )
    return reply


def _ended(path: str, how: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(how + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp")
    args = parser.parse_args()

    refuse = os.environ.get("KLIEO_MCP_REFUSE")
    if refuse and os.path.exists(refuse):
        # A server that cannot start again: tests show the error it gives.
        _err(f"refusing to start: {refuse} exists")
        sys.exit(4)
    mute = os.environ.get("KLIEO_MCP_MUTE")
    if mute and os.path.exists(mute):
        # A server that starts but never answers, not even the handshake.
        _err(f"muted: {mute} exists")
        sys.stdin.buffer.read()
        return
    _err(f"faults server started pid={os.getpid()}")
    if starts := os.environ.get("KLIEO_MCP_STARTS"):
        with open(starts, "a", encoding="utf-8") as f:
            f.write(f"pid={os.getpid()}\n")

    ends = os.environ.get("KLIEO_MCP_ENDS")
    if ends:

        def terminated(_signum, _frame) -> None:
            _ended(ends, "terminated")
            os._exit(0)

        signal.signal(signal.SIGTERM, terminated)
    if args.http is None:
        server.run("stdio")
        if ends and os.environ.get("KLIEO_MCP_STAYS"):
            while True:
                signal.pause()
        if ends:
            time.sleep(0.5)
            _ended(ends, "stdin closed")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http, streamable_http_path="/mcp")


if __name__ == "__main__":
    main()
