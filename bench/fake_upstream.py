"""A minimal OpenAI-compatible upstream for the gateway benchmarks.

    python -m bench.fake_upstream --port 8123

Plain asyncio with h11 parsing the requests: every response (headers and
whole body, streamed or not) is built first and sent with a single
`transport.write` on a socket with TCP_NODELAY set, so neither Nagle's
algorithm nor partial writes shape the figures. No artificial delay.
"""

import argparse
import asyncio
import json
import socket
import time
from typing import Any

import h11

WORDS = 20


def _completion(model: str, prompt: int) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": " ".join(f"word{i}" for i in range(WORDS)),
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(prompt),
        }
    ).encode()


def _usage(prompt: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": WORDS,
        "total_tokens": prompt + WORDS,
    }


def _stream(model: str, prompt: int, with_usage: bool) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events = [chunk({"role": "assistant", "content": ""})]
    events += [
        chunk({"content": f"word{i}" if i == 0 else f" word{i}"}) for i in range(WORDS)
    ]
    events.append(chunk({}, "stop"))
    if with_usage:
        events.append({**chunk({}), "choices": [], "usage": _usage(prompt)})
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def answer(body: bytes) -> tuple[bytes, str]:
    """(payload, content type) for one chat completions request body."""
    request = json.loads(body or b"{}")
    model = str(request.get("model", "unknown"))
    prompt = sum(
        len(str(m.get("content", "")).split()) for m in request.get("messages", [])
    )
    if request.get("stream"):
        options = request.get("stream_options") or {}
        payload = _stream(model, prompt, bool(options.get("include_usage")))
        return payload, "text/event-stream"
    return _completion(model, prompt), "application/json"


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = h11.Connection(h11.SERVER)
        self.body = bytearray()

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._respond()
            elif isinstance(event, h11.ConnectionClosed):
                self.transport.close()
                return
            elif event is h11.PAUSED:
                self.conn.start_next_cycle()

    def _respond(self) -> None:
        payload, media = answer(bytes(self.body))
        self.body = bytearray()
        head = self.conn.send(
            h11.Response(
                status_code=200,
                headers=[
                    ("content-type", media),
                    ("content-length", str(len(payload))),
                ],
            )
        )
        rest = self.conn.send(h11.Data(data=payload))
        end = self.conn.send(h11.EndOfMessage())
        self.transport.write(b"".join(p or b"" for p in (head, rest, end)))
        if self.conn.our_state is h11.MUST_CLOSE:
            self.transport.close()
        else:
            self.conn.start_next_cycle()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port)
    print(f"fake upstream on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
