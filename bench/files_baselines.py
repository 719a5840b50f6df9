"""What bench/files.py compares the service's transfers with, besides a plain copy: nginx (a
server written in C) and the loopback ceiling (no server at all)."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from common import Stack, pin_server, wait_ready
from files_measure import CHUNK

NGINX_CONFIG = """\
daemon off;
worker_processes 1;
{user}pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_max_body_size 0;
    client_body_temp_path {root}/files/.incoming;
    server {{
        listen 127.0.0.1:{port};
        root {root}/files;
        location / {{ dav_methods PUT; }}
    }}
}}
"""


def start_nginx(running: Stack, port: int) -> str | None:
    """nginx serving and taking files under the bench's folder, on the servers' cores; None
    when nginx is not installed. It writes no fsync of its own: the step's timing flushes the
    file it wrote, as it does the copy's."""
    executable = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if executable is None:
        return None
    root = running.workdir / "nginx"
    (root / "files" / ".incoming").mkdir(parents=True)
    # As root, nginx's workers would run as nobody, who cannot write in the bench's folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = root / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(user=user, root=root, port=port))
    process = running.spawn("nginx", [executable, "-c", str(config), "-p", str(root)])
    pin_server(process.pid)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", process, running.log("nginx"))
    return url


# The sender's side of the loopback ceiling: the file into the socket by sendfile, in the
# kernel, once the receiver says go (so neither the interpreter's start nor the connection is
# timed).
LOOPBACK_SENDER = """\
import os, socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as connection:
    with open(sys.argv[2], "rb") as source:
        connection.recv(1)
        size, sent = os.fstat(source.fileno()).st_size, 0
        while sent < size:
            sent += os.sendfile(connection.fileno(), source.fileno(), sent, size - sent)
"""


def loopback(source: Path, target: Path, *, read_size: int | None) -> tuple[float, float]:
    """``source`` into ``target`` over loopback TCP with no HTTP and nothing done to the
    bytes: the sender's sendfile (pinned where the servers run), and here a splice from the
    socket into the file (``read_size`` None: no copy in user space at all) or a recv and a
    write of up to ``read_size`` at a time (what a client that writes its file does: curl -o
    writes 4-16 KiB at a time). No server on this machine moves a file faster than the
    splice, so it says how much of the plain copy any transfer through the network stack can
    reach here; the recv and write, how much one that copies through user space can. Timed as
    ``timed`` does."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        sender = subprocess.Popen([sys.executable, "-c", LOOPBACK_SENDER, str(port), str(source)])
        pin_server(sender.pid)
        connection, _ = listener.accept()
        with connection, target.open("wb", buffering=0) as out:
            started = time.perf_counter()
            connection.sendall(b"g")
            if read_size is None:
                pipe_out, pipe_in = os.pipe()
                try:
                    fcntl.fcntl(pipe_in, fcntl.F_SETPIPE_SZ, CHUNK)
                    while count := os.splice(connection.fileno(), pipe_in, CHUNK):
                        while count:
                            count -= os.splice(pipe_out, out.fileno(), count)
                finally:
                    os.close(pipe_out)
                    os.close(pipe_in)
            else:
                buffer = bytearray(read_size)
                view = memoryview(buffer)
                while count := connection.recv_into(buffer):
                    out.write(view[:count])
            cached = time.perf_counter() - started
            os.fsync(out.fileno())
            durable = time.perf_counter() - started
    if sender.wait() != 0 or target.stat().st_size != source.stat().st_size:
        raise SystemExit("the loopback sender failed")
    return cached, durable
