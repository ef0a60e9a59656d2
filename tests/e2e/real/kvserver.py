#!/usr/bin/env python3
"""kvserver.py - the CPython victim of the real-program e2e tests.

    python3 kvserver.py serve PORT [--title TITLE] [--shm]
    python3 kvserver.py client PORT        (commands on stdin, one a line)

The server keeps its state in a dict and answers one TCP client at a time on
127.0.0.1:PORT. A client sends lines and then shuts its sending side; the
server answers every line, in order, once it has read them all, and closes.

    SET KEY VALUE  -> OK          GET KEY -> VALUE or (nil)
    COUNT          -> len(dict)   RUNID   -> a random token chosen at start
    SHM            -> the request counter kept in shared memory (--shm), or -1
    TITLE          -> the process title set with setproctitle (--title), or -

--title sets the process title with python3-setproctitle (which overwrites
the argv and environment strings on the initial stack and moves environ to the
heap). --shm keeps a request counter in an mmap.mmap(-1, n) mapping, i.e.
MAP_SHARED|MAP_ANONYMOUS memory: after a resurrection it must go on from the
victim's value.
"""
import mmap
import os
import socket
import struct
import sys


def serve(port, title, shm):
    state = {}
    run_id = os.urandom(8).hex()
    counter = mmap.mmap(-1, 4096) if shm else None
    if title is not None:
        import setproctitle
        setproctitle.setproctitle(title)

    def bump():
        if counter is None:
            return -1
        n = struct.unpack_from("<Q", counter, 0)[0] + 1
        struct.pack_into("<Q", counter, 0, n)
        return n

    def answer(line):
        parts = line.split(" ", 2)
        cmd = parts[0]
        if cmd == "SET" and len(parts) == 3:
            state[parts[1]] = parts[2]
            return "OK"
        if cmd == "GET" and len(parts) == 2:
            return state.get(parts[1], "(nil)")
        if cmd == "COUNT":
            return str(len(state))
        if cmd == "RUNID":
            return run_id
        if cmd == "SHM":
            return str(struct.unpack_from("<Q", counter, 0)[0]) if counter else "-1"
        if cmd == "TITLE":
            return title if title is not None else "-"
        return "ERR unknown command"

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        with conn:
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            out = []
            for line in data.decode().splitlines():
                bump()
                out.append(answer(line))
            conn.sendall(("\n".join(out) + "\n").encode())


def client(port):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(sys.stdin.buffer.read())
        s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)


def main(argv):
    if len(argv) >= 3 and argv[1] == "client":
        client(int(argv[2]))
        return 0
    if len(argv) >= 3 and argv[1] == "serve":
        title, shm, rest = None, False, argv[3:]
        while rest:
            if rest[0] == "--title" and len(rest) > 1:
                title, rest = rest[1], rest[2:]
            elif rest[0] == "--shm":
                shm, rest = True, rest[1:]
            else:
                break
        if not rest:
            serve(int(argv[2]), title, shm)
            return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
