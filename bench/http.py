"""A small HTTP/1.1 client for the open-loop load: keep-alive connections over asyncio streams, with
nothing read beyond the status line, Content-Length and body, so the load generator's own cost
stays low. (Its ceiling is measured in the same run, against `GET /health`.)"""

import asyncio
import re

LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


class Client:
    def __init__(self, host: str, port: int, token: str, connections: int):
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(connections)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """(status, body); a connection that fails is closed, and the error raised."""
        async with self.slots:
            reader, writer = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode()
                             + body)
                head = await reader.readuntil(b"\r\n\r\n")
                length = LENGTH.search(head)
                if length is None:
                    raise ValueError(f"an answer without Content-Length: {head[:200]!r}")
                answer = await reader.readexactly(int(length.group(1)))
            except BaseException:
                writer.close()
                raise
            self.idle.append((reader, writer))
            return int(head[9:12]), answer

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()
