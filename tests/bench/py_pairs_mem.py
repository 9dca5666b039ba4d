#!/usr/bin/python3
"""py_pairs_mem.py: bytes per tracked (resource, control) pair for the Python reference
consumer's state (tests/bench/ref_consumer.py: a dict keyed by (resource id, control key)
holding the status string; resource ids and keys shared, as interned), by RSS delta.

  py_pairs_mem.py [--pairs 4000000] [--controls 12]
"""
import argparse


def rss_kb():
    with open("/proc/self/statm", encoding="utf-8") as f:
        return int(f.read().split()[1]) * 4


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=4000000)
    ap.add_argument("--controls", type=int, default=12)
    a = ap.parse_args()
    keys = [f"{i:08x}-1e88-47fc-8382-2a80ba848f5d" for i in range(a.controls)]
    statuses = ("Healthy", "Unhealthy", "NotApplicable")
    nres = a.pairs // a.controls
    before = rss_kb()
    pairs = {}
    for r in range(nres):
        rid = (f"/subscriptions/23ad22f5-271d-bc24-08e0-aa25ea740267/resourcegroups/rg-prod-web/"
               f"providers/microsoft.compute/virtualmachines/web-prod-{r:07d}")
        for c, k in enumerate(keys):
            pairs[(rid, k)] = statuses[(r + c) % 3]
    delta = (rss_kb() - before) * 1024
    print(f"python dict state: {len(pairs)} pairs, {delta / len(pairs):.1f} bytes/pair "
          f"(RSS delta {delta / 1e6:.0f} MB, resource ids included)")


if __name__ == "__main__":
    main()
