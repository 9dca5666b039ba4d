#!/usr/bin/python3
"""ref_consumer.py: the reference consumer postured is compared with (issue 10).

What a team would write instead of postured, in plain Python with Debian's
python3-confluent-kafka and the standard json module: consume the input topic, decode every
message, keep the (resource, control) pair statuses and the per-resource, per-goal counters of
the coverage goals of the shipped goal pack, and produce the same drift signals
(control.regressed / control.recovered per resource, goal.breached / goal.restored per goal)
to an output topic, at least once (offsets are committed only after the producer has flushed
the signals they caused).

It does a subset of postured's work (coverage goals only: no sla/control/score/compliance
goals, no correlation rules, no stale timers), which favours Python in the comparison.

  ref_consumer.py --bootstrap HOST:PORT --topic T [--out-topic O] [--group G]
  ref_consumer.py --file FILE.jsonl            (no Kafka: same work over a file; prints
                                                the signals and the final goal values, so a
                                                test can compare them with postured replay)

Ends when every partition of the topic has reached its end (like kcat -e) and prints one
JSON line of counters on stderr.
"""
import argparse
import hashlib
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOALS = os.path.join(ROOT, "pipelines", "defender-servers.goals.yaml")
CONTROLS = os.path.join(ROOT, "pipelines", "controls.yaml")

ASSESSMENTS = "microsoft.security/assessments"
SEP = "/providers/microsoft.security/assessments/"


def load_goals(path, controls_path):
    """The coverage goals of the goal pack: id, title, severity, key set (listed keys, plus
    the keys whose category or roles in the control table match a `category:` selector),
    scope types, target and hysteresis (percent). Needs PyYAML (python3-yaml)."""
    import yaml  # pylint: disable=import-outside-toplevel

    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    with open(controls_path, encoding="utf-8") as f:
        table = yaml.safe_load(f)["controls"]
    by_role = {}
    for c in table:
        for r in set(c.get("roles") or []) | {c.get("category")}:
            by_role.setdefault(r, set()).add(str(c["key"]).lower())
    out = []
    for g in doc["goals"]:
        if g.get("kind") != "coverage":
            continue
        keys = {c["key"].lower() for c in g.get("controls", []) if "key" in c}
        for c in g.get("controls", []):
            if "category" in c:
                keys |= by_role.get(c["category"], set())
        types = {t.lower() for t in (g.get("scope") or {}).get("resource_types", [])}
        target = float(str(g["target"]).replace(">=", "").replace("%", "").strip())
        hyst = float(str(g.get("hysteresis", "0")).replace("%", "").strip() or 0)
        out.append(
            {
                "id": g["id"],
                "title": g.get("title", ""),
                "severity": g.get("severity", "medium"),
                "keys": keys,
                "types": types,
                "target": target,
                "target_text": g["target"],
                "hysteresis": hyst,
            }
        )
    return out


def resource_type(rid):
    """microsoft.compute/virtualmachines from a canonical ARM id."""
    i = rid.rfind("/providers/")
    if i < 0:
        return ""
    parts = rid[i + 11 :].split("/")
    return parts[0] + "/" + parts[1] if len(parts) >= 3 else ""


BAD, UNKNOWN, HEALTHY, NA, NONE = 0, 1, 2, 3, 4


