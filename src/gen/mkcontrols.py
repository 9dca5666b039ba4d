#!/usr/bin/env python3
"""Derives pipelines/controls.yaml (the control mapping table) from the shared samples.

Run once when the samples change; the output is committed, this script documents how:
    python3 src/gen/mkcontrols.py ../shared/samples > pipelines/controls.yaml

Inputs (read, never copied into the repository):
  defender-server-assessments.json   73 Defender for Cloud server recommendations
  aws-solutions_*__afsbp-ec2.*.json  ASFF findings: control id, title, severity
  GoogleCloudPlatform_*.json         SCC findings: category, severity, compliance_standards

Frameworks:
  MCSB:<id>   from mcsbControls (the current MCSB initiative), else from
              mcsbControlsEverInInitiative (the policy was in the initiative once; marked
              mcsb_historic: true). Both are Microsoft's own policy-to-control groupings.
  CIS:<id> / NIST:<id> / PCI:<id> for Defender rows: through the MCSB control's published
              mapping (CIS Controls v8, NIST SP 800-53 r4, PCI-DSS v3.2.1) in MCSB_MAP below,
              only for the MCSB ids whose mapping table was checked; others stay MCSB only.
  For SCC rows the ids come from the finding's own sourceProperties.compliance_standards
  (CIS-GCP = CIS Google Cloud Foundations Benchmark, NIST 800-53, PCI, ISO27001).
  For ASFF rows: AFSBP:<control id> (AWS Foundational Security Best Practices) only.
"""
import glob
import json
import os
import sys

# MCSB v1 control -> (CIS Controls v8, NIST SP 800-53 r4, PCI-DSS v3.2.1), from the
# per-control mapping tables of the Microsoft cloud security benchmark text
# ("CIS Controls v8 ID(s) | NIST SP 800-53 r4 ID(s) | PCI-DSS ID(s) v3.2.1"). Only the rows
# whose table was read while building this (2026-11-28) are listed; every other MCSB id
# (PV-4, PV-5, PV-6, NS-*, LT-*, IM-*, ...) stays MCSB-only until its row is checked.
MCSB_MAP = {
    "AM-2": (["2.5", "2.6", "2.7", "4.8"], ["CM-8", "PM-5"], ["6.3"]),
    "AM-5": (["2.5", "2.6", "2.7", "4.8"], ["CM-8", "CM-7", "CM-10", "CM-11"], ["6.3"]),
    "BR-2": (["11.3"], ["CP-6", "CP-9"], ["3.4"]),
    "DP-3": (["3.10"], ["SC-8"], ["3.5", "3.6", "4.1"]),
    "ES-1": (["13.7"], ["SC-3", "SI-2", "SI-3", "SI-16"], ["11.5"]),
}

ROLES = [
    "edr", "antimalware", "vulnerability_assessment", "vulnerability_findings",
    "system_updates", "baseline", "jit", "management_ports", "network_exposure", "fim",
    "defender_plan", "log_collection", "disk_encryption", "secure_boot", "app_control",
    "backup", "identity", "agent", "arc_onboarding", "secrets", "threat_detection",
    "metadata_service",
]

