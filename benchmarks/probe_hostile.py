"""The hostile requests of the server's defences, each sent while a thread asks /health every 20 ms:
the answer, the server time, the slowest /health, and whether the server lives.

    .venv/bin/python benchmarks/probe_hostile.py
"""
import json, socket, subprocess, sys, threading, time, httpx
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
proc = subprocess.Popen([sys.executable, "-m", "dyntemp", "serve", "--port", str(port), "--parallel", "2",
                         "--ctx-size", "2048", "--api-key", "K"], stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        if httpx.get(url + "/health", timeout=1).status_code == 200: break
    except httpx.TransportError: time.sleep(0.1)
H = {"Authorization": "Bearer K"}
cases = {
    "grammar 50,000 deep": {"prompt": "x", "grammar": "root ::= " + "(" * 50000 + '"a"' + ")" * 50000},
    "backtracking line_regex, 200 tokens": {"prompt": "Write a long sentence:", "max_tokens": 200, "ignore_eos": True,
        "grammar": "root ::= [^\\n]*", "rules": {"rule": [{"line_regex": "^(.|.)*\u0000", "temperature": 0.1}], "base": 0.0}},
    "10 MB prompt": {"prompt": "hello " * 1_750_000},
    "strategy 400 deep": {"prompt": "x", "strategy": json.loads('{"name": "clamp", "strategy": ' * 400 + '0.5' + "}" * 400)},
    "invalid grammar": {"prompt": "x", "grammar": "@/etc/passwd"},
    "1 MB grammar of 100,000 alternatives": {"prompt": "x", "grammar": "root ::= " + " | ".join(f'"w{i}"' for i in range(100000))},
}
for name, body in cases.items():
    worst, stop = [0.0], threading.Event()
    def watch():
        with httpx.Client() as c:
            while not stop.is_set():
                t = time.monotonic(); c.get(url + "/health"); worst[0] = max(worst[0], time.monotonic() - t); time.sleep(0.02)
    th = threading.Thread(target=watch); th.start()
    t = time.monotonic(); r = httpx.post(url + "/v1/completions", json=body, headers=H, timeout=120); took = time.monotonic() - t
    stop.set(); th.join()
    print(f"{name}: {r.status_code} in {took*1000:.0f} ms; /health at most {worst[0]*1000:.0f} ms; server alive: {proc.poll() is None}")
proc.terminate(); proc.wait(30)
