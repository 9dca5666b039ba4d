/* Correlation engine: table-driven scenarios for every built-in rule (loaded from
 * pipelines/rules/builtin.yaml), rule-file validation, memory cap and determinism. */
#include "pd_test.h"

#include "pd_correlate.h"
#include "pd_rule.h"
#include "pd_time.h"

/* ---- a fake posture (what the goals engine would answer) ------------------------------ */

#define MAXP 8
typedef struct pair_st {
    const char *res, *key;
    pd_status st;
} pair_st;

typedef struct fake_posture {
    const char *weak[MAXP];     /* resources violating goal "edr-prod" */
    const char *findings[MAXP]; /* resources with an open high finding */
    pair_st pairs[32];
    int npairs;
} fake_posture;

static bool res_is(const char *name, pd_str canon)
{
    /* canon ends with "/<name>" */
    size_t n = strlen(name);
    return canon.len > n && canon.p[canon.len - n - 1] == '/' &&
           !memcmp(canon.p + canon.len - n, name, n);
}

static uint32_t fk_goals(void *ctx, pd_str canon, pd_posture_goal_fn fn, void *fctx)
{
    fake_posture *fp = ctx;
    uint32_t n = 0;
    for (int i = 0; i < MAXP && fp->weak[i]; i++)
        if (res_is(fp->weak[i], canon)) {
            fn(fctx, pd_str_c("edr-prod"), pd_str_c("EDR on every production server"));
            n++;
        }
    return n;
}

static uint32_t fk_findings(void *ctx, pd_str canon, pd_severity min, pd_posture_finding_fn fn,
                            void *fctx)
{
    fake_posture *fp = ctx;
    uint32_t n = 0;
    for (int i = 0; i < MAXP && fp->findings[i]; i++)
        if (res_is(fp->findings[i], canon) && PD_SEV_HIGH >= min) {
            fn(fctx, pd_str_c("ffff0522-1e88-47fc-8382-2a80ba848f5d"),
               pd_str_c("Machines should have a vulnerability assessment solution"), PD_SEV_HIGH,
               1000);
            n++;
        }
    return n;
}

static pd_status fk_pair(void *ctx, pd_str canon, pd_str key)
{
    fake_posture *fp = ctx;
    for (int i = fp->npairs - 1; i >= 0; i--)
        if (res_is(fp->pairs[i].res, canon) && pd_str_ieq_c(key, fp->pairs[i].key))
            return fp->pairs[i].st;
    return PD_STATUS_UNKNOWN;
}

static const pd_posture_ops fake_ops = {fk_goals, fk_findings, fk_pair};

static bool fk_role(void *ctx, pd_str key, pd_str role)
{
    (void)ctx;
    return pd_str_eq_c(key, "custom-edr-key") && pd_str_eq_c(role, "edr");
}

/* ---- capture of emitted signals ------------------------------------------------------- */

#define MAXSIG 64
typedef struct capture {
    int n;
    struct cap_sig {
        char type[64], id[33];
        uint32_t update, nevidence, nresources, tactics;
        double score, confidence;
        char json[8192];
    } s[MAXSIG];
    pd_buf buf;
} capture;

static int on_signal(void *ctx, const pd_signal *s)
{
    capture *cap = ctx;
    assert_true(cap->n < MAXSIG);
    struct cap_sig *c = &cap->s[cap->n++];
    snprintf(c->type, sizeof(c->type), "%s", s->type);
    memcpy(c->id, s->id, sizeof(c->id));
    c->update = s->update;
    c->nevidence = s->nevidence;
    c->nresources = s->nresources;
    c->tactics = s->tactics;
    c->score = s->score;
    c->confidence = s->confidence;
    pd_buf_reset(&cap->buf);
    pd_signal_to_json(s, &cap->buf);
    snprintf(c->json, sizeof(c->json), "%s", pd_buf_cstr(&cap->buf));
    return 0;
}

/* ---- scenario steps -------------------------------------------------------------------- */

typedef enum { OP_END = 0, OP_ALERT, OP_BURST, OP_ASSESS, OP_DRIFT, OP_ADVANCE } op_kind;
typedef struct step_ev {
    op_kind op;
    double min;       /* minutes after T0 */
    const char *res;  /* resource name */
    const char *id;   /* alert / event / signal id (a prefix for bursts) */
    const char *type; /* alert type; control key for assessments and drift */
    pd_severity sev;
    uint32_t tactics;
    pd_status status;
    int count; /* bursts: count alerts, one every `every` minutes */
    double every;
} step_ev;

#define T0     1767225600000LL /* 2026-01-01T00:00:00Z */
#define TAC(t) (1u << PD_TACTIC_##t)
#define ALERT(m, r, id, ty, sev, tac)                                                              \
    {                                                                                              \
        OP_ALERT, (m), (r), (id), (ty), PD_SEV_##sev, (tac), PD_STATUS_UNKNOWN, 0, 0               \
    }
#define BURST(m, r, id, n, ev)                                                                     \
    {                                                                                              \
        OP_BURST, (m), (r), (id), "VM_SuspiciousProcess", PD_SEV_MEDIUM, TAC(EXECUTION),           \
            PD_STATUS_UNKNOWN, (n), (ev)                                                           \
    }
#define ASSESS(m, r, id, key, st)                                                                  \
    {                                                                                              \
        OP_ASSESS, (m), (r), (id), (key), PD_SEV_HIGH, 0, PD_STATUS_##st, 0, 0                     \
    }
#define DRIFT(m, r, id, key)                                                                       \
    {                                                                                              \
        OP_DRIFT, (m), (r), (id), (key), PD_SEV_HIGH, 0, 0, 0, 0                                   \
    }
#define ADVANCE(m)                                                                                 \
    {                                                                                              \
        OP_ADVANCE, (m), NULL, NULL, NULL, 0, 0, 0, 0, 0                                           \
    }