# (substring of the lowercased display name, category, roles): first match wins.
RULES = [
    ("edr", "endpoint", ["edr"]),
    ("endpoint protection", "endpoint", ["antimalware"]),
    ("exploit guard", "endpoint", ["antimalware"]),
    ("remediated by a vulnerability assessment", "vulnerability", ["vulnerability_findings"]),
    ("vulnerability assessment solution", "vulnerability", ["vulnerability_assessment"]),
    ("vulnerabilities in security configuration", "configuration", ["baseline"]),
    ("vulnerabilit", "vulnerability", ["vulnerability_findings"]),
    ("secret findings", "vulnerability", ["secrets", "vulnerability_findings"]),
    ("just-in-time", "network", ["jit", "management_ports"]),
    ("management ports", "network", ["management_ports"]),
    ("ports closed", "network", ["network_exposure"]),
    ("network security groups", "network", ["network_exposure"]),
    ("network ports", "network", ["network_exposure"]),
    ("ip forwarding", "network", ["network_exposure"]),
    ("adaptive network hardening", "network", ["network_exposure"]),
    ("file integrity monitoring", "monitoring", ["fim"]),
    ("system updates", "updates", ["system_updates"]),
    ("patch compliance", "updates", ["system_updates"]),
    ("configured securely", "configuration", ["baseline"]),
    ("restarted to apply security configuration", "configuration", ["baseline"]),
    ("guest configuration extension", "configuration", ["baseline", "agent"]),
    ("log analytics agent", "monitoring", ["log_collection", "agent"]),
    ("defender for servers should be enabled", "plan", ["defender_plan"]),
    ("ssh keys", "identity", ["identity"]),
    ("secure communication protocols", "data_protection", ["baseline"]),
    ("adaptive application control", "application_control", ["app_control"]),
    ("encrypt", "data_protection", ["disk_encryption"]),
    ("secure boot", "configuration", ["secure_boot"]),
    ("signed and trusted boot", "configuration", ["secure_boot"]),
    ("kernel module signature", "configuration", ["secure_boot"]),
    ("vtpm", "configuration", ["secure_boot"]),
    ("guest attestation", "configuration", ["secure_boot"]),
    ("azure backup", "backup", ["backup"]),
    ("azure resource manager", "inventory", []),
    ("connected to azure arc", "inventory", ["arc_onboarding"]),
    ("arc auto provisioning", "inventory", ["arc_onboarding"]),
    ("managed by aws systems manager", "inventory", ["agent"]),
    ("os config agent", "inventory", ["agent"]),
]

# ASFF controls seen in the samples, plus the EC2/SSM controls the generator emits for AWS
# servers. Titles and severities of the sampled ones come from the sample files; the others
# from the AWS Security Hub controls reference (marked source: aws-docs).
ASFF_EXTRA = [
    ("EC2.9", "Amazon EC2 instances should not have a public IPv4 address", "high",
     "network", ["network_exposure"]),
    ("SSM.1", "Amazon EC2 instances should be managed by AWS Systems Manager", "medium",
     "inventory", ["agent"]),
    ("SSM.2", "Amazon EC2 instances managed by Systems Manager should have a patch "
     "compliance status of COMPLIANT after a patch installation", "high", "updates",
     ["system_updates"]),
]
ASFF_CLASS = {
    "EC2.7": ("data_protection", ["disk_encryption"]),
    "EC2.8": ("configuration", ["metadata_service"]),
}
# AFSBP default severities (the EC2.7 sample carries INFORMATIONAL from an old finding).
ASFF_SEVERITY = {"EC2.7": "medium"}

SCC_CLASS = {
    "OPEN_SSH_PORT": ("network", ["management_ports", "network_exposure"]),
    "PUBLIC_IP_ADDRESS": ("network", ["network_exposure"]),
    "Brute Force: SSH": ("threat", ["threat_detection"]),
}
# Short titles (SCC findings carry a category and a long explanation, no title).
SCC_TITLES = {"OPEN_SSH_PORT": "Open SSH port", "PUBLIC_IP_ADDRESS": "Public IP address"}
# SCC Security Health Analytics categories the generator emits for GCP servers without a
# sample; no framework ids are claimed for them.
SCC_EXTRA = [
    ("OPEN_RDP_PORT", "Open RDP port", "high", "network",
     ["management_ports", "network_exposure"], "google.compute.Firewall"),
    ("OS_VULNERABILITY", "OS vulnerability", "high", "vulnerability",
     ["vulnerability_findings"], "google.compute.Instance"),
]


def classify(name):
    low = name.lower()
    for sub, cat, roles in RULES:
        if sub in low:
            return cat, list(roles)
    raise SystemExit("no category rule for: " + name)


def q(s):
    return json.dumps(s, ensure_ascii=False)


def flow(items):
    return "[" + ", ".join(q(i) for i in items) + "]"


def emit(out, row):
    out.append("  - key: " + q(row["key"]))
    for k in ("source", "name", "severity", "category"):
        out.append("    %s: %s" % (k, q(row[k])))
    out.append("    roles: " + flow(row["roles"]))
    out.append("    frameworks: " + flow(row["frameworks"]))
    for k in ("applies_to", "origin"):
        if row.get(k):
            out.append("    %s: %s" % (k, q(row[k])))
    if row.get("deprecated"):
        out.append("    deprecated: true")
    if row.get("mcsb_historic"):
        out.append("    mcsb_historic: true")


