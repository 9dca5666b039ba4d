#!/usr/bin/env python3
"""Schema checks for postured: every schema is a valid draft 2020-12 schema; what the sinks
emit (native signals, OCSF findings, digests, msgpack) validates; the shared samples validate
against the input schemas; the pipeline, goal and rule files validate; the signals of a
replayed generator stream (every drift and breach type the engines emit for it) validate, and
so do their OCSF findings. Negative cases prove each schema can fail.
Exit 77 (skip) when python3-jsonschema is missing."""
import argparse
import copy
import glob
import json
import os
import subprocess
import sys
import tempfile

try:
    import jsonschema
    from referencing import Registry, Resource
except ImportError:  # Debian's python3-jsonschema < 4.18 has no referencing
    print("SKIP: python3-jsonschema (>= 4.18) is not installed")
    sys.exit(77)

failures = []
checked = {"ok": 0}


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def load_schemas(src):
    schemas = {}
    for path in sorted(glob.glob(os.path.join(src, "schemas", "**", "*.json"), recursive=True)):
        with open(path) as f:
            s = json.load(f)
        try:
            jsonschema.Draft202012Validator.check_schema(s)
        except jsonschema.SchemaError as e:
            fail(f"{path}: not a valid schema: {e.message}")
            continue
        rel = os.path.relpath(path, os.path.join(src, "schemas"))
        schemas[rel] = s
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return schemas, registry


def validator(schemas, registry, name):
    return jsonschema.Draft202012Validator(schemas[name], registry=registry,
                                           format_checker=jsonschema.FormatChecker())


def check(v, inst, what):
    errs = sorted(v.iter_errors(inst), key=lambda e: list(e.path))
    if errs:
        e = errs[0]
        fail(f"{what}: {e.message} at /{'/'.join(str(p) for p in e.absolute_path)}")
    else:
        checked["ok"] += 1


def must_fail(v, inst, what):
    if v.is_valid(inst):
        fail(f"negative case passed: {what}")
    else:
        checked["ok"] += 1


def lower_keys(o):
    if isinstance(o, dict):
        return {k.lower(): lower_keys(v) for k, v in o.items()}
    if isinstance(o, list):
        return [lower_keys(v) for v in o]
    return o


DEFENDER = [  # (type suffix, schema), longest first
    ("microsoft.security/assessments/subassessments", "input/defender-subassessment.schema.json"),
    ("microsoft.security/assessments", "input/defender-assessment.schema.json"),
    ("microsoft.security/securescores/securescorecontrols",
     "input/defender-secure-score-control.schema.json"),
    ("microsoft.security/securescores", "input/defender-secure-score.schema.json"),
    ("microsoft.security/regulatorycompliancestandards",
     "input/defender-regulatory-compliance.schema.json"),
    ("microsoft.security/locations/alerts", "input/defender-alert.schema.json"),
]


def defender_schema(msg):
    low = lower_keys(msg)
    t = str(low.get("type", "")).lower()
    for prefix, schema in DEFENDER:
        if t.startswith(prefix):
            return schema, low
    if "systemalertid" in low or "alerttype" in low:
        return "input/defender-alert.schema.json", low
    return None, low


def check_samples(schemas, registry, samples):
    if not samples or not os.path.isdir(samples):
        print("SKIP samples: no PD_SAMPLES_DIR")
        return
    v = {n: validator(schemas, registry, n) for n in schemas}
    seen = set()
    log = os.path.join(samples, "elastic_integrations__test-alert.log")
    if os.path.exists(log):
        for i, line in enumerate(open(log), 1):
            msg = json.loads(line)
            name, low = defender_schema(msg)
            if not name:
                fail(f"{log}:{i}: no Defender schema for type {msg.get('type')}")
                continue
            seen.add(name)
            check(v[name], low, f"{os.path.basename(log)}:{i} vs {name}")
            # negative: without its properties (or alert type) the message must not validate
            bad = copy.deepcopy(low)
            bad.pop("properties", None) if "properties" in bad else bad.pop("alerttype", None)
            must_fail(v[name], bad, f"{os.path.basename(log)}:{i} without its body")
    for pat, name in (("aws-solutions_*.json", "input/asff.schema.json"),
                      ("GoogleCloudPlatform_*.json", "input/scc.schema.json")):
        for path in sorted(glob.glob(os.path.join(samples, pat))):
            msg = json.load(open(path))
            seen.add(name)
            check(v[name], msg, f"{os.path.basename(path)} vs {name}")
    # negatives on the cloud samples: a finding with a wrong severity / no category
    asff = glob.glob(os.path.join(samples, "aws-solutions_*ec2.8.json"))
    if asff:
        bad = json.load(open(asff[0]))
        bad["Severity"] = {"Label": "SCARY"}
        must_fail(v["input/asff.schema.json"], bad, "ASFF with a bad severity label")
    scc = glob.glob(os.path.join(samples, "GoogleCloudPlatform_*open_ssh*.json"))
    if scc:
        bad = json.load(open(scc[0]))
        del bad["finding"]["category"]
        must_fail(v["input/scc.schema.json"], bad, "SCC finding without category")
    print(f"samples: checked against {len(seen)} input schemas")