class Engine:
    """Pair statuses and per-goal coverage counters, updated per event (no rescans)."""

    def __init__(self, goals, emit):
        self.goals = goals
        self.emit = emit
        self.by_key = {}
        for gi, g in enumerate(goals):
            for k in g["keys"]:
                self.by_key.setdefault(k, []).append(gi)
        self.pairs = {}  # (rid, key) -> status
        self.rg = {}  # (rid, gi) -> [unh, unk, hea, na]
        self.in_scope = [0] * len(goals)
        self.known = {}  # rid -> set of goal indexes in scope
        self.bad = [0] * len(goals)
        self.healthy = [0] * len(goals)
        self.na = [0] * len(goals)
        self.met = [True] * len(goals)
        self.events = 0
        self.signals = 0

    @staticmethod
    def state(c):
        if c[0]:
            return BAD
        if c[1]:
            return UNKNOWN
        if c[2]:
            return HEALTHY
        if c[3]:
            return NA
        return NONE

    def count(self, gi, st, sign):
        if st == BAD:
            self.bad[gi] += sign
        elif st == HEALTHY:
            self.healthy[gi] += sign
        elif st == NA:
            self.na[gi] += sign

    def value(self, gi):
        den = self.in_scope[gi] - self.na[gi]
        return 100.0 * self.healthy[gi] / den if den > 0 else 0.0

    def signal(self, typ, g, rid, key, when, extra):
        sid = hashlib.sha1(f"{typ}|{g['id']}|{rid}|{key}|{when}".encode()).hexdigest()[:32]
        s = {
            "signal": "drift",
            "type": typ,
            "id": sid,
            "time": when,
            "severity": g["severity"],
            "goal": {
                "id": g["id"],
                "title": g["title"],
                "kind": "coverage",
                "value": round(extra, 2),
                "target": g["target_text"],
                "met": typ != "goal.breached" and typ != "control.regressed",
            },
            "evidence": [{"kind": "resource", "id": rid, "detail": key, "time": when}],
            "pipeline": "servers",
        }
        if typ.startswith("control."):
            s["resource"] = {"id": rid, "type": resource_type(rid)}
            s["control"] = {"key": key}
        self.signals += 1
        self.emit(rid, s)

    def apply(self, rid, key, status, when):
        self.events += 1
        goals = self.by_key.get(key)
        if goals is None:
            return
        rtype = resource_type(rid)
        scoped = self.known.get(rid)
        if scoped is None:
            scoped = {gi for gi, g in enumerate(self.goals) if not g["types"] or rtype in g["types"]}
            self.known[rid] = scoped
            for gi in scoped:
                self.in_scope[gi] += 1
        old = self.pairs.get((rid, key))
        if old == status:
            return  # a duplicate or a refresh changes nothing
        if status is None:
            self.pairs.pop((rid, key), None)
        else:
            self.pairs[(rid, key)] = status
        slots = {"Healthy": 2, "Unhealthy": 0, "NotApplicable": 3}
        # Per pair: the first observation is the baseline; a change between unhealthy and
        # not unhealthy is a control.regressed / control.recovered for each goal it counts in.
        flip = old is not None and status is not None and (old == "Unhealthy") != (status == "Unhealthy")
        for gi in goals:
            if gi not in scoped:
                continue
            c = self.rg.get((rid, gi))
            if c is None:
                c = self.rg[(rid, gi)] = [0, 0, 0, 0]
            before = self.state(c)
            if old is not None:
                c[slots.get(old, 1)] -= 1
            if status is not None:
                c[slots.get(status, 1)] += 1
            after = self.state(c)
            if flip:
                typ = "control.regressed" if status == "Unhealthy" else "control.recovered"
                self.signal(typ, self.goals[gi], rid, key, when, self.value(gi))
            if before == after:
                continue
            self.count(gi, before, -1)
            self.count(gi, after, +1)
            g = self.goals[gi]
            v = self.value(gi)
            if self.met[gi] and v < g["target"]:
                self.met[gi] = False
                self.signal("goal.breached", g, rid, key, when, v)
            elif not self.met[gi] and v >= g["target"] + g["hysteresis"]:
                self.met[gi] = True
                self.signal("goal.restored", g, rid, key, when, v)


def decode(raw, engine):
    """json.loads the whole message (a DOM, as a Python team would), then pick the fields."""
    d = json.loads(raw)
    items = d if isinstance(d, list) else d.get("records", [d]) if isinstance(d, dict) else []
    for e in items:
        if not isinstance(e, dict):
            continue
        typ = e.get("type") or e.get("Type") or ""
        if typ.lower() != ASSESSMENTS:
            engine.events += 1  # decoded, but no coverage goal counts it
            continue
        props = e.get("properties") or {}
        rd = props.get("resourceDetails") or {}
        rid = (rd.get("Id") or rd.get("id") or "").lower()
        aid = (e.get("id") or "").lower()
        if not rid and SEP in aid:
            rid = aid.split(SEP)[0]
        key = (e.get("name") or "").lower()
        st = props.get("status") or {}
        action = (e.get("assessmentEventDataEnrichment") or {}).get("action", "")
        when = st.get("statusChangeDate") or st.get("firstEvaluationDate") or ""
        status = None if action == "Delete" else st.get("code")
        engine.apply(rid, key, status, when)