#define EDR_KEY "06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c"
#define UPD_KEY "e1145ab1-eb4f-43d8-911b-36ddf771d13f" /* system updates: not a defense */

typedef struct scenario {
    const char *name;
    const char *rule; /* rule id whose emissions are counted */
    step_ev ev[24];
    fake_posture posture;
    int signals, updates;
    int evidence;  /* evidence entries in the rule's last emission; -1: not checked */
    int resources; /* resources in the rule's last emission; -1: not checked */
    int late;      /* events dropped as too late; -1: not checked */
} scenario;

typedef struct runner {
    pd_rule_set *rules;
    pd_correlator *c;
    capture cap;
    fake_posture fp;
    char idbuf[8][64];
} runner;

static void make_resource(pd_resource *r, const char *name, char *idbuf, char *canon, size_t n)
{
    snprintf(idbuf, n,
             "/subscriptions/S-1/resourceGroups/RG-Prod/providers/Microsoft.Compute/"
             "virtualMachines/%s",
             name);
    size_t i = 0;
    for (; idbuf[i] && i + 1 < n; i++)
        canon[i] = (char)((idbuf[i] >= 'A' && idbuf[i] <= 'Z') ? idbuf[i] - 'A' + 'a' : idbuf[i]);
    canon[i] = '\0';
    r->id = pd_str_c(idbuf);
    r->canon = pd_str_c(canon);
    r->cloud = PD_CLOUD_AZURE;
    r->account = pd_str_c("s-1");
    r->name = pd_str_c(name);
    r->type = pd_str_c("microsoft.compute/virtualmachines");
}

static void load_builtin(pd_rule_set **set)
{
    char path[1024];
    pd_diag d = {{0}};
    int rc = pd_rule_set_load_file(
        set, pd_test_src_path("pipelines/rules/builtin.yaml", path, sizeof(path)), &d);
    if (rc)
        fail_msg("%s", d.msg);
}

static void runner_start(runner *rn, const fake_posture *fp, int64_t lateness_ms)
{
    memset(rn, 0, sizeof(*rn));
    pd_buf_init(&rn->cap.buf);
    if (fp)
        rn->fp = *fp;
    load_builtin(&rn->rules);
    pd_correlate_opts o;
    pd_correlate_opts_default(&o);
    if (lateness_ms >= 0)
        o.allowed_lateness_ms = lateness_ms;
    o.pipeline = pd_str_c("test");
    o.control_has_role = fk_role;
    assert_int_equal(
        pd_correlator_create(rn->rules, &o, &fake_ops, &rn->fp, on_signal, &rn->cap, &rn->c), 0);
}

static void runner_stop(runner *rn)
{
    pd_correlator_destroy(rn->c);
    pd_rule_set_destroy(rn->rules);
    pd_buf_free(&rn->cap.buf);
}

static void feed_alert(runner *rn, int64_t t, const char *res, const char *id, const char *type,
                       pd_severity sev, uint32_t tactics)
{
    char rid[256], canon[256];
    pd_event ev;
    pd_event_reset(&ev);
    ev.kind = PD_KIND_ALERT;
    ev.format = PD_FMT_DEFENDER;
    make_resource(&ev.resource, res, rid, canon, sizeof(rid));
    ev.severity = sev;
    ev.time_ms = t;
    ev.alert.id = pd_str_c(id);
    ev.alert.type = pd_str_c(type);
    ev.alert.status = pd_str_c("Active");
    ev.alert.tactics = tactics;
    ev.alert.start_ms = t;
    ev.event_id = pd_str_c(id);
    assert_int_equal(pd_correlator_on_event(rn->c, &ev), 0);
}

static void feed_resolved(runner *rn, int64_t t, const char *res, const char *id)
{
    char rid[256], canon[256];
    pd_event ev;
    pd_event_reset(&ev);
    ev.kind = PD_KIND_ALERT;
    make_resource(&ev.resource, res, rid, canon, sizeof(rid));
    ev.severity = PD_SEV_HIGH;
    ev.time_ms = t;
    ev.alert.id = pd_str_c(id);
    ev.alert.type = pd_str_c("VM_Mimikatz");
    ev.alert.status = pd_str_c("Resolved");
    assert_int_equal(pd_correlator_on_event(rn->c, &ev), 0);
}

static void run_step(runner *rn, const step_ev *s)
{
    int64_t t = T0 + (int64_t)(s->min * 60000.0);
    char rid[256], canon[256];
    switch (s->op) {
    case OP_ALERT:
        feed_alert(rn, t, s->res, s->id, s->type, s->sev, s->tactics);
        break;
    case OP_BURST:
        for (int i = 0; i < s->count; i++) {
            char id[64];
            snprintf(id, sizeof(id), "%s-%d", s->id, i);
            feed_alert(rn, t + (int64_t)(i * s->every * 60000.0), s->res, id, s->type, s->sev,
                       s->tactics);
        }
        break;
    case OP_ASSESS: {
        pd_event ev;
        pd_event_reset(&ev);
        ev.kind = PD_KIND_ASSESSMENT;
        ev.format = PD_FMT_DEFENDER;
        make_resource(&ev.resource, s->res, rid, canon, sizeof(rid));
        ev.control.key = pd_str_c(s->type);
        ev.control.name = pd_str_c("a control");
        ev.status = s->status;
        ev.severity = s->sev;
        ev.time_ms = t;
        ev.event_id = pd_str_c(s->id);
        assert_int_equal(pd_correlator_on_event(rn->c, &ev), 0);
        /* the goals engine applies the event after the correlator saw it */
        assert_true(rn->fp.npairs < 32);
        rn->fp.pairs[rn->fp.npairs++] = (pair_st){s->res, s->type, s->status};
        break;
    }
    case OP_DRIFT: {
        pd_signal d;
        memset(&d, 0, sizeof(d));
        pd_signal_resource r;
        memset(&r, 0, sizeof(r));
        pd_resource er;
        make_resource(&er, s->res, rid, canon, sizeof(rid));
        r.id = er.id; /* display form: the correlator canonicalizes it */
        r.cloud = er.cloud;
        r.account = er.account;
        r.name = er.name;
        r.type = er.type;
        d.kind = PD_SIGNAL_DRIFT;
        d.type = "control.regressed";
        snprintf(d.id, sizeof(d.id), "%s", s->id);
        d.time_ms = t;
        d.severity = s->sev;
        d.resources = &r;
        d.nresources = 1;
        d.has_control = true;
        d.control.key = pd_str_c(s->type);
        assert_int_equal(pd_correlator_on_signal(rn->c, &d), 0);
        break;
    }
    case OP_ADVANCE:
        assert_int_equal(pd_correlator_advance(rn->c, t), 0);
        break;
    default:
        break;
    }
}

