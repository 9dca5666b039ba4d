/* The control mapping table: pipelines/controls.yaml loads, and answers lookups that agree
 * with the sample data it was derived from (the expectations are read from the samples
 * here, not copied from the table). */
#include "pd_test.h"

#include "pd_controls.h"

#include <ctype.h>
#include <jansson.h>

static pd_controls *load_shipped(void)
{
    char path[1024];
    pd_diag diag = {{0}};
    pd_controls *t = NULL;
    int rc = pd_controls_load_file(pd_test_src_path("pipelines/controls.yaml", path, sizeof(path)),
                                   &t, &diag);
    if (rc)
        fprintf(stderr, "load %s: %s\n", path, diag.msg);
    return t;
}

/* The shipped table, loaded once for the whole group (so a skipped test leaks nothing). */
static pd_controls *g_table;

static int setup(void **state)
{
    (void)state;
    g_table = load_shipped();
    return g_table ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pd_controls_destroy(g_table);
    return 0;
}

static json_t *load_json_sample(const char *name)
{
    size_t len = 0;
    char *buf = pd_test_sample(name, &len);
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, 0, &jerr);
    free(buf);
    if (!j)
        fail_msg("%s: %s", name, jerr.text);
    return j;
}

static bool has_fw(const pd_control_def *d, const char *id)
{
    for (uint32_t i = 0; i < d->nframeworks; i++)
        if (!strcmp(d->frameworks[i], id))
            return true;
    return false;
}

static bool in_list(const pd_control_def **v, uint32_t n, const char *key)
{
    for (uint32_t i = 0; i < n; i++)
        if (pd_str_ieq_c(pd_str_c(v[i]->key), key))
            return true;
    return false;
}

static bool icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return true;
    return false;
}

/* Every server recommendation of the sample is in the table with its name, severity and
 * current MCSB controls. */
static void test_defender_rows_match_sample(void **state)
{
    (void)state;
    json_t *arr = load_json_sample("defender-server-assessments.json");
    pd_controls *t = g_table;
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 73);
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a)
    {
        const char *key = json_string_value(json_object_get(a, "assessmentKey"));
        const char *name = json_string_value(json_object_get(a, "displayName"));
        const pd_control_def *d = pd_controls_find(t, pd_str_c(key));
        if (!d)
            fail_msg("assessment %s missing from the table", key);
        assert_string_equal(d->name, name);
        assert_string_equal(d->source, "defender");
        const char *sev = json_string_value(json_object_get(a, "severity"));
        pd_severity want = PD_SEV_UNKNOWN;
        if (sev)
            assert_int_equal(pd_severity_parse(pd_str_c(sev), &want), 0);
        assert_int_equal(d->severity, want);
        json_t *mcsb = json_object_get(a, "mcsbControls");
        if (json_array_size(mcsb) == 0)
            mcsb = json_object_get(a, "mcsbControlsEverInInitiative");
        size_t j;
        json_t *c;
        json_array_foreach(mcsb, j, c)
        {
            char id[64];
            snprintf(id, sizeof(id), "MCSB:%s", json_string_value(c));
            if (!has_fw(d, id))
                fail_msg("%s lacks %s", key, id);
            assert_true(pd_control_in_framework(d, id));
        }
        /* CIS/NIST/PCI ids of a Defender row come only through its MCSB controls. */
        if (pd_control_in_framework(d, "CIS:*") || pd_control_in_framework(d, "NIST:*") ||
            pd_control_in_framework(d, "PCI:*"))
            assert_true(json_array_size(mcsb) > 0);
    }
    json_decref(arr);
}

static void test_lookup_case_insensitive(void **state)
{
    (void)state;
    json_t *arr = load_json_sample("defender-server-assessments.json");
    pd_controls *t = g_table;
    const char *key = json_string_value(json_object_get(json_array_get(arr, 5), "assessmentKey"));
    char upper[64];
    size_t n = strlen(key);
    assert_true(n < sizeof(upper));
    for (size_t i = 0; i <= n; i++)
        upper[i] = (char)toupper((unsigned char)key[i]);
    const pd_control_def *a = pd_controls_find(t, pd_str_c(key));
    const pd_control_def *b = pd_controls_find(t, pd_str_c(upper));
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_equal(pd_controls_at(t, a->index), a);
    assert_null(pd_controls_find(t, pd_str_c("00000000-0000-0000-0000-000000000000")));
    assert_null(pd_controls_find(t, PD_STR_NULL));
    assert_null(pd_controls_at(t, pd_controls_count(t)));
    json_decref(arr);
}

