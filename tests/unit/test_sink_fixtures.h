/* Signals used by the sink tests: built like the engines build them. Header-only. */
#ifndef TEST_SINK_FIXTURES_H
#define TEST_SINK_FIXTURES_H

#include "pd_signal.h"
#include "pd_sink.h"
#include "pd_yaml.h"

#include <string.h>

static const pd_signal_resource fx_res[3] = {
    {PD_STR_LIT("/subscriptions/1111/resourceGroups/rg-prod-web/providers/"
                "Microsoft.Compute/virtualMachines/web-01"),
     PD_CLOUD_AZURE, PD_STR_LIT("1111"), PD_STR_LIT("web-01"),
     PD_STR_LIT("microsoft.compute/virtualmachines")},
    {PD_STR_LIT("arn:aws:ec2:us-east-1:222233334444:instance/i-0abc"), PD_CLOUD_AWS,
     PD_STR_LIT("222233334444"), PD_STR_LIT("i-0abc"), PD_STR_LIT("AwsEc2Instance")},
    {PD_STR_LIT("//compute.googleapis.com/projects/p1/zones/z/instances/db-\"quoted\""),
     PD_CLOUD_GCP, PD_STR_LIT("p1"), PD_STR_LIT("db-\"quoted\""),
     PD_STR_LIT("compute.googleapis.com/Instance")},
};
static const pd_str fx_frameworks[2] = {PD_STR_LIT("MCSB:ES-1"), PD_STR_LIT("NIST:SI-4")};
static const pd_evidence fx_ev[2] = {
    {"assessment", PD_STR_LIT("assess-1"), 1700000000000LL, PD_STR_LIT("Unhealthy")},
    {"alert", PD_STR_LIT("alert-\u00e9-1"), 1700000060000LL, PD_STR_NULL},
};
static const char *const fx_actions[2] = {"Isolate the machine", "Rotate credentials"};

/* control.regressed on one resource for goal edr-prod. */
static inline pd_signal fx_drift(const char *type, pd_severity sev, const char *goal)
{
    pd_signal s;
    memset(&s, 0, sizeof(s));
    s.kind = PD_SIGNAL_DRIFT;
    s.type = type;
    pd_str parts[] = {pd_str_c(type), pd_str_c(goal)};
    pd_signal_make_id(s.id, parts, 2);
    s.time_ms = 1700000100000LL;
    s.severity = sev;
    s.pipeline = PD_STR_LIT("defender-servers");
    s.has_goal = true;
    s.goal.id = pd_str_c(goal);
    s.goal.title = PD_STR_LIT("EDR on every production server");
    s.goal.kind = "coverage";
    s.goal.value = 96.5;
    s.goal.target = PD_STR_LIT(">= 98%");
    s.goal.met = false;
    if (!strncmp(type, "control.", 8)) {
        s.has_control = true;
        s.control.key = PD_STR_LIT("06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c");
        s.control.name = PD_STR_LIT("EDR solution should be installed on virtual machines");
        s.control.frameworks = fx_frameworks;
        s.control.nframeworks = 2;
        s.resources = &fx_res[0];
        s.nresources = 1;
    }
    s.evidence = fx_ev;
    s.nevidence = 1;
    return s;
}

/* breach.lateral-spread over three resources. */
static inline pd_signal fx_breach(const char *rule, pd_severity sev)
{
    static const char *const types[] = {"breach.lateral-spread", "breach.alert-burst",
                                        "breach.kill-chain-progression",
                                        "breach.alert-on-weak-resource"};
    const char *type = "breach.other";
    for (size_t i = 0; i < PD_ARRAY_LEN(types); i++)
        if (!strcmp(types[i] + 7, rule))
            type = types[i];
    pd_signal s;
    memset(&s, 0, sizeof(s));
    s.kind = PD_SIGNAL_BREACH;
    s.type = type;
    pd_str parts[] = {pd_str_c(type)};
    pd_signal_make_id(s.id, parts, 1);
    s.time_ms = 1700000200000LL;
    s.severity = sev;
    s.pipeline = PD_STR_LIT("defender-servers");
    s.rule.id = pd_str_c(rule);
    s.rule.title = PD_STR_LIT("Same alert type on several servers");
    s.confidence = 0.85;
    s.score = 91;
    s.tactics = (1u << PD_TACTIC_LATERAL_MOVEMENT) | (1u << PD_TACTIC_EXECUTION);
    s.resources = fx_res;
    s.nresources = 3;
    s.evidence = fx_ev;
    s.nevidence = 2;
    s.actions = fx_actions;
    s.nactions = 2;
    return s;
}

/* Loads a one-sink YAML text into a sink. */
static inline int fx_sink(const pd_sink_env *env, const char *yaml, pd_sink **out, pd_diag *diag)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_buf("<test>", yaml, strlen(yaml), &doc, diag);
    if (!rc)
        rc = pd_sink_create(env, doc, pd_yaml_root(doc), 0, out, diag);
    pd_yaml_free(doc);
    return rc;
}

#endif