static void count_rule(const capture *cap, const char *rule, int *sig, int *upd, int *last)
{
    char type[80];
    snprintf(type, sizeof(type), "breach.%s", rule);
    *sig = *upd = 0;
    *last = -1;
    for (int i = 0; i < cap->n; i++) {
        if (strcmp(cap->s[i].type, type))
            continue;
        if (cap->s[i].update)
            (*upd)++;
        else
            (*sig)++;
        *last = i;
    }
}

static void run_scenarios(const scenario *sc, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        runner rn;
        runner_start(&rn, &sc[i].posture, -1);
        for (int k = 0; sc[i].ev[k].op != OP_END; k++)
            run_step(&rn, &sc[i].ev[k]);
        int sig, upd, last;
        count_rule(&rn.cap, sc[i].rule, &sig, &upd, &last);
        if (sig != sc[i].signals || upd != sc[i].updates)
            fail_msg("%s: %d signals, %d updates of %s; want %d, %d", sc[i].name, sig, upd,
                     sc[i].rule, sc[i].signals, sc[i].updates);
        if (sc[i].evidence >= 0 && (last < 0 || (int)rn.cap.s[last].nevidence != sc[i].evidence))
            fail_msg("%s: evidence %d, want %d", sc[i].name,
                     last < 0 ? -1 : (int)rn.cap.s[last].nevidence, sc[i].evidence);
        if (sc[i].resources >= 0 && (last < 0 || (int)rn.cap.s[last].nresources != sc[i].resources))
            fail_msg("%s: resources %d, want %d", sc[i].name,
                     last < 0 ? -1 : (int)rn.cap.s[last].nresources, sc[i].resources);
        if (last >= 0) {
            const struct cap_sig *s = &rn.cap.s[last];
            if (s->score < 0 || s->score > 100 || s->confidence < 0 || s->confidence > 1)
                fail_msg("%s: score %f confidence %f out of range", sc[i].name, s->score,
                         s->confidence);
            /* an update keeps the id of the signal it updates */
            bool found = !s->update;
            for (int k = 0; k < last && !found; k++)
                found = !strcmp(rn.cap.s[k].type, s->type) && !rn.cap.s[k].update &&
                        !strcmp(rn.cap.s[k].id, s->id);
            if (!found)
                fail_msg("%s: an update whose id no signal had", sc[i].name);
        }
        pd_correlate_stats st;
        pd_correlator_stats(rn.c, &st);
        if (sc[i].late >= 0 && (int)st.late != sc[i].late)
            fail_msg("%s: %d late, want %d", sc[i].name, (int)st.late, sc[i].late);
        runner_stop(&rn);
    }
}

#define END                                                                                        \
    {                                                                                              \
        OP_END, 0, NULL, NULL, NULL, 0, 0, 0, 0, 0                                                 \
    }

/* ---- alert-on-weak-resource ------------------------------------------------------------ */

static void test_alert_on_weak_resource(void **state)
{
    (void)state;
    static const scenario sc[] = {
        {"fires on a goal violator",
         "alert-on-weak-resource",
         {ALERT(0, "vm1", "a1", "VM_Mimikatz", MEDIUM, TAC(CREDENTIAL_ACCESS)), END},
         {.weak = {"vm1"}},
         1,
         0,
         2,
         1,
         0},
        {"fires on an open high finding",
         "alert-on-weak-resource",
         {ALERT(0, "vm1", "a1", "VM_Mimikatz", HIGH, TAC(CREDENTIAL_ACCESS)), END},
         {.findings = {"vm1"}},
         1,
         0,
         2,
         1,
         0},
        {"goal and finding: both are evidence",
         "alert-on-weak-resource",
         {ALERT(0, "vm1", "a1", "VM_Mimikatz", HIGH, 0), END},
         {.weak = {"vm1"}, .findings = {"vm1"}},
         1,
         0,
         3,
         1,
         0},
        {"healthy resource",
         "alert-on-weak-resource",
         {ALERT(0, "vm2", "a1", "VM_Mimikatz", HIGH, 0), END},
         {.weak = {"vm1"}},
         0,
         0,
         -1,
         -1,
         0},
        {"low severity alert",
         "alert-on-weak-resource",
         {ALERT(0, "vm1", "a1", "VM_Scan", LOW, 0), END},
         {.weak = {"vm1"}},
         0,
         0,
         -1,
         -1,
         0},
        {"suppression: later alerts update",
         "alert-on-weak-resource",
         {ALERT(0, "vm1", "a1", "VM_A", MEDIUM, 0), ALERT(60, "vm1", "a2", "VM_B", HIGH, 0),
          ALERT(23 * 60, "vm1", "a3", "VM_C", MEDIUM, 0), END},
         {.weak = {"vm1"}},
         1,
         2,
         4,
         1,
         0},
        {"after the suppress window: a new signal",
         "alert-on-weak-resource",
         {ALERT(0, "vm1", "a1", "VM_A", MEDIUM, 0),
          ALERT(24 * 60 + 1, "vm1", "a2", "VM_B", HIGH, 0), END},
         {.weak = {"vm1"}},
         2,
         0,
         2,
         1,
         0},
        {"duplicate alert: no update",
         "alert-on-weak-resource",
         {ALERT(0, "vm1", "a1", "VM_A", MEDIUM, 0), ALERT(0, "vm1", "a1", "VM_A", MEDIUM, 0), END},
         {.weak = {"vm1"}},
         1,
         0,
         2,
         1,
         0},
        {"one signal per resource",
         "alert-on-weak-resource",
         {ALERT(0, "vm1", "a1", "VM_A", MEDIUM, 0), ALERT(1, "vm2", "a2", "VM_A", MEDIUM, 0), END},
         {.weak = {"vm1", "vm2"}},
         2,
         0,
         2,
         1,
         0},
    };
    run_scenarios(sc, PD_ARRAY_LEN(sc));
}