def check_emitted(schemas, registry, emit):
    v_sig = validator(schemas, registry, "signal.schema.json")
    v_dig = validator(schemas, registry, "digest.schema.json")
    v_ocsf = validator(schemas, registry, "ocsf-finding.schema.json")
    v_in = validator(schemas, registry, "input/ocsf.schema.json")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([emit, d], check=True)
        sigs = [json.loads(l) for l in open(os.path.join(d, "signals.json"))]
        if len(sigs) < 10:
            fail(f"emitter wrote {len(sigs)} native signals")
        for i, s in enumerate(sigs):
            check(v_sig, s, f"native signal {i} ({s.get('type')})")
        kinds = {s["signal"] for s in sigs}
        if kinds != {"drift", "breach"}:
            fail(f"emitted kinds {kinds}")
        ocsf = [json.loads(l) for l in open(os.path.join(d, "signals.ocsf"))]
        if len(ocsf) != len(sigs):
            fail("OCSF and native counts differ")
        for i, o in enumerate(ocsf):
            check(v_ocsf, o, f"OCSF finding {i} ({o.get('class_uid')})")
            check(v_in, o, f"OCSF finding {i} as postured input")
            if o["finding_info"]["uid"] != sigs[i]["id"]:
                fail(f"OCSF finding {i}: uid is not the signal id")
            want = 2003 if sigs[i]["signal"] == "drift" else 2004
            if o["class_uid"] != want:
                fail(f"OCSF finding {i}: class_uid {o['class_uid']}, want {want}")
        digests = [json.loads(l) for l in open(os.path.join(d, "digests.json"))]
        dl = [x for x in digests if x.get("signal") == "digest"]
        # 5 x 2 groups through a limit of 1: one passes, the other 9 are summarized
        if len(dl) != 2 or sum(x["count"] for x in dl) != 2 * 5 - 1:
            fail(f"digests: {len(dl)} digests counting {sum(x.get('count', 0) for x in dl)}, "
                 "want 2 counting 9")
        for x in digests:
            check(v_dig if x.get("signal") == "digest" else v_sig, x, f"digest file line {x.get('type')}")
        try:
            import msgpack
            with open(os.path.join(d, "signals.msgpack"), "rb") as f:
                mp = list(msgpack.Unpacker(f, raw=False))
            if mp != sigs:
                fail("msgpack objects differ from the native JSON")
            checked["ok"] += 1
        except ImportError:
            print("SKIP msgpack comparison: python3-msgpack not installed")
    # negatives on the signal contract
    good = copy.deepcopy(sigs[0])
    for mutate, what in ((lambda s: s.pop("evidence"), "no evidence"),
                         (lambda s: s.update(severity="scary"), "bad severity"),
                         (lambda s: s.update(id="xyz"), "bad id"),
                         (lambda s: s.update(time="2024-01-01"), "bad time"),
                         (lambda s: s.update(extra=1), "unknown field"),
                         (lambda s: s["goal"].pop("met"), "goal without met")):
        bad = copy.deepcopy(good)
        mutate(bad)
        must_fail(v_sig, bad, f"native signal with {what}")
    bad = copy.deepcopy(ocsf[0])
    del bad["compliance"]["standards"]
    must_fail(v_ocsf, bad, "compliance finding without standards")


def check_files(schemas, registry, src):
    try:
        import yaml
    except ImportError:
        print("SKIP pipeline files: python3-yaml not installed")
        return
    v = {k: validator(schemas, registry, f"{k}.schema.json") for k in ("goals", "rules", "pipeline")}
    n = 0
    for path in sorted(glob.glob(os.path.join(src, "pipelines", "**", "*.y*ml"), recursive=True)):
        doc = yaml.safe_load(open(path))
        if not isinstance(doc, dict):
            continue
        for key in ("goals", "rules", "pipeline"):
            if key in doc:
                check(v[key], doc, os.path.relpath(path, src))
                n += 1
                break
    bad = {"rules": [{"id": "x", "title": "t", "type": "event_count", "timespan": "1h",
                      "condition": {"gte": 1}, "severity": "high", "colour": "red"}]}
    must_fail(v["rules"], bad, "rule with an unknown key")
    bad = {"pipeline": {"name": "p", "sinks": [{"type": "webhook", "preset": "splunk",
                                                "url": "https://h/"}]}}
    must_fail(v["pipeline"], bad, "splunk sink without token_env")
    print(f"pipeline files: {n} checked")


