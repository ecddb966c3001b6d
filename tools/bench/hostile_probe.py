#!/usr/bin/env python3
"""What hostile clients cost the instrumented demo (not a test; figures for README's Hardening).

Starts bazel-bin/tools/demo/demo (build it with --config=instrumented first) on a free loopback
port and measures, from outside, over loopback only: RSS while 12 clients stall on 0.3 s
traces, RSS after 10 concurrent 1 s traces read whole, how fast 16 abandoned hour-long windows
free their slots, a request's latency beside 1,000 idle sockets (and the demo's thread count),
and a catastrophic trace filter. Usage: tools/bench/hostile_probe.py
"""
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "bazel-bin", "tools", "demo", "demo")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_mib(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def connect(port, rcvbuf=0):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    return s


def request(port, target, read=True, timeout=60):
    s = connect(port)
    s.settimeout(timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % target).encode())
    if not read:
        return s
    out = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def main():
    port = free_port()
    env = dict(os.environ, HOOKPROF_ADDR="127.0.0.1:%d" % port)
    demo = subprocess.Popen([DEMO], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        time.sleep(2)
        pid = demo.pid
        request(port, "/demo/debug/pprof/trace?seconds=0.3")  # Rings mapped, allocator warm.
        print("baseline RSS %.0f MiB, %d threads" % (rss_mib(pid), threads(pid)))

        stalled = [connect(port, 4096) for _ in range(12)]
        for s in stalled:
            s.sendall(b"GET /demo/debug/pprof/trace?seconds=0.3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        peak = 0
        for _ in range(100):  # 10 s
            peak = max(peak, rss_mib(pid))
            time.sleep(0.1)
        print("12 stalled 0.3 s trace readers: peak RSS %.0f MiB over 10 s" % peak)
        for s in stalled:
            s.close()
        time.sleep(2)
        print("  2 s after they left: RSS %.0f MiB" % rss_mib(pid))

        peak = [0]
        done = []
        def one():
            done.append(len(request(port, "/demo/debug/pprof/trace?seconds=1")))
        ts = [threading.Thread(target=one) for _ in range(10)]
        start = time.time()
        for t in ts:
            t.start()
        while any(t.is_alive() for t in ts):
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.05)
        print("10 concurrent 1 s traces read whole: peak RSS %.0f MiB, %.1f s, %.0f MB each" %
              (peak[0], time.time() - start, sum(done) / len(done) / 1e6))
        time.sleep(2)
        print("  2 s later: RSS %.0f MiB" % rss_mib(pid))

        abandoned = [request(port, "/demo/debug/pprof/trace?seconds=3600", read=False)
                     for _ in range(16)]
        time.sleep(0.5)
        for s in abandoned:
            s.close()
        start = time.time()
        while True:
            r = request(port, "/demo/debug/pprof/profile?seconds=1")
            if r.startswith(b"HTTP/1.1 200") or time.time() - start > 30:
                break
        print("16 abandoned hour-long traces: a 1 s profile answered %s %.2f s after they left" %
              (r[:12].decode(), time.time() - start))
        mode = request(port, "/demo/debug/hookprof/mode").split(b"\r\n\r\n", 1)[1].strip()
        print("  mode afterwards: %s" % mode.decode())

        idle = [connect(port) for _ in range(1000)]
        time.sleep(0.5)
        start = time.time()
        r = request(port, "/demo/debug/pprof/cmdline")
        print("1,000 idle sockets: cmdline %s in %.0f ms; demo threads %d" %
              (r[:12].decode(), (time.time() - start) * 1000, threads(pid)))
        for s in idle:
            s.close()

        start = time.time()
        r = request(port, "/demo/debug/pprof/trace?seconds=0.1&include=(.%7B1,99%7D)%7B1,99%7DX")
        print("include=(.{1,99}){1,99}X: %s in %.2f s" % (r[:12].decode(), time.time() - start))
    finally:
        demo.terminate()
        demo.wait()


if __name__ == "__main__":
    sys.exit(main())