/* ---- kill-chain-progression ------------------------------------------------------------ */

static void test_kill_chain(void **state)
{
    (void)state;
    static const scenario sc[] = {
        {"three tactics in order",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", LOW, TAC(RECONNAISSANCE)),
          ALERT(60, "vm1", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)),
          ALERT(120, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)), END},
         {.npairs = 0},
         1,
         0,
         3,
         1,
         0},
        {"wrong order",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_NewService", HIGH, TAC(PERSISTENCE)),
          ALERT(60, "vm1", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)),
          ALERT(120, "vm1", "a3", "VM_PortScan", LOW, TAC(RECONNAISSANCE)), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"just outside 24 h",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", LOW, TAC(RECONNAISSANCE)),
          ALERT(60, "vm1", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)),
          ALERT(24 * 60 + 1, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"just inside 24 h",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", LOW, TAC(RECONNAISSANCE)),
          ALERT(60, "vm1", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)),
          ALERT(24 * 60, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)), END},
         {.npairs = 0},
         1,
         0,
         3,
         1,
         0},
        {"another resource",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", LOW, TAC(RECONNAISSANCE)),
          ALERT(60, "vm2", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)),
          ALERT(120, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"one alert with three tactics is one step",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_Multi", HIGH,
                TAC(RECONNAISSANCE) | TAC(EXECUTION) | TAC(PERSISTENCE)),
          END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"multi-tactic alerts still climb",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_A", MEDIUM, TAC(EXECUTION) | TAC(RECONNAISSANCE)),
          ALERT(10, "vm1", "a2", "VM_B", MEDIUM, TAC(PERSISTENCE) | TAC(RECONNAISSANCE)),
          ALERT(20, "vm1", "a3", "VM_C", MEDIUM, TAC(LATERAL_MOVEMENT)), END},
         {.npairs = 0},
         1,
         0,
         3,
         1,
         0},
        {"late alert within the allowed lateness completes the chain",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", LOW, TAC(RECONNAISSANCE)),
          ALERT(10, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)),
          ALERT(7, "vm1", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)), END},
         {.npairs = 0},
         1,
         0,
         3,
         1,
         0},
        {"too late: dropped and counted",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", LOW, TAC(RECONNAISSANCE)),
          ALERT(20, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)),
          ALERT(7, "vm1", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         1},
        {"a late event no rule wants is not counted as late",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", LOW, TAC(RECONNAISSANCE)),
          ALERT(20, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)),
          ASSESS(7, "vm1", "s1", UPD_KEY, HEALTHY), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"a fourth step updates the signal",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", LOW, TAC(RECONNAISSANCE)),
          ALERT(60, "vm1", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)),
          ALERT(120, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)),
          ALERT(180, "vm1", "a4", "VM_Exfil", HIGH, TAC(EXFILTRATION)), END},
         {.npairs = 0},
         1,
         1,
         4,
         1,
         0},
        {"informational alerts do not count",
         "kill-chain-progression",
         {ALERT(0, "vm1", "a1", "VM_PortScan", INFORMATIONAL, TAC(RECONNAISSANCE)),
          ALERT(60, "vm1", "a2", "VM_SuspiciousCmd", MEDIUM, TAC(EXECUTION)),
          ALERT(120, "vm1", "a3", "VM_NewService", HIGH, TAC(PERSISTENCE)), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
    };
    run_scenarios(sc, PD_ARRAY_LEN(sc));
}

/* ---- lateral-spread ---------------------------------------------------------------------- */

