"""Run the fake Bot API standalone: ``python -m tests.botapi --port 8081``.

Point a bot at the printed base URL (``Bot(token, base_url=..., base_file_url=...)``) and drive it
through the ``/_fake/...`` control API (see :func:`tests.botapi.server.build_app`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from tests.botapi.server import serve_botapi
from tests.botapi.state import FakeTelegram


async def _serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve_botapi(FakeTelegram(), host=host, port=port) as server:
        print(f"base_url={server.base_url}", flush=True)
        print(f"file_url={server.file_url}", flush=True)
        print(f"control_url={server.root_url}/_fake", flush=True)
        await stop.wait()
    print("stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.botapi", description="Serve a fake Telegram Bot API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
