#include "pd_test.h"

#include "pd_yaml.h"

static const char *const goal_keys[] = {"id", "title", "target", "controls", NULL};

static pd_ydoc *load(const char *text, pd_diag *d)
{
    pd_ydoc *doc = NULL;
    int rc = pd_yaml_load_buf("goals.yaml", text, strlen(text), &doc, d);
    return rc ? NULL : doc;
}

static void test_tree_and_positions(void **state)
{
    (void)state;
    pd_diag d = {{0}};
    pd_ydoc *doc = load("goals:\n  - id: edr-prod\n    target: \">= 98%\"\n"
                        "    controls: [a, b]\n",
                        &d);
    assert_non_null(doc);
    const pd_ynode *root = pd_yaml_root(doc);
    assert_int_equal(root->type, PD_YMAP);
    const pd_ynode *goals = pd_ymap_get(root, "goals");
    assert_int_equal(goals->type, PD_YSEQ);
    assert_int_equal(goals->n, 1);
    const pd_ynode *g = goals->items[0];
    assert_int_equal(pd_ymap_check(doc, g, goal_keys, &d), 0);
    const pd_ynode *id = pd_ymap_get(g, "id");
    assert_string_equal(id->str, "edr-prod");
    assert_int_equal(id->line, 2);
    assert_int_equal(id->col, 9);
    assert_true(pd_ymap_get(g, "target")->quoted);
    const char **list;
    uint32_t n;
    assert_int_equal(pd_ynode_strlist(doc, pd_ymap_get(g, "controls"), &list, &n, &d), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[1], "b");
    pd_yaml_free(doc);
}

static void test_unknown_key_position(void **state)
{
    (void)state;
    pd_diag d = {{0}};
    pd_ydoc *doc = load("id: x\ntitle: t\n  \ntargte: 5\n", &d);
    assert_non_null(doc);
    int rc = pd_ymap_check(doc, pd_yaml_root(doc), goal_keys, &d);
    assert_int_equal(rc, PD_ECONFIG);
    assert_non_null(strstr(d.msg, "goals.yaml:4:1: unknown key 'targte'"));
    pd_yaml_free(doc);
}

static void test_duplicate_key(void **state)
{
    (void)state;
    pd_diag d = {{0}};
    pd_ydoc *doc = load("id: x\nid: y\n", &d);
    assert_non_null(doc);
    assert_int_equal(pd_ymap_check(doc, pd_yaml_root(doc), goal_keys, &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "goals.yaml:2:1: duplicate key 'id'"));
    pd_yaml_free(doc);
}

static void test_syntax_error_position(void **state)
{
    (void)state;
    pd_diag d = {{0}};
    assert_null(load("a: [1, 2\nb: 3\n", &d));
    assert_non_null(strstr(d.msg, "goals.yaml:"));
    assert_null(load("a: *anchor\n", &d));
    assert_non_null(strstr(d.msg, "goals.yaml:1:"));
}

static void test_typed_scalars(void **state)
{
    (void)state;
    pd_diag d = {{0}};
    pd_ydoc *doc = load("{\"n\": 12, \"b\": true, \"d\": \"72h\", \"x\": 1.5, \"bad\": zz}", &d);
    assert_non_null(doc); /* JSON is YAML */
    const pd_ynode *r = pd_yaml_root(doc);
    int64_t v;
    bool b;
    double x;
    assert_int_equal(pd_ynode_int(doc, pd_ymap_get(r, "n"), 0, 100, &v, &d), 0);
    assert_int_equal(v, 12);
    assert_int_equal(pd_ynode_int(doc, pd_ymap_get(r, "n"), 0, 10, &v, &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "out of range"));
    assert_int_equal(pd_ynode_bool(doc, pd_ymap_get(r, "b"), &b, &d), 0);
    assert_true(b);
    assert_int_equal(pd_ynode_duration(doc, pd_ymap_get(r, "d"), &v, &d), 0);
    assert_int_equal(v, 72 * 3600 * 1000LL);
    assert_int_equal(pd_ynode_double(doc, pd_ymap_get(r, "x"), &x, &d), 0);
    assert_true(x == 1.5);
    assert_int_equal(pd_ynode_int(doc, pd_ymap_get(r, "bad"), 0, 10, &v, &d), PD_ECONFIG);
    assert_non_null(strstr(d.msg, "goals.yaml:1:"));
    pd_yaml_free(doc);
}

static void test_missing_file(void **state)
{
    (void)state;
    pd_diag d = {{0}};
    pd_ydoc *doc = NULL;
    assert_int_equal(pd_yaml_load_file("/nonexistent/x.yaml", &doc, &d), PD_EIO);
    assert_non_null(strstr(d.msg, "/nonexistent/x.yaml:0:0: cannot open"));
    pd_yaml_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_and_positions), cmocka_unit_test(test_unknown_key_position),
        cmocka_unit_test(test_duplicate_key),      cmocka_unit_test(test_syntax_error_position),
        cmocka_unit_test(test_typed_scalars),      cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