static void test_lateral_spread(void **state)
{
    (void)state;
    static const scenario sc[] = {
        {"three resources within 1 h",
         "lateral-spread",
         {ALERT(0, "vm1", "a1", "VM_Mimikatz", MEDIUM, TAC(CREDENTIAL_ACCESS)),
          ALERT(20, "vm2", "a2", "VM_Mimikatz", HIGH, TAC(CREDENTIAL_ACCESS)),
          ALERT(40, "vm3", "a3", "VM_Mimikatz", MEDIUM, TAC(CREDENTIAL_ACCESS)), END},
         {.npairs = 0},
         1,
         0,
         3,
         3,
         0},
        {"just outside 1 h",
         "lateral-spread",
         {ALERT(0, "vm1", "a1", "VM_Mimikatz", MEDIUM, 0),
          ALERT(30, "vm2", "a2", "VM_Mimikatz", MEDIUM, 0),
          ALERT(61, "vm3", "a3", "VM_Mimikatz", MEDIUM, 0), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"one resource three times",
         "lateral-spread",
         {ALERT(0, "vm1", "a1", "VM_Mimikatz", MEDIUM, 0),
          ALERT(1, "vm1", "a2", "VM_Mimikatz", MEDIUM, 0),
          ALERT(2, "vm1", "a3", "VM_Mimikatz", MEDIUM, 0), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"different alert types",
         "lateral-spread",
         {ALERT(0, "vm1", "a1", "VM_A", MEDIUM, 0), ALERT(1, "vm2", "a2", "VM_B", MEDIUM, 0),
          ALERT(2, "vm3", "a3", "VM_C", MEDIUM, 0), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"low severity noise",
         "lateral-spread",
         {ALERT(0, "vm1", "a1", "VM_A", LOW, 0), ALERT(1, "vm2", "a2", "VM_A", LOW, 0),
          ALERT(2, "vm3", "a3", "VM_A", LOW, 0), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"a fourth resource updates",
         "lateral-spread",
         {ALERT(0, "vm1", "a1", "VM_Mimikatz", MEDIUM, 0),
          ALERT(5, "vm2", "a2", "VM_Mimikatz", MEDIUM, 0),
          ALERT(10, "vm3", "a3", "VM_Mimikatz", MEDIUM, 0),
          ALERT(15, "vm4", "a4", "VM_Mimikatz", MEDIUM, 0), END},
         {.npairs = 0},
         1,
         1,
         4,
         4,
         0},
        {"late third resource within lateness",
         "lateral-spread",
         {ALERT(0, "vm1", "a1", "VM_Mimikatz", MEDIUM, 0),
          ALERT(10, "vm2", "a2", "VM_Mimikatz", MEDIUM, 0),
          ALERT(6, "vm3", "a3", "VM_Mimikatz", MEDIUM, 0), END},
         {.npairs = 0},
         1,
         0,
         3,
         3,
         0},
    };
    run_scenarios(sc, PD_ARRAY_LEN(sc));
}

/* ---- drift-then-alert -------------------------------------------------------------------- */

static void test_drift_then_alert(void **state)
{
    (void)state;
    static const scenario sc[] = {
        {"regression then alert",
         "drift-then-alert",
         {DRIFT(0, "vm1", "d1", EDR_KEY), ALERT(60, "vm1", "a1", "VM_A", LOW, 0), END},
         {.npairs = 0},
         1,
         0,
         2,
         1,
         0},
        {"alert then regression: wrong order",
         "drift-then-alert",
         {ALERT(0, "vm1", "a1", "VM_A", LOW, 0), DRIFT(60, "vm1", "d1", EDR_KEY), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"just outside 24 h",
         "drift-then-alert",
         {DRIFT(0, "vm1", "d1", EDR_KEY), ALERT(24 * 60 + 1, "vm1", "a1", "VM_A", LOW, 0), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"another resource",
         "drift-then-alert",
         {DRIFT(0, "vm1", "d1", EDR_KEY), ALERT(60, "vm2", "a1", "VM_A", LOW, 0), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"late regression still precedes the alert in event time",
         "drift-then-alert",
         {ALERT(12, "vm1", "a1", "VM_A", LOW, 0), DRIFT(10, "vm1", "d1", EDR_KEY), END},
         {.npairs = 0},
         1,
         0,
         2,
         1,
         0},
        {"second alert updates",
         "drift-then-alert",
         {DRIFT(0, "vm1", "d1", EDR_KEY), ALERT(60, "vm1", "a1", "VM_A", LOW, 0),
          ALERT(90, "vm1", "a2", "VM_B", HIGH, 0), END},
         {.npairs = 0},
         1,
         1,
         3,
         1,
         0},
    };
    run_scenarios(sc, PD_ARRAY_LEN(sc));
}

/* ---- defense-tampering ------------------------------------------------------------------- */

static void test_defense_tampering(void **state)
{
    (void)state;
    static const scenario sc[] = {
        {"EDR lost, then a high alert",
         "defense-tampering",
         {ASSESS(0, "vm1", "s1", EDR_KEY, UNHEALTHY), ALERT(30, "vm1", "a1", "VM_A", HIGH, 0), END},
         {.pairs = {{"vm1", EDR_KEY, PD_STATUS_HEALTHY}}, .npairs = 1},
         1,
         0,
         2,
         1,
         0},
        {"a high alert, then EDR lost",
         "defense-tampering",
         {ALERT(0, "vm1", "a1", "VM_A", HIGH, 0), ASSESS(50, "vm1", "s1", EDR_KEY, UNHEALTHY), END},
         {.pairs = {{"vm1", EDR_KEY, PD_STATUS_HEALTHY}}, .npairs = 1},
         1,
         0,
         2,
         1,
         0},
        {"just outside 1 h",
         "defense-tampering",
         {ALERT(0, "vm1", "a1", "VM_A", HIGH, 0), ASSESS(61, "vm1", "s1", EDR_KEY, UNHEALTHY), END},
         {.pairs = {{"vm1", EDR_KEY, PD_STATUS_HEALTHY}}, .npairs = 1},
         0,
         0,
         -1,
         -1,
         0},
        {"medium alert",
         "defense-tampering",
         {ASSESS(0, "vm1", "s1", EDR_KEY, UNHEALTHY), ALERT(30, "vm1", "a1", "VM_A", MEDIUM, 0),
          END},
         {.pairs = {{"vm1", EDR_KEY, PD_STATUS_HEALTHY}}, .npairs = 1},
         0,
         0,
         -1,
         -1,
         0},
        {"not a security control",
         "defense-tampering",
         {ASSESS(0, "vm1", "s1", UPD_KEY, UNHEALTHY), ALERT(30, "vm1", "a1", "VM_A", HIGH, 0), END},
         {.pairs = {{"vm1", UPD_KEY, PD_STATUS_HEALTHY}}, .npairs = 1},
         0,
         0,
         -1,
         -1,
         0},
        {"already unhealthy: nothing lost",
         "defense-tampering",
         {ASSESS(0, "vm1", "s1", EDR_KEY, UNHEALTHY), ALERT(30, "vm1", "a1", "VM_A", HIGH, 0), END},
         {.pairs = {{"vm1", EDR_KEY, PD_STATUS_UNHEALTHY}}, .npairs = 1},
         0,
         0,
         -1,
         -1,
         0},
        {"another resource",
         "defense-tampering",
         {ASSESS(0, "vm1", "s1", EDR_KEY, UNHEALTHY), ALERT(30, "vm2", "a1", "VM_A", HIGH, 0), END},
         {.pairs = {{"vm1", EDR_KEY, PD_STATUS_HEALTHY}}, .npairs = 1},
         0,
         0,
         -1,
         -1,
         0},
        {"a control with the edr role from the mapping table",
         "defense-tampering",
         {ASSESS(0, "vm1", "s1", "custom-edr-key", UNHEALTHY),
          ALERT(30, "vm1", "a1", "VM_A", CRITICAL, 0), END},
         {.pairs = {{"vm1", "custom-edr-key", PD_STATUS_HEALTHY}}, .npairs = 1},
         1,
         0,
         2,
         1,
         0},
        {"healthy again, lost again within the window: update",
         "defense-tampering",
         {ASSESS(0, "vm1", "s1", EDR_KEY, UNHEALTHY), ALERT(10, "vm1", "a1", "VM_A", HIGH, 0),
          ASSESS(20, "vm1", "s2", EDR_KEY, HEALTHY), ASSESS(30, "vm1", "s3", EDR_KEY, UNHEALTHY),
          END},
         {.pairs = {{"vm1", EDR_KEY, PD_STATUS_HEALTHY}}, .npairs = 1},
         1,
         1,
         3,
         1,
         0},
    };
    run_scenarios(sc, PD_ARRAY_LEN(sc));
}

/* ---- alert-burst ------------------------------------------------------------------------- */

static void test_alert_burst(void **state)
{
    (void)state;
    static const scenario sc[] = {
        {"10 alerts in 9 minutes",
         "alert-burst",
         {BURST(0, "vm1", "b", 10, 1.0), END},
         {.npairs = 0},
         1,
         0,
         10,
         1,
         0},
        {"9 alerts",
         "alert-burst",
         {BURST(0, "vm1", "b", 9, 0.5), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"10 alerts over 12 minutes",
         "alert-burst",
         {BURST(0, "vm1", "b", 10, 1.3), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"12 alerts: one signal, two updates",
         "alert-burst",
         {BURST(0, "vm1", "b", 12, 0.5), END},
         {.npairs = 0},
         1,
         2,
         12,
         1,
         0},
        {"5 + 5 on two resources",
         "alert-burst",
         {BURST(0, "vm1", "b", 5, 0.5), BURST(0, "vm2", "c", 5, 0.5), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"duplicates count once",
         "alert-burst",
         {BURST(0, "vm1", "b", 9, 0.5), BURST(5, "vm1", "b", 3, 0.1), END},
         {.npairs = 0},
         0,
         0,
         -1,
         -1,
         0},
        {"after the suppress window, a second burst is a second signal",
         "alert-burst",
         {BURST(0, "vm1", "b", 10, 0.5), BURST(90, "vm1", "c", 10, 0.5), END},
         {.npairs = 0},
         2,
         0,
         10,
         1,
         0},
    };
    run_scenarios(sc, PD_ARRAY_LEN(sc));
}

/* ---- evidence, determinism, memory, rule files ------------------------------------------ */

static void test_evidence_complete(void **state)
{
    (void)state;
    runner rn;
    fake_posture fp = {.weak = {"vm1"}, .findings = {"vm1"}};
    runner_start(&rn, &fp, -1);
    feed_alert(&rn, T0, "vm1", "alert-0001", "VM_Mimikatz", PD_SEV_HIGH,
               TAC(CREDENTIAL_ACCESS) | TAC(EXECUTION));
    int sig, upd, last;
    count_rule(&rn.cap, "alert-on-weak-resource", &sig, &upd, &last);
    assert_int_equal(sig, 1);
    const char *j = rn.cap.s[last].json;
    assert_non_null(strstr(j, "\"signal\":\"breach\""));
    assert_non_null(strstr(j, "\"type\":\"breach.alert-on-weak-resource\""));
    assert_non_null(strstr(j, "\"rule\":{\"id\":\"alert-on-weak-resource\""));
    assert_non_null(strstr(j, "\"time\":\"2026-01-01T00:00:00.000Z\""));
    assert_non_null(
        strstr(j, "{\"kind\":\"alert\",\"id\":\"alert-0001\",\"detail\":\"VM_Mimikatz\""));
    assert_non_null(strstr(j, "{\"kind\":\"goal\",\"id\":\"edr-prod\""));
    assert_non_null(
        strstr(j, "{\"kind\":\"finding\",\"id\":\"ffff0522-1e88-47fc-8382-2a80ba848f5d\""));
    assert_non_null(strstr(j, "\"tactics\":[\"Execution\",\"CredentialAccess\"]"));
    assert_non_null(strstr(j, "\"resource\":{\"id\":\"/subscriptions/S-1/resourceGroups/RG-Prod/"));
    assert_non_null(strstr(j, "\"recommended_actions\":[\""));
    assert_non_null(strstr(j, "\"pipeline\":\"test\""));
    assert_null(strstr(j, "\"update\""));
    /* posture debt raises the score over the same alert on a healthy server */
    double weak_score = rn.cap.s[last].score;
    /* a resolved alert later is no new evidence: no update */
    feed_resolved(&rn, T0 + 60000, "vm1", "alert-0002");
    count_rule(&rn.cap, "alert-on-weak-resource", &sig, &upd, &last);
    assert_int_equal(sig + upd, 1);
    runner_stop(&rn);

    runner_start(&rn, NULL, -1);
    for (int i = 0; i < 3; i++) {
        char id[16], res[8];
        snprintf(id, sizeof(id), "m-%d", i);
        snprintf(res, sizeof(res), "vm%d", i);
        feed_alert(&rn, T0 + i * 60000, res, id, "VM_Mimikatz", PD_SEV_HIGH, 0);
    }
    count_rule(&rn.cap, "lateral-spread", &sig, &upd, &last);
    assert_int_equal(sig, 1);
    j = rn.cap.s[last].json;
    assert_non_null(strstr(j, "\"resources\":[{"));
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof(want), "\"id\":\"m-%d\"", i);
        assert_non_null(strstr(j, want));
        snprintf(want, sizeof(want), "\"name\":\"vm%d\"", i);
        assert_non_null(strstr(j, want));
    }
    runner_stop(&rn);

    /* the alert-severity part alone is 0.5 * 0.8 * 100 = 40: posture debt adds to it */
    assert_true(weak_score > 40.0);
}

static void run_story(capture *out)
{
    runner rn;
    fake_posture fp = {
        .weak = {"vm1"}, .pairs = {{"vm2", EDR_KEY, PD_STATUS_HEALTHY}}, .npairs = 1};
    runner_start(&rn, &fp, -1);
    static const step_ev story[] = {
        ALERT(0, "vm1", "a1", "VM_PortScan", MEDIUM, TAC(RECONNAISSANCE)),
        ALERT(30, "vm1", "a2", "VM_Cmd", MEDIUM, TAC(EXECUTION)),
        ASSESS(40, "vm2", "s1", EDR_KEY, UNHEALTHY),
        ALERT(50, "vm2", "a3", "VM_Cmd", HIGH, TAC(EXECUTION)),
        ALERT(55, "vm3", "a4", "VM_Cmd", HIGH, TAC(EXECUTION)),
        ALERT(60, "vm1", "a5", "VM_Persist", HIGH, TAC(PERSISTENCE)),
        BURST(70, "vm3", "b", 11, 0.3),
        END};
    for (int k = 0; story[k].op != OP_END; k++)
        run_step(&rn, &story[k]);
    *out = rn.cap;
    out->buf = (pd_buf){0};
    runner_stop(&rn);
}

static void test_deterministic_ids(void **state)
{
    (void)state;
    static capture a, b;
    run_story(&a);
    run_story(&b);
    assert_true(a.n >= 5);
    assert_int_equal(a.n, b.n);
    for (int i = 0; i < a.n; i++)
        assert_string_equal(a.s[i].json, b.s[i].json);
    /* every rule but drift-then-alert fired in the story */
    const char *want[] = {"alert-on-weak-resource", "kill-chain-progression", "lateral-spread",
                          "defense-tampering", "alert-burst"};
    for (size_t w = 0; w < PD_ARRAY_LEN(want); w++) {
        int sig, upd, last;
        count_rule(&a, want[w], &sig, &upd, &last);
        if (sig < 1)
            fail_msg("story: no %s signal", want[w]);
    }
    /* distinct signals have distinct ids */
    for (int i = 0; i < a.n; i++)
        for (int k = i + 1; k < a.n; k++)
            if (!a.s[i].update && !a.s[k].update)
                assert_string_not_equal(a.s[i].id, a.s[k].id);
}

static void test_memcap_evictions(void **state)
{
    (void)state;
    pd_rule_set *rules = NULL;
    load_builtin(&rules);
    capture *cap = calloc(1, sizeof(*cap));
    pd_correlate_opts o;
    pd_correlate_opts_default(&o);
    o.memcap_bytes = 256 * 1024;
    pd_correlator *c;
    assert_int_equal(pd_correlator_create(rules, &o, NULL, NULL, NULL, cap, &c), 0);
    char rid[256], canon[256], name[32], id[32];
    pd_event ev;
    for (int i = 0; i < 20000; i++) {
        pd_event_reset(&ev);
        ev.kind = PD_KIND_ALERT;
        snprintf(name, sizeof(name), "vm%d", i);
        snprintf(id, sizeof(id), "al-%d", i);
        make_resource(&ev.resource, name, rid, canon, sizeof(rid));
        ev.severity = PD_SEV_LOW;
        ev.time_ms = T0 + i;
        ev.alert.id = pd_str_c(id);
        ev.alert.type = pd_str_c(id); /* a new alert type per event: lateral-spread groups too */
        ev.alert.tactics = TAC(EXECUTION);
        assert_int_equal(pd_correlator_on_event(c, &ev), 0);
    }
    pd_correlate_stats st;
    pd_correlator_stats(c, &st);
    assert_int_equal(st.events, 20000);
    assert_true(st.evictions > 0);
    /* 6 rules, each under its cap (plus the fixed scratch) */
    assert_true(st.bytes <= 6 * o.memcap_bytes + 64 * 1024);
    /* expiry: far in the future every group is gone */
    assert_int_equal(pd_correlator_advance(c, T0 + 7LL * 24 * 3600 * 1000), 0);
    for (int k = 0; k < 1000; k++)
        pd_correlator_advance(c, T0 + 7LL * 24 * 3600 * 1000 + k * 1000LL);
    pd_correlator_stats(c, &st);
    assert_int_equal(st.groups, 0);
    pd_correlator_destroy(c);
    pd_rule_set_destroy(rules);
    free(cap);
}

static void test_builtin_rules_load(void **state)
{
    (void)state;
    pd_rule_set *rules = NULL;
    load_builtin(&rules);
    const char *ids[] = {"alert-on-weak-resource", "kill-chain-progression", "lateral-spread",
                         "drift-then-alert",       "defense-tampering",      "alert-burst"};
    assert_int_equal(pd_rule_set_count(rules), PD_ARRAY_LEN(ids));
    for (size_t i = 0; i < PD_ARRAY_LEN(ids); i++)
        assert_string_equal(rules->rules[i].id, ids[i]);
    /* a second load of the same file clashes on ids, and leaves the set as it was */
    pd_diag d = {{0}};
    char path[1024];
    assert_int_equal(
        pd_rule_set_load_file(
            &rules, pd_test_src_path("pipelines/rules/builtin.yaml", path, sizeof(path)), &d),
        PD_ECONFIG);
    assert_non_null(strstr(d.msg, "duplicate rule id 'alert-on-weak-resource'"));
    assert_int_equal(pd_rule_set_count(rules), PD_ARRAY_LEN(ids));
    pd_rule_set_destroy(rules);
}

static void test_rule_file_errors(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"rules:\n  - id: r1\n    title: t\n    type: event_count\n    match: {kind: alert}\n"
         "    timespan: 1h\n    condition: {gte: 1}\n    severity: high\n    colour: red\n",
         "x.yaml:9:5: unknown key 'colour'"},
        {"rules:\n  - id: r1\n    title: t\n    type: count\n    match: {kind: alert}\n"
         "    timespan: 1h\n    condition: {gte: 1}\n    severity: high\n",
         "x.yaml:4:11: unknown type 'count'"},
        {"rules:\n  - id: r1\n    title: t\n    type: event_count\n    match: {kind: alert, "
         "min-severity: urgent}\n    timespan: 1h\n    condition: {gte: 1}\n    severity: high\n",
         "x.yaml:5:40: unknown severity 'urgent'"},
        {"rules:\n  - id: r1\n    title: t\n    type: event_count\n    match:\n      tactics: "
         "[Execution, Teleportation]\n    timespan: 1h\n    condition: {gte: 1}\n    severity: "
         "high\n",
         "x.yaml:6:28: unknown tactic 'Teleportation'"},
        {"rules:\n  - id: r1\n    title: t\n    type: value_count\n    match: {kind: alert}\n"
         "    timespan: 1h\n    condition: {gte: 3}\n    severity: high\n",
         "x.yaml:7:16: value_count needs condition.field"},
        {"rules:\n  - id: R1\n    title: t\n    type: event_count\n    match: {kind: alert}\n"
         "    timespan: 1h\n    condition: {gte: 1}\n    severity: high\n",
         "x.yaml:2:9: rule id 'R1' must match"},
        {"rules:\n  - id: r1\n    title: t\n    type: temporal\n    steps:\n      - name: a\n"
         "        match: {kind: alert}\n    timespan: 1h\n    condition: {gte: 1}\n"
         "    severity: high\n",
         "x.yaml:6:7: temporal needs at least 2 steps"},
        {"rules:\n  - id: r1\n    title: t\n    type: event_count\n    match: {kind: alert}\n"
         "    timespan: 1h\n    condition: {gte: 1}\n",
         "x.yaml:2:5: rule needs 'severity'"},
        {"rules:\n  - id: r1\n    title: t\n    type: event_count\n    match: {kind: alert}\n"
         "    timespan: soon\n    condition: {gte: 1}\n    severity: high\n",
         "x.yaml:6:15:"},
        {"rules:\n  - id: r1\n    title: t\n    type: event_count\n    match: {signal: "
         "control.regressed, kind: alert}\n    timespan: 1h\n    condition: {gte: 1}\n"
         "    severity: high\n",
         "'kind' applies to events"},
        {"goals: []\n", "x.yaml:1:1: unknown key 'goals'"},
    };
    for (size_t i = 0; i < PD_ARRAY_LEN(cases); i++) {
        pd_rule_set *set = NULL;
        pd_diag d = {{0}};
        int rc = pd_rule_set_load_buf(&set, "x.yaml", cases[i].yaml, strlen(cases[i].yaml), &d);
        if (rc != PD_ECONFIG || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: rc %d msg '%s', want '%s'", i, rc, d.msg, cases[i].want);
        pd_rule_set_destroy(set);
    }
}

/* Defender's intents in rule files map into the one tactic table: PreAttack is
 * Reconnaissance, Exploitation is InitialAccess. */
static void test_rule_tactic_alias(void **state)
{
    (void)state;
    static const char yaml[] = "rules:\n"
                               "  - id: recon\n"
                               "    title: Reconnaissance\n"
                               "    type: event_count\n"
                               "    match: {kind: alert, tactics: [PreAttack, Exploitation]}\n"
                               "    group-by: resource\n"
                               "    timespan: 1h\n"
                               "    condition: {gte: 2}\n"
                               "    severity: low\n";
    pd_rule_set *set = NULL;
    pd_diag d = {{0}};
    if (pd_rule_set_load_buf(&set, "alias.yaml", yaml, sizeof(yaml) - 1, &d))
        fail_msg("%s", d.msg);
    assert_int_equal(set->rules[0].match.tactics, TAC(RECONNAISSANCE) | TAC(INITIAL_ACCESS));
    assert_int_equal(set->rules[0].ngroup_by, 1);
    assert_int_equal(set->rules[0].group_by[0], PD_RF_RESOURCE);
    assert_int_equal(set->rules[0].suppress_ms, 3600000);
    runner rn;
    memset(&rn, 0, sizeof(rn));
    pd_buf_init(&rn.cap.buf);
    assert_int_equal(pd_correlator_create(set, NULL, &fake_ops, &rn.fp, on_signal, &rn.cap, &rn.c),
                     0);
    feed_alert(&rn, T0, "vm1", "x1", "VM_Scan", PD_SEV_LOW, TAC(RECONNAISSANCE));
    feed_alert(&rn, T0 + 1000, "vm1", "x2", "VM_Exec", PD_SEV_LOW, TAC(EXECUTION));
    assert_int_equal(rn.cap.n, 0);
    feed_alert(&rn, T0 + 2000, "vm1", "x3", "VM_Brute", PD_SEV_LOW, TAC(INITIAL_ACCESS));
    assert_int_equal(rn.cap.n, 1);
    assert_string_equal(rn.cap.s[0].type, "breach.recon");
    assert_int_equal(rn.cap.s[0].nevidence, 2);
    pd_correlator_destroy(rn.c);
    pd_rule_set_destroy(set);
    pd_buf_free(&rn.cap.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_rules_load), cmocka_unit_test(test_rule_file_errors),
        cmocka_unit_test(test_rule_tactic_alias),  cmocka_unit_test(test_alert_on_weak_resource),
        cmocka_unit_test(test_kill_chain),         cmocka_unit_test(test_lateral_spread),
        cmocka_unit_test(test_drift_then_alert),   cmocka_unit_test(test_defense_tampering),
        cmocka_unit_test(test_alert_burst),        cmocka_unit_test(test_evidence_complete),
        cmocka_unit_test(test_deterministic_ids),  cmocka_unit_test(test_memcap_evictions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
