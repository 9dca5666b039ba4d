"""Shared helpers of the tests/bench scripts: the machine, medians, a broker from the
tests/kafka harness, child processes measured with their CPU time (wait4 rusage)."""
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BROKER_SH = os.path.join(ROOT, "tests", "kafka", "broker.sh")
PYTHON = "/usr/bin/python3"  # Debian's, where python3-confluent-kafka lives


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0]
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "load1": round(load, 2),
    }


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def find_bin(arg):
    for b in (arg, os.environ.get("PD_BIN"), os.path.join(ROOT, "build", "postured")):
        if b and os.access(b, os.X_OK):
            return os.path.abspath(b)
    sys.exit("no postured binary: build it or give --bin")


class Measured:
    """A child process; wall time from spawn, CPU seconds (user+sys, all threads) from
    wait4's rusage when it ends."""

    def __init__(self, argv, stdout=subprocess.DEVNULL, stderr=None, env=None):
        self.argv = argv
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env)
        self.t_done = None
        self.cpu = None
        self.status = None

    def done(self):
        """Marks the moment the work was complete (for daemons that do not exit by
        themselves); wait() still collects the CPU until exit."""
        if self.t_done is None:
            self.t_done = time.monotonic()

    def terminate(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(self.p.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.monotonic() > deadline:
                self.p.kill()
                pid, status, ru = os.wait4(self.p.pid, 0)
                break
            time.sleep(0.01)
        self.done()
        self.p.returncode = os.waitstatus_to_exitcode(status)
        self.status = self.p.returncode
        self.cpu = ru.ru_utime + ru.ru_stime
        return self.status

    @property
    def wall(self):
        return (self.t_done or time.monotonic()) - self.t0


class Broker:
    """A broker: PD_KAFKA_BOOTSTRAP when set (the ctest fixture), else one started with
    tests/kafka/broker.sh in STATE and stopped by stop()."""

    def __init__(self, state):
        self.state = os.path.abspath(state)
        self.started = False
        self.bootstrap = os.environ.get("PD_KAFKA_BOOTSTRAP")

    def start(self):
        if self.bootstrap:
            return self.bootstrap
        env = dict(os.environ, PD_KAFKA_WATCH_PID=str(os.getpid()))
        # Other processes on a shared machine can take a port between broker.sh's check and
        # the broker's bind: try again with fresh ports.
        for _ in range(3):
            r = subprocess.run(["bash", BROKER_SH, "start", self.state], env=env, check=False)
            if r.returncode == 0:
                break
        else:
            sys.exit("bench: the broker did not start (tests/kafka/broker.sh)")
        self.started = True
        with open(os.path.join(self.state, "env"), encoding="utf-8") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k == "PD_KAFKA_BOOTSTRAP":
                    self.bootstrap = v
        return self.bootstrap

    def stop(self):
        if self.started:
            subprocess.run(["bash", BROKER_SH, "stop", self.state], check=False,
                           stdout=subprocess.DEVNULL)
            self.started = False


def create_topic(bootstrap, name, partitions, config=None):
    from confluent_kafka.admin import AdminClient, NewTopic  # pylint: disable=import-outside-toplevel

    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
    for _, f in fs.items():
        try:
            f.result()
        except Exception as e:  # pylint: disable=broad-except
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def delete_topics(bootstrap, names):
    from confluent_kafka.admin import AdminClient  # pylint: disable=import-outside-toplevel

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, f in admin.delete_topics(list(names)).items():
        try:
            f.result()
        except Exception:  # pylint: disable=broad-except
            pass


def end_offsets(bootstrap, topic):
    """{partition: high watermark}."""
    from confluent_kafka import Consumer, TopicPartition  # pylint: disable=import-outside-toplevel

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    md = c.list_topics(topic, timeout=10)
    out = {}
    for p in md.topics[topic].partitions:
        out[p] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
    c.close()
    return out


def has_kcat():
    return shutil.which("kcat") is not None


def dump(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)