/* Roles and categories: every sample recommendation whose name says EDR is an edr control
 * and a defense; MCSB:ES-1 lists exactly the sample keys mapped to ES-1. */
static void test_roles_and_frameworks(void **state)
{
    (void)state;
    json_t *arr = load_json_sample("defender-server-assessments.json");
    pd_controls *t = g_table;
    const pd_control_def *v[256];
    uint32_t nedr = pd_controls_by_role(t, PD_ROLE_EDR, v, 256);
    uint32_t nedr_cat = pd_controls_by_category(t, "EDR", NULL, 0);
    assert_int_equal(nedr, nedr_cat);
    size_t i, want_edr = 0, want_es1 = 0, want_vuln = 0;
    json_t *a;
    json_array_foreach(arr, i, a)
    {
        const char *key = json_string_value(json_object_get(a, "assessmentKey"));
        const char *name = json_string_value(json_object_get(a, "displayName"));
        if (strstr(name, "EDR ")) {
            want_edr++;
            assert_true(in_list(v, nedr, key));
            assert_true(pd_control_is_defense(pd_controls_find(t, pd_str_c(key))));
        }
        if (icontains(name, "vulnerability assessment solution") ||
            icontains(name, "vulnerability findings"))
            want_vuln++;
        json_t *c;
        size_t j;
        json_array_foreach(json_object_get(a, "mcsbControls"), j, c)
        {
            if (!strcmp(json_string_value(c), "ES-1"))
                want_es1++;
        }
    }
    assert_int_equal(nedr, want_edr);
    assert_true(want_es1 > 0);
    assert_int_equal(pd_controls_by_framework(t, "MCSB:ES-1", NULL, 0), want_es1);
    assert_int_equal(pd_controls_by_framework(t, "mcsb:es-1", NULL, 0), want_es1);
    /* The vulnerability category holds at least the VA and findings recommendations. */
    uint32_t nv = pd_controls_by_category(t, "vulnerability", v, 256);
    assert_true(nv >= want_vuln);
    for (uint32_t k = 0; k < nv && k < 256; k++)
        assert_true(!strcmp(v[k]->category, "vulnerability") ||
                    pd_control_has_role(v[k], PD_ROLE_VULNERABILITY_ASSESSMENT) ||
                    pd_control_has_role(v[k], PD_ROLE_VULNERABILITY_FINDINGS));
    /* A listing with a small cap still counts everything. */
    const pd_control_def *one[1];
    uint32_t total = pd_controls_by_framework(t, "MCSB:*", one, 1);
    assert_true(total > 1);
    assert_true(pd_control_in_framework(one[0], "MCSB:*"));
    assert_int_equal(pd_controls_by_source(t, "defender", NULL, 0), json_array_size(arr));
    json_decref(arr);
}