def mcsb_frameworks(ids):
    fw = ["MCSB:" + i for i in ids]
    for i in ids:
        if i in MCSB_MAP:
            cis, nist, pci = MCSB_MAP[i]
            fw += ["CIS:" + c for c in cis] + ["NIST:" + n for n in nist]
            fw += ["PCI:" + p for p in pci]
    seen, res = set(), []
    for f in fw:
        if f not in seen:
            seen.add(f)
            res.append(f)
    return res


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "../shared/samples"
    rows = []
    for a in json.load(open(os.path.join(d, "defender-server-assessments.json"))):
        cat, roles = classify(a["displayName"])
        mcsb = a.get("mcsbControls") or []
        historic = False
        if not mcsb and a.get("mcsbControlsEverInInitiative"):
            mcsb, historic = a["mcsbControlsEverInInitiative"], True
        rows.append({
            "key": a["assessmentKey"], "source": "defender", "name": a["displayName"],
            "severity": (a["severity"] or "unknown").lower(), "category": cat, "roles": roles,
            "frameworks": mcsb_frameworks(mcsb), "applies_to": a.get("appliesTo"),
            "deprecated": a["displayName"].startswith("[Deprecated]")
            or "deprecat" in (a.get("appliesTo") or "").lower(),
            "mcsb_historic": historic, "origin": "defender-server-assessments.json",
        })
    for f in sorted(glob.glob(os.path.join(d, "aws-solutions_*.json"))):
        doc = json.load(open(f))
        findings = doc["detail"]["findings"] if "detail" in doc else [doc]
        for fi in findings:
            cid = (fi.get("Compliance", {}).get("SecurityControlId")
                   or fi["ProductFields"]["ControlId"])
            title = fi["Title"]
            if title.startswith(cid + " "):
                title = title[len(cid) + 1:]
            cat, roles = ASFF_CLASS[cid]
            rows.append({
                "key": cid, "source": "asff", "name": title,
                "severity": ASFF_SEVERITY.get(cid, fi["Severity"]["Label"].lower()),
                "category": cat, "roles": roles, "frameworks": ["AFSBP:" + cid],
                "applies_to": fi["Resources"][0]["Type"], "origin": os.path.basename(f),
            })
    for cid, title, sev, cat, roles in ASFF_EXTRA:
        rows.append({"key": cid, "source": "asff", "name": title, "severity": sev,
                     "category": cat, "roles": roles, "frameworks": ["AFSBP:" + cid],
                     "applies_to": "AwsEc2Instance", "origin": "aws-docs"})
    prefix = {"cis": "CIS-GCP", "nist": "NIST", "pci": "PCI", "iso": "ISO27001"}
    for f in sorted(glob.glob(os.path.join(d, "GoogleCloudPlatform_*.json"))):
        fi = json.load(open(f))["finding"]
        fw = []
        cs = fi.get("sourceProperties", {}).get("compliance_standards", {})
        for std in ("cis", "nist", "pci", "iso"):
            for ent in cs.get(std, []):
                for i in ent["ids"]:
                    v = prefix[std] + ":" + i
                    if v not in fw:
                        fw.append(v)
        cat, roles = SCC_CLASS[fi["category"]]
        name = SCC_TITLES.get(fi["category"], fi["category"])
        res = fi.get("resource", {}).get("type") or ""
        rows.append({"key": fi["category"], "source": "scc", "name": name,
                     "severity": fi["severity"].lower(), "category": cat, "roles": roles,
                     "frameworks": fw, "applies_to": res, "origin": os.path.basename(f)})
    for cid, title, sev, cat, roles, res in SCC_EXTRA:
        rows.append({"key": cid, "source": "scc", "name": title, "severity": sev,
                     "category": cat, "roles": roles, "frameworks": [],
                     "applies_to": res, "origin": "gcp-docs"})
    for r in rows:
        for role in r["roles"]:
            assert role in ROLES, role
    out = ["# Control mapping table: assessment key / ASFF control id / SCC category ->",
           "# name, severity, category, roles, framework ids.",
           "# GENERATED by src/gen/mkcontrols.py from ../shared/samples; edit the script, not",
           "# this file. Framework sources and limits are described in the script's header.",
           "version: 1",
           "roles: " + flow(ROLES),
           "controls:"]
    for r in rows:
        emit(out, r)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
