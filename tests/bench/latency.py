#!/usr/bin/python3
"""latency.py: event append to signal append latency (issue 10, item 4).

A contender (postured run, or the Python reference consumer) follows an input topic while
this script produces the generated stream into it at a fixed rate (50% of the contender's
maximum sustainable rate by default) with linger.ms=5, and mixes in probes: a probe is a
Defender EDR assessment of a fresh virtual machine, first Healthy (the pair's baseline: no
signal), then, 20 ms later, Unhealthy, which must raise a control.regressed signal naming
that machine. Both topics use message.timestamp.type=LogAppendTime, so the latency of a probe
is the broker's append time of its signal minus the broker's append time of the Unhealthy
event: one clock, no skew. Reports p50, p99, p99.9 and the maximum over all probes.

  latency.py [--contender postured|python] [--rate R | --max-rate R] [--seconds 60]
             [--probes-per-s 100] [--quick] [--bin build/postured] [--json FILE]

Without --rate or --max-rate the maximum comes from the last e2e.py result in
build/bench/e2e.jsonl for that contender (else: an error).
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  pylint: disable=wrong-import-position
import e2e  # noqa: E402  pylint: disable=wrong-import-position

EDR_KEY = "06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c"
TIME_RE = re.compile(rb'"(?:statusChangeDate|TimeGenerated|StartTimeUtc|eventTime)":"([^"]+)"')
PROBE_RE = re.compile(r"bench-probe-(\d+)")


def percentile(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(q / 100.0 * len(xs) + 0.5)) - 1))
    return xs[i]


def template(bin_):
    """A generated EDR assessment of a virtual machine, as a dict."""
    out = subprocess.run([bin_, "gen", "--seed", "7", "--events", "2000"], capture_output=True,
                         check=True).stdout
    for line in out.splitlines():
        if f'"name":"{EDR_KEY}"'.encode() in line and b"virtualMachines/" in line:
            return json.loads(line)
    sys.exit("latency: no EDR assessment in the generator's output")


def later(when, seconds):
    """RFC 3339 `when` plus some seconds, in the same shape (UTC, milliseconds)."""
    base = when.rstrip("Z")
    if "." in base:
        base = base.split(".")[0]
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S") + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def probe(tpl, i, status, when):
    d = json.loads(json.dumps(tpl))
    old = d["properties"]["resourceDetails"]
    rid_key = "Id" if "Id" in old else "id"
    vm = old[rid_key].rsplit("/", 1)[1]
    name = f"bench-probe-{i:06d}"
    text = json.dumps(d).replace(vm, name)
    d = json.loads(text)
    d["properties"]["status"]["code"] = status
    d["properties"]["status"]["statusChangeDate"] = when
    d["assessmentEventDataEnrichment"]["isSnapshot"] = False
    d["assessmentEventDataEnrichment"]["action"] = "Write"
    key = d["properties"]["resourceDetails"][rid_key].lower()
    return key, json.dumps(d, separators=(",", ":"))


def max_rate_from_results(contender):
    path = os.path.join(bl.ROOT, "build", "bench", "e2e.jsonl")
    best = None
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                m = r.get("median", {}).get(contender)
                if m and r.get("events", 0) >= 100000:
                    best = m["events_per_s"]
    except OSError:
        pass
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contender", default="postured", choices=["postured", "python"])
    ap.add_argument("--rate", type=float, help="events/s to produce")
    ap.add_argument("--max-rate", type=float, help="maximum sustainable rate; --rate = half")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--probes-per-s", type=float, default=100)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bin")
    ap.add_argument("--json")
    ap.add_argument("--state", default=os.path.join(bl.ROOT, "build", "bench", "broker"))
    a = ap.parse_args()
    bin_ = bl.find_bin(a.bin)
    if a.quick:
        a.seconds, a.probes_per_s = 5, 40
        if not a.rate:
            a.rate = 1000
        if a.contender == "postured" and not e2e.run_available(bin_)[0]:
            a.contender = "python"  # the smoke test still exercises the harness
    if a.contender == "postured" and not e2e.run_available(bin_)[0]:
        print("latency: not available: postured run is not implemented in this build")
        return 77
    if not a.rate:
        mx = a.max_rate or max_rate_from_results(a.contender)
        if not mx:
            sys.exit("latency: give --rate or --max-rate, or run e2e.py first")
        a.rate = mx / 2
    from confluent_kafka import Consumer, Producer  # pylint: disable=import-outside-toplevel

    tpl = template(bin_)
    broker = bl.Broker(a.state)
    info = bl.machine()
    lat = []
    sent = {}
    try:
        bootstrap = broker.start()
        tag = f"{os.getpid()}"
        topic, out = f"bench-lat-in-{tag}", f"bench-lat-drift-{tag}"
        cfg = {"message.timestamp.type": "LogAppendTime"}
        bl.create_topic(bootstrap, topic, e2e.PARTITIONS, cfg)
        bl.create_topic(bootstrap, out, 1, cfg)
        with tempfile.TemporaryDirectory(prefix="pd-lat.") as tmp:
            group = f"bench-lat-{a.contender}-{tag}"
            if a.contender == "python":
                m = bl.Measured([bl.PYTHON, os.path.join(bl.HERE, "ref_consumer.py"), "--bootstrap",
                                 bootstrap, "--topic", topic, "--group", group, "--out-topic", out,
                                 "--follow"], stderr=subprocess.DEVNULL)
            else:
                pipeline = e2e.write_pipeline(tmp, bootstrap, topic, group, False)
                with open(pipeline, encoding="utf-8") as f:
                    text = f.read().replace("drift: bench-drift", f"drift: {out}")
                with open(pipeline, "w", encoding="utf-8") as f:
                    f.write(text)
                env = dict(os.environ, POSTURED_HTTP_LISTEN="", POSTURED_LOG_LEVEL="warn",
                           POSTURED_STATE_DIR=os.path.join(tmp, "state"))
                tmpl = os.environ.get("PD_BENCH_RUN_CMD", "{bin} run -p {pipeline}")
                m = bl.Measured(tmpl.format(bin=bin_, pipeline=pipeline, bootstrap=bootstrap,
                                            group=group).split(), env=env)

            # The signal reader: broker append time of each probe's control.regressed.
            got = {}
            done = threading.Event()

            def reader():
                c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-reader-{tag}",
                              "auto.offset.reset": "earliest", "fetch.wait.max.ms": 1})
                c.subscribe([out])
                while not done.is_set():
                    msg = c.poll(0.05)
                    if msg is None or msg.error():
                        continue
                    v = msg.value().decode(errors="replace")
                    if '"control.regressed"' not in v:
                        continue
                    mm = PROBE_RE.search(v)
                    if mm:
                        got.setdefault(int(mm.group(1)), msg.timestamp()[1])
                c.close()

            rt = threading.Thread(target=reader, daemon=True)
            rt.start()

            p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                          "queue.buffering.max.kbytes": 262144})

            def dr(err, msg, i=None):
                if err is None and i is not None:
                    sent[i] = msg.timestamp()[1]

            gen = subprocess.Popen([bin_, "gen", "--seed", "3", "--key", "--servers", "5000",
                                    "--days", "0", "--events", str(int(a.rate * (a.seconds + 30)))],
                                   stdout=subprocess.PIPE)
            # Warm-up: one probe pair (number 999999) must come back as a signal before
            # the measurement starts, so group join and start-up are not measured.
            wk, wv = probe(tpl, 999999, "Healthy", later("2026-01-05T00:00:00Z", 0))
            p.produce(topic, wv, wk)
            p.flush(10)
            time.sleep(0.1)
            wk, wv = probe(tpl, 999999, "Unhealthy", later("2026-01-05T00:00:00Z", 1))
            p.produce(topic, wv, wk)
            p.flush(10)
            wdeadline = time.monotonic() + 60
            while 999999 not in got and time.monotonic() < wdeadline:
                time.sleep(0.05)
            if 999999 not in got:
                print("latency: the contender never signalled the warm-up probe", file=sys.stderr)
            t0 = time.monotonic()
            n = 0
            nprobe = 0
            when = "2026-01-05T00:00:00Z"
            pending = []  # (due, i, status)
            next_probe = t0 + 1.0 / a.probes_per_s
            while time.monotonic() - t0 < a.seconds:
                now = time.monotonic()
                due = t0 + n / a.rate
                if due > now:
                    time.sleep(min(due - now, 0.001))
                    continue
                line = gen.stdout.readline()
                if not line:
                    break
                k, _, v = line.rstrip(b"\n").partition(b"\t")
                if n % 50 == 0:
                    mt = TIME_RE.search(v)
                    if mt:
                        when = mt.group(1).decode()
                while True:
                    try:
                        p.produce(topic, v, k)
                        break
                    except BufferError:
                        p.poll(0.001)
                n += 1
                if now >= next_probe:
                    # The flip is a later status change (an engine may ignore an equal time).
                    k2, v2 = probe(tpl, nprobe, "Healthy", later(when, 0))
                    p.produce(topic, v2, k2)
                    pending.append((now + 0.02, nprobe, later(when, 1)))
                    nprobe += 1
                    next_probe += 1.0 / a.probes_per_s
                while pending and pending[0][0] <= now:
                    _, i, w = pending.pop(0)
                    k2, v2 = probe(tpl, i, "Unhealthy", w)
                    p.produce(topic, v2, k2, on_delivery=lambda e, mg, i=i: dr(e, mg, i))
                p.poll(0)
            elapsed = time.monotonic() - t0
            gen.kill()
            gen.wait()
            p.flush(30)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(got) < len(sent):
                time.sleep(0.1)
            done.set()
            rt.join(5)
            m.terminate()
            m.wait(timeout=30)
        bl.delete_topics(bootstrap, [topic, out])
    finally:
        broker.stop()
    for i, ts in sent.items():
        if i in got and i != 999999:
            lat.append(got[i] - ts)
    over = sum(1 for x in lat if x > 10) / len(lat) if lat else 0
    rate = n / elapsed if elapsed else 0
    res = {"contender": a.contender, "target_rate": round(a.rate), "rate": round(rate),
           "seconds": round(elapsed, 1), "probes": len(sent), "signals": len(lat),
           "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
           "p999_ms": percentile(lat, 99.9), "max_ms": max(lat) if lat else None,
           "share_over_10ms": round(over, 4),
           "machine": info}
    print(f"latency ({a.contender}): {n} events at {rate:.0f}/s (target {a.rate:.0f}) for "
          f"{elapsed:.1f} s, linger.ms=5; {len(lat)} of {len(sent)} probes signalled")
    print(f"  event append -> signal append: p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, "
          f"p99.9 {res['p999_ms']} ms, max {res['max_ms']} ms; {100 * over:.1f}% over 10 ms")
    if a.json:
        with open(a.json, "a", encoding="utf-8") as f:
            f.write(bl.dump(dict(res, bench="latency")) + "\n")
    if not lat or len(lat) < 0.99 * len(sent):
        print("latency: probes without a signal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