/* ASFF and SCC rows come from the sample findings. */
static void test_asff_scc_rows(void **state)
{
    (void)state;
    pd_controls *t = g_table;
    json_t *f =
        load_json_sample("aws-solutions_automated-security-response-on-aws__afsbp-ec2.8.json");
    const char *cid =
        json_string_value(json_object_get(json_object_get(f, "Compliance"), "SecurityControlId"));
    const char *title = json_string_value(json_object_get(f, "Title"));
    const pd_control_def *d = pd_controls_find(t, pd_str_c(cid));
    assert_non_null(d);
    assert_string_equal(d->source, "asff");
    assert_non_null(strstr(title, d->name));
    pd_severity sev;
    assert_int_equal(pd_severity_parse(pd_str_c(json_string_value(json_object_get(
                                           json_object_get(f, "Severity"), "Label"))),
                                       &sev),
                     0);
    assert_int_equal(d->severity, sev);
    json_decref(f);

    json_t *env =
        load_json_sample("aws-solutions_automated-security-response-on-aws__afsbp-ec2.7.json");
    json_t *fin = json_array_get(json_object_get(json_object_get(env, "detail"), "findings"), 0);
    cid = json_string_value(json_object_get(json_object_get(fin, "ProductFields"), "ControlId"));
    assert_non_null(pd_controls_find(t, pd_str_c(cid)));
    json_decref(env);

    const char *scc[] = {"GoogleCloudPlatform_security-response-automation__open_ssh_port-"
                         "remediated.json",
                         "GoogleCloudPlatform_security-response-automation__public_ip_address-"
                         "remediated.json"};
    for (size_t k = 0; k < PD_ARRAY_LEN(scc); k++) {
        json_t *s = load_json_sample(scc[k]);
        json_t *fi = json_object_get(s, "finding");
        const char *cat = json_string_value(json_object_get(fi, "category"));
        d = pd_controls_find(t, pd_str_c(cat));
        assert_non_null(d);
        assert_string_equal(d->source, "scc");
        json_t *nist = json_object_get(
            json_object_get(json_object_get(fi, "sourceProperties"), "compliance_standards"),
            "nist");
        size_t j;
        json_t *ent;
        json_array_foreach(nist, j, ent)
        {
            size_t m;
            json_t *id;
            json_array_foreach(json_object_get(ent, "ids"), m, id)
            {
                char fw[64];
                snprintf(fw, sizeof(fw), "NIST:%s", json_string_value(id));
                assert_true(has_fw(d, fw));
            }
        }
        json_decref(s);
    }
}

static void expect_error(const char *yaml, const char *needle)
{
    pd_diag diag = {{0}};
    pd_controls *t = NULL;
    int rc = pd_controls_load_buf("t.yaml", yaml, strlen(yaml), &t, &diag);
    assert_int_equal(rc, PD_ECONFIG);
    assert_null(t);
    if (!strstr(diag.msg, needle))
        fail_msg("diag '%s' lacks '%s'", diag.msg, needle);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("controls:\n  - key: a\n    name: A\n    category: x\n    colour: red\n",
                 "t.yaml:5:5: unknown key 'colour'");
    expect_error("controls:\n  - key: a\n    name: A\n    category: x\n"
                 "  - key: A\n    name: B\n    category: y\n",
                 "t.yaml:5:10: duplicate control key 'A'");
    expect_error("controls:\n  - key: a\n    name: A\n    category: x\n    roles: [edr, wizard]\n",
                 "t.yaml:5:18: unknown role 'wizard'");
    expect_error("controls:\n  - key: a\n    name: A\n    category: x\n    severity: dire\n",
                 "t.yaml:5:15: unknown severity 'dire'");
    expect_error("controls:\n  - key: a\n    category: x\n", "missing required key 'name'");
    expect_error("controls:\n  - key: a\n    name: A\n    category: x\n    frameworks: [ES-1]\n",
                 "needs a prefix");
    expect_error("version: 2\ncontrols: []\n", "t.yaml:1:10:");
    expect_error("nothing: here\n", "unknown key 'nothing'");

    /* A minimal valid table. */
    const char *ok = "controls:\n  - key: K1\n    name: One\n    category: endpoint\n"
                     "    roles: [edr]\n    frameworks: ['MCSB:ES-1']\n    severity: High\n";
    pd_diag diag = {{0}};
    pd_controls *t = NULL;
    assert_int_equal(pd_controls_load_buf("ok.yaml", ok, strlen(ok), &t, &diag), 0);
    assert_int_equal(pd_controls_count(t), 1);
    const pd_control_def *d = pd_controls_find(t, pd_str_c("k1"));
    assert_non_null(d);
    assert_int_equal(d->severity, PD_SEV_HIGH);
    assert_true(pd_control_is_defense(d));
    assert_string_equal(d->source, "defender");
    pd_controls_destroy(t);
    pd_controls_destroy(NULL);
}

static void test_role_names(void **state)
{
    (void)state;
    for (int r = 0; r < PD_ROLE__COUNT; r++) {
        pd_control_role back;
        assert_int_equal(pd_control_role_parse(pd_str_c(pd_control_role_name(r)), &back), 0);
        assert_int_equal(back, r);
    }
    pd_control_role x;
    assert_int_equal(pd_control_role_parse(pd_str_c("nope"), &x), PD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defender_rows_match_sample),
        cmocka_unit_test(test_lookup_case_insensitive),
        cmocka_unit_test(test_roles_and_frameworks),
        cmocka_unit_test(test_asff_scc_rows),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_role_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