def check_replay(schemas, registry, src, bin_, emit):
    """Real signals: the generator's stream with scripted incidents, replayed through test
    goals and the built-in rules; every signal validates, then the same signals go through
    the sinks again (read back from the native JSON) as native, OCSF and msgpack."""
    if not bin_ or not os.path.exists(bin_):
        print("SKIP replay: no postured binary")
        return
    goals = os.path.join(src, "tests", "sinks", "goals.yaml")
    rules = os.path.join(src, "pipelines", "rules", "builtin.yaml")
    controls = os.path.join(src, "pipelines", "controls.yaml")
    v_sig = validator(schemas, registry, "signal.schema.json")
    v_ocsf = validator(schemas, registry, "ocsf-finding.schema.json")
    v_in = validator(schemas, registry, "input/ocsf.schema.json")
    with tempfile.TemporaryDirectory() as d:
        stream = os.path.join(d, "stream.jsonl")
        with open(stream, "w") as f:
            subprocess.run([bin_, "gen", "--seed", "7", "--servers", "40", "--days", "3",
                            "--mix", "all", "--controls", controls], stdout=f, check=True)
        # the shipped pipeline's goal pack, when there is one: its signals validate too
        default = os.path.join(src, "pipelines", "default.yaml")
        if os.path.exists(default):
            out = subprocess.run([bin_, "replay", "--quiet", "-p", default, stream],
                                 capture_output=True, text=True, cwd=src)
            if out.returncode != 0:
                fail(f"replay -p default.yaml failed ({out.returncode}): {out.stderr[-500:]}")
            n = 0
            for i, l in enumerate(out.stdout.splitlines()):
                if l.strip():
                    check(v_sig, json.loads(l), f"default pipeline signal {i}")
                    n += 1
            print(f"replay -p pipelines/default.yaml: {n} signals validated")
        args = [bin_, "replay", "--quiet", "--goals", goals, "--controls", controls]
        if os.path.exists(rules):
            args += ["--rules", rules]
        out = subprocess.run(args + [stream], capture_output=True, text=True, cwd=src)
        if out.returncode != 0:
            fail(f"replay failed ({out.returncode}): {out.stderr[-500:]}")
            return
        lines = [l for l in out.stdout.splitlines() if l.strip()]
        sigs = [json.loads(l) for l in lines]
        types = set()
        for i, sig in enumerate(sigs):
            check(v_sig, sig, f"replayed signal {i} ({sig.get('type')})")
            types.add((sig.get("signal"), sig.get("type")))
        kinds = {k for k, _ in types}
        if kinds != {"drift", "breach"}:
            fail(f"replay gave signal kinds {kinds}, want drift and breach")
        print(f"replay: {len(sigs)} signals of {len(types)} types validated")
        native = os.path.join(d, "signals.jsonl")
        with open(native, "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run([emit, d, native], check=True)
        with open(os.path.join(d, "replay.json")) as f:
            if f.read() != open(native).read():
                fail("native JSON read back and written by the file sink differs from replay's")
            else:
                checked["ok"] += 1
        ocsf = [json.loads(l) for l in open(os.path.join(d, "replay.ocsf"))]
        if len(ocsf) != len(sigs):
            fail(f"{len(ocsf)} OCSF findings for {len(sigs)} signals")
        for i, o in enumerate(ocsf):
            check(v_ocsf, o, f"OCSF of replayed signal {i} ({sigs[i].get('type')})")
            check(v_in, o, f"OCSF of replayed signal {i} as postured input")
            if o["finding_info"]["uid"] != sigs[i]["id"]:
                fail(f"OCSF of replayed signal {i}: uid is not the signal id")
        # interop: postured reads its own OCSF output back (chained instances, or a SIEM
        # that forwards findings): one event per finding, detections as alerts
        dec = subprocess.run([bin_, "decode", "--lines", os.path.join(d, "replay.ocsf")],
                             capture_output=True, text=True)
        events = [json.loads(l) for l in dec.stdout.splitlines() if l.strip()]
        if dec.returncode != 0 or len(events) != len(ocsf):
            fail(f"postured decode read {len(events)} events from {len(ocsf)} OCSF findings "
                 f"(rc {dec.returncode}): {dec.stderr[-300:]}")
        else:
            for i, (o, e) in enumerate(zip(ocsf, events)):
                if (o["class_uid"] == 2004) != (e.get("kind") == "alert"):
                    fail(f"OCSF finding {i} (class {o['class_uid']}) decoded as {e.get('kind')}")
            checked["ok"] += 1
        try:
            import msgpack
            with open(os.path.join(d, "replay.msgpack"), "rb") as f:
                if list(msgpack.Unpacker(f, raw=False)) != sigs:
                    fail("msgpack of replayed signals differs from the native JSON")
                else:
                    checked["ok"] += 1
        except ImportError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emit", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--samples")
    ap.add_argument("--bin")
    a = ap.parse_args()
    schemas, registry = load_schemas(a.source)
    check_emitted(schemas, registry, a.emit)
    check_samples(schemas, registry, a.samples or os.environ.get("PD_SAMPLES_DIR"))
    check_files(schemas, registry, a.source)
    check_replay(schemas, registry, a.source, a.bin or os.environ.get("PD_BIN"), a.emit)
    print(f"{checked['ok']} checks passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
