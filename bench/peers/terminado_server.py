"""terminado (Jupyter's terminal server) serving a local bash, for the side-by-side bench.

    python terminado_server.py

Listens on a free loopback port and prints `port: N` once ready. Each WebSocket at
/websocket gets its own bash (UniqueTermManager), started with a prompt ending in `>` like
winrelay's demo shell so one client measures both. `--compress` turns on tornado's
permessage-deflate.
"""
import asyncio
import os
import socket
import sys

import tornado.web
from terminado import TermSocket, UniqueTermManager


class Socket(TermSocket):
    def get_compression_options(self):
        return {} if "--compress" in sys.argv else None

    def check_origin(self, origin):
        return True


async def main():
    env = {"PS1": "bench> ", "TERM": "xterm-256color"}
    manager = UniqueTermManager(shell_command=["bash", "--norc", "--noprofile", "-i"], extra_env=env)
    app = tornado.web.Application([(r"/websocket", Socket, {"term_manager": manager})])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    print(f"port: {sock.getsockname()[1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        manager.kill_all()


if __name__ == "__main__":
    import tornado.httpserver
    os.environ.pop("PROMPT_COMMAND", None)
    asyncio.run(main())
