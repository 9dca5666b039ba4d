#!/usr/bin/python3
"""e2e.py: end-to-end throughput from a real Kafka broker (issue 10, item 3).

One topic of N generated events (`postured gen --key`, keyed by resource id, 12
partitions), then per round, in rotating order, each contender reads the whole topic:

  kcat        kcat -C -e -o beginning -q: the ceiling, no work done
  postured    postured run, at least once (done when its group's committed offsets reach
              the end of every partition; then SIGTERM)
  postured-eos  postured run with state.exactly_once=true, when the build has it
  python      tests/bench/ref_consumer.py: confluent-kafka + json doing the coverage goal
              work and producing the signals, at least once

For each: events/s (wall time from spawn to done, start-up and group join included) and
CPU-seconds per million events (user+sys of the process and all its threads, wait4 rusage).
Medians over the rounds; ratios against kcat and against python.

  e2e.py [--events 1000000] [--runs 5] [--quick] [--bin build/postured] [--json FILE]

The broker: PD_KAFKA_BOOTSTRAP when set (ctest's kafka fixture), else tests/kafka/broker.sh
starts one for the run and stops it at the end. Exit 0 when every available contender
processed the whole topic.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  pylint: disable=wrong-import-position

PARTITIONS = 12


def produce(bin_, bootstrap, topic, events, seed, servers):
    """gen --key | kcat -P: keyed messages, key = canonical resource id."""
    gen = subprocess.Popen(
        [bin_, "gen", "--seed", str(seed), "--events", str(events), "--key", "--servers",
         str(servers), "--days", "0"],
        stdout=subprocess.PIPE,
    )
    t0 = time.monotonic()
    kc = subprocess.run(
        ["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-X", "linger.ms=20",
         "-X", "batch.num.messages=10000", "-X", "queue.buffering.max.kbytes=262144"],
        stdin=gen.stdout, check=False,
    )
    gen.stdout.close()
    gen.wait()
    dt = time.monotonic() - t0
    if kc.returncode or gen.returncode:
        sys.exit("e2e: producing the topic failed")
    n = sum(bl.end_offsets(bootstrap, topic).values())
    if n != events:
        sys.exit(f"e2e: the topic holds {n} messages, expected {events}")
    return dt


def run_available(bin_):
    r = subprocess.run([bin_, "run", "--help"], capture_output=True, text=True, check=False)
    text = r.stdout + r.stderr
    if "not implemented" in text:
        return False, False
    # Exactly-once: `run --help` must say it does it (a config option alone, or a
    # transactional producer linked in but not wired into `run`, does not make it so);
    # PD_BENCH_EOS=1 forces it.
    eos = "exactly" in text.lower() or os.environ.get("PD_BENCH_EOS") == "1"
    return True, eos


def write_pipeline(d, bootstrap, topic, group, eos):
    p = os.path.join(d, f"{group}.yaml")
    pl = os.path.join(bl.ROOT, "pipelines")
    with open(p, "w", encoding="utf-8") as f:
        f.write(f"""pipeline:
  name: servers
  goals: [{pl}/defender-servers.goals.yaml]
  rules: [{pl}/rules/builtin.yaml]
  controls: {pl}/controls.yaml
  inputs:
    - {{topic: {topic}, format: auto}}
  consumer_group: {group}
  outputs:
    drift: bench-drift
    breach: bench-breach
    status: bench-goal-status
    dead_letter: bench-dead-letter
  kafka:
    bootstrap.servers: "{bootstrap}"