def run_file(path, goals):
    out = sys.stdout

    def emit(_rid, s):
        out.write(json.dumps(s, separators=(",", ":")) + "\n")

    eng = Engine(goals, emit)
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if line:
                decode(line, eng)
    for gi, g in enumerate(goals):
        print(
            f"goal {g['id']} {eng.value(gi):.2f} {eng.healthy[gi]}/{eng.in_scope[gi] - eng.na[gi]}",
            file=sys.stderr,
        )
    return eng


def commit(consumer, asynchronous):
    from confluent_kafka import KafkaError, KafkaException  # pylint: disable=import-outside-toplevel

    try:
        consumer.commit(asynchronous=asynchronous)
    except KafkaException as e:
        if e.args[0].code() != KafkaError._NO_OFFSET:  # pylint: disable=protected-access
            raise  # nothing new to commit is fine


def run_kafka(a, goals):
    from confluent_kafka import Consumer, KafkaError, Producer  # pylint: disable=import-outside-toplevel

    t0 = time.monotonic()
    producer = Producer(
        {"bootstrap.servers": a.bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    consumer = Consumer(
        {
            "bootstrap.servers": a.bootstrap,
            "group.id": a.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )
    nparts = len(consumer.list_topics(a.topic, timeout=10).topics[a.topic].partitions)

    def emit(rid, s):
        while True:
            try:
                producer.produce(a.out_topic, json.dumps(s, separators=(",", ":")), rid)
                return
            except BufferError:
                producer.poll(0.05)

    eng = Engine(goals, emit)
    consumer.subscribe([a.topic])
    eof = set()
    errors = 0
    last_commit = time.monotonic()
    stop = []
    if a.follow:
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    # Following a live stream, wait at most 5 ms for a batch (latency); else 0.5 s.
    wait = 0.005 if a.follow else 0.5
    while not stop and (a.follow or len(eof) < nparts):
        msgs = consumer.consume(1000, wait)
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:  # pylint: disable=protected-access
                    eof.add(m.partition())
                else:
                    errors += 1
                continue
            eof.discard(m.partition())
            try:
                decode(m.value(), eng)
            except (ValueError, KeyError, TypeError, AttributeError):
                errors += 1  # would go to the dead-letter topic
        producer.poll(0)
        now = time.monotonic()
        if now - last_commit >= 1.0:
            producer.flush()  # at least once: signals delivered before their offsets commit
            commit(consumer, True)
            last_commit = now
    producer.flush()
    commit(consumer, False)
    consumer.close()
    print(
        json.dumps(
            {
                "events": eng.events,
                "signals": eng.signals,
                "errors": errors,
                "seconds": round(time.monotonic() - t0, 3),
                "goals": {g["id"]: round(eng.value(gi), 2) for gi, g in enumerate(goals)},
            }
        ),
        file=sys.stderr,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bootstrap")
    p.add_argument("--topic")
    p.add_argument("--out-topic", default="ref-drift")
    p.add_argument("--group", default="ref-consumer")
    p.add_argument("--goals", default=GOALS)
    p.add_argument("--controls", default=CONTROLS)
    p.add_argument("--file")
    p.add_argument("--follow", action="store_true", help="do not stop at the end; SIGTERM stops")
    a = p.parse_args()
    goals = load_goals(a.goals, a.controls)
    if a.file:
        run_file(a.file, goals)
    elif a.bootstrap and a.topic:
        run_kafka(a, goals)
    else:
        p.error("give --file, or --bootstrap and --topic")


if __name__ == "__main__":
    main()