""")
    return p


def committed_total(bootstrap, group, topic, parts):
    from confluent_kafka import Consumer, TopicPartition  # pylint: disable=import-outside-toplevel

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in parts], timeout=5)
        return sum(max(tp.offset, 0) for tp in got)
    except Exception:  # pylint: disable=broad-except
        return 0
    finally:
        c.close()


def run_postured(bin_, bootstrap, topic, events, tmp, group, eos, timeout):
    pipeline = write_pipeline(tmp, bootstrap, topic, group, eos)
    env = dict(os.environ, POSTURED_HTTP_LISTEN="", POSTURED_LOG_LEVEL="warn",
               POSTURED_STATE_DIR=os.path.join(tmp, group + ".state"))
    if eos:
        env["POSTURED_STATE_EXACTLY_ONCE"] = "true"
    tmpl = os.environ.get("PD_BENCH_RUN_CMD", "{bin} run -p {pipeline}")
    argv = tmpl.format(bin=bin_, pipeline=pipeline, bootstrap=bootstrap, group=group).split()
    errf = open(os.path.join(tmp, group + ".err"), "w+b")  # pylint: disable=consider-using-with
    m = bl.Measured(argv, stdout=subprocess.DEVNULL, stderr=errf, env=env)
    parts = range(PARTITIONS)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and m.p.poll() is None:
        if committed_total(bootstrap, group, topic, parts) >= events:
            m.done()
            break
        time.sleep(0.2)
    ok = m.t_done is not None
    m.terminate()
    m.wait(timeout=30)
    errf.seek(0)
    err = errf.read().decode(errors="replace")
    errf.close()
    mm = re.search(r"(\d+) drift and (\d+) breach signals", err)
    m.signals = int(mm.group(1)) + int(mm.group(2)) if mm else None
    if not ok:
        sys.stderr.write(err[-2000:])
    return m, ok


def run_kcat(bootstrap, topic, events, timeout):
    m = bl.Measured(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                     "-q"], stdout=subprocess.DEVNULL)
    rc = m.wait(timeout=timeout)
    return m, rc == 0


def run_python(bootstrap, topic, events, group, timeout):
    m = bl.Measured([bl.PYTHON, os.path.join(bl.HERE, "ref_consumer.py"), "--bootstrap",
                     bootstrap, "--topic", topic, "--group", group, "--out-topic",
                     "bench-ref-drift"], stderr=subprocess.PIPE)
    rc = m.wait(timeout=timeout)
    err = m.p.stderr.read().decode(errors="replace")
    ok = False
    try:
        info = json.loads(err.strip().splitlines()[-1])
        ok = rc == 0 and info.get("events") == events
        m.signals = info.get("signals")
    except (ValueError, IndexError):
        sys.stderr.write(err)
    return m, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--servers", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="20,000 events, 1 run")
    ap.add_argument("--bin")
    ap.add_argument("--only", help="comma-separated contenders")
    ap.add_argument("--json", help="append the result as one JSON line to FILE")
    ap.add_argument("--state", default=os.path.join(bl.ROOT, "build", "bench", "broker"))
    a = ap.parse_args()
    if a.quick:
        a.events, a.runs, a.servers = 20000, 1, 500
    bin_ = bl.find_bin(a.bin)
    if not bl.has_kcat():
        sys.exit("e2e: kcat not installed (apt-get install kcat)")
    run_ok, eos_ok = run_available(bin_)
    contenders = ["kcat", "postured", "postured-eos", "python"]
    if a.only:
        contenders = [c for c in contenders if c in a.only.split(",")]
    unavailable = {}
    if not run_ok:
        unavailable["postured"] = unavailable["postured-eos"] = "postured run is not implemented in this build"
    elif not eos_ok:
        unavailable["postured-eos"] = ("`postured run` does not do exactly-once in this build "
                                       "(its --help says at least once; issue 8)")
    active = [c for c in contenders if c not in unavailable]

    broker = bl.Broker(a.state)
    info = bl.machine()
    results = {c: {"rate": [], "cpu_per_m": [], "wall": []} for c in active}
    failures = []
    timeout = max(120, a.events / 2000)
    try:
        bootstrap = broker.start()
        topic = f"bench-e2e-{a.events}-{os.getpid()}"
        bl.create_topic(bootstrap, topic, PARTITIONS)
        prod_s = produce(bin_, bootstrap, topic, a.events, a.seed, a.servers)
        print(f"e2e: {a.events} events on {topic} ({PARTITIONS} partitions) produced in "
              f"{prod_s:.1f} s; {a.runs} rounds of {', '.join(active)}", flush=True)
        with tempfile.TemporaryDirectory(prefix="pd-e2e.") as tmp:
            for r in range(a.runs):
                order = active[r % len(active):] + active[:r % len(active)]
                for c in order:
                    group = f"bench-{c}-{os.getpid()}-{r}"
                    if c == "kcat":
                        m, ok = run_kcat(bootstrap, topic, a.events, timeout)
                    elif c == "python":
                        m, ok = run_python(bootstrap, topic, a.events, group, timeout)
                    else:
                        m, ok = run_postured(bin_, bootstrap, topic, a.events, tmp, group,
                                             c == "postured-eos", timeout)
                    if not ok:
                        failures.append(f"{c} round {r + 1} (exit {m.status})")
                        print(f"  round {r + 1} {c:13s} FAILED (exit {m.status})", flush=True)
                        continue
                    rate = a.events / m.wall
                    cpm = m.cpu * 1e6 / a.events
                    results[c]["rate"].append(rate)
                    results[c]["cpu_per_m"].append(cpm)
                    results[c]["wall"].append(m.wall)
                    print(f"  round {r + 1} {c:13s} {m.wall:7.2f} s {rate:10.0f} events/s "
                          f"{m.cpu:7.2f} CPU-s {cpm:7.2f} CPU-s/M  (load {os.getloadavg()[0]:.1f})"
                          + (f" {m.signals} signals" if getattr(m, "signals", None) is not None else ""),
                          flush=True)
        delete_topic = [topic, "bench-ref-drift", "bench-drift", "bench-breach",
                        "bench-goal-status", "bench-dead-letter"]
        bl.delete_topics(bootstrap, delete_topic)
    finally:
        broker.stop()

    # events per CPU-second: what one core would sustain, robust to other load on the box
    summary = {c: {"events_per_s": round(bl.median(v["rate"])),
                   "cpu_s_per_million": round(bl.median(v["cpu_per_m"]), 2),
                   "events_per_cpu_s": round(1e6 / bl.median(v["cpu_per_m"])),
                   "runs": len(v["rate"])} for c, v in results.items() if v["rate"]}
    print(f"\ne2e medians ({a.events} events, {a.runs} rounds, {info['nproc']} x {info['cpu']}, "
          f"{info['date']}, load {info['load1']}):")
    print(f"  {'contender':13s} {'events/s':>10s} {'CPU-s/M':>9s} {'events/CPU-s':>13s}")
    for c, s in summary.items():
        print(f"  {c:13s} {s['events_per_s']:10d} {s['cpu_s_per_million']:9.2f} "
              f"{s['events_per_cpu_s']:13d}")
    for c, why in unavailable.items():
        if c in contenders:
            print(f"  {c:13s} not available: {why}")
    ratios = {}
    for c in ("postured", "postured-eos"):
        if c in summary:
            s = summary[c]
            if "kcat" in summary:
                ratios[f"{c}/kcat events/s"] = s["events_per_s"] / summary["kcat"]["events_per_s"]
            if "python" in summary:
                ratios[f"{c}/python events/s"] = s["events_per_s"] / summary["python"]["events_per_s"]
                ratios[f"{c}/python events/CPU-s"] = s["events_per_cpu_s"] / summary["python"]["events_per_cpu_s"]
                ratios[f"{c}/python CPU-s/M"] = s["cpu_s_per_million"] / summary["python"]["cpu_s_per_million"]
    if "python" in summary and "kcat" in summary:
        ratios["python/kcat events/s"] = summary["python"]["events_per_s"] / summary["kcat"]["events_per_s"]
    for k, v in ratios.items():
        print(f"  ratio {k}: {v:.2f}")
    if a.json:
        with open(a.json, "a", encoding="utf-8") as f:
            f.write(bl.dump({"bench": "e2e", "events": a.events, "runs": a.runs,
                             "machine": info, "median": summary,
                             "ratios": {k: round(v, 3) for k, v in ratios.items()},
                             "unavailable": unavailable, "failures": failures}) + "\n")
    if failures:
        print("e2e: failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
