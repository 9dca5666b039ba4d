/* postured validate: checks goal, rule, pipeline and config files; dispatches on the
 * top-level key (goals:, rules:, pipeline:, controls:, anything else: a daemon config). A
 * pipeline's goal and rule files are checked too. Errors: file:line:column: message. */
#include "pd_cli.h"
#include "pd_config.h"
#include "pd_correlate.h"
#include "pd_goals.h"
#include "pd_pipeline.h"
#include "pd_sink.h"
#include "pd_sink_kafka.h"
#include "pd_yaml.h"

#include <stdio.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("pd_controls.h")
#include "pd_controls.h"
#define PD_HAVE_CONTROLS 1
#endif
#endif

static int check_goals(const char *path, uint32_t *count)
{
    pd_goal_set *set = NULL;
    pd_diag d;
    int rc = pd_goal_set_load_file(&set, path, &d);
    if (rc)
        fprintf(stderr, "%s\n", d.msg);
    else
        *count = pd_goal_set_count(set);
    pd_goal_set_destroy(set);
    return rc;
}

static int check_rules(const char *path, uint32_t *count)
{
    pd_rule_set *set = NULL;
    pd_diag d;
    int rc = pd_rule_set_load_file(&set, path, &d);
    if (rc)
        fprintf(stderr, "%s\n", d.msg);
    else
        *count = pd_rule_set_count(set);
    pd_rule_set_destroy(set);
    return rc;
}

static int check_pipeline(const char *path)
{
    pd_pipeline *p = NULL;
    pd_diag d;
    int rc = pd_pipeline_load(path, &p, &d);
    if (rc) {
        fprintf(stderr, "%s\n", d.msg);
        return rc;
    }
    /* Goal ids are unique across the pipeline's goal files: load them into one set. */
    pd_goal_set *set = NULL;
    uint32_t nrules = 0;
    for (uint32_t i = 0; i < p->ngoal_files; i++) {
        if (pd_goal_set_load_file(&set, p->goal_files[i], &d)) {
            fprintf(stderr, "%s\n", d.msg);
            rc = PD_ECONFIG;
        }
    }
    for (uint32_t i = 0; i < p->nrule_files; i++) {
        uint32_t n = 0;
        if (check_rules(p->rule_files[i], &n))
            rc = PD_ECONFIG;
        nrules += n;
    }
#ifdef PD_HAVE_CONTROLS
    if (p->controls_file) {
        pd_controls *t = NULL;
        if (pd_controls_load_file(p->controls_file, &t, &d)) {
            fprintf(stderr, "%s\n", d.msg);
            rc = PD_ECONFIG;
        }
        pd_controls_destroy(t);
    }
#endif
    /* The sinks as `postured run` reads them, without opening files or connecting. Relative
     * file paths resolve where `run` resolves them (its working directory). */
    uint32_t nsinks = 0;
    if (p->sinks) {
        if (pd_sink_set_check(&pd_sink_kafka_check_env, p->doc, p->sinks, &d)) {
            fprintf(stderr, "%s\n", d.msg);
            rc = PD_ECONFIG;
        } else if (p->sinks->type == PD_YSEQ) {
            nsinks = p->sinks->n;
        }
    }
    if (!rc)
        printf("%s: ok (pipeline %s: %u goals, %u rules, %u inputs, %u sinks)\n", path, p->name,
               pd_goal_set_count(set), nrules, p->ninputs, nsinks);
    pd_goal_set_destroy(set);
    pd_pipeline_destroy(p);
    return rc;
}

static int check_file(const char *path)
{
    pd_ydoc *doc = NULL;
    pd_diag d;
    if (pd_yaml_load_file(path, &doc, &d)) {
        fprintf(stderr, "%s\n", d.msg);
        return PD_ECONFIG;
    }
    const pd_ynode *root = pd_yaml_root(doc);
    bool goals = false, rules = false, pipeline = false, controls = false;
    if (root && root->type == PD_YMAP) {
        goals = pd_ymap_get(root, "goals") != NULL;
        rules = pd_ymap_get(root, "rules") != NULL;
        /* A daemon config names its pipeline file (`pipeline: path`); a pipeline file is a map. */
        const pd_ynode *pn = pd_ymap_get(root, "pipeline");
        pipeline = pn && pn->type == PD_YMAP;
        controls = pd_ymap_get(root, "controls") != NULL;
    }
    int rc = 0;
    uint32_t n = 0;
    if (goals) {
        pd_yaml_free(doc);
        if (!(rc = check_goals(path, &n)))
            printf("%s: ok (%u goals)\n", path, n);
        return rc;
    }
    if (rules) {
        pd_yaml_free(doc);
        if (!(rc = check_rules(path, &n)))
            printf("%s: ok (%u rules)\n", path, n);
        return rc;
    }
    if (pipeline) {
        pd_yaml_free(doc);
        return check_pipeline(path);
    }
    if (controls) {
        pd_yaml_free(doc);
#ifdef PD_HAVE_CONTROLS
        pd_controls *t = NULL;
        if ((rc = pd_controls_load_file(path, &t, &d)))
            fprintf(stderr, "%s\n", d.msg);
        else
            printf("%s: ok (%u controls)\n", path, pd_controls_count(t));
        pd_controls_destroy(t);
#else
        printf("%s: control tables are not checked by this build\n", path);
#endif
        return rc;
    }
    /* Anything else is a daemon config file. */
    pd_config *cfg = NULL;
    if ((rc = pd_config_create(&cfg)) == 0 && (rc = pd_config_apply_doc(cfg, doc, &d)) != 0)
        fprintf(stderr, "%s\n", d.msg);
    else if (!rc)
        printf("%s: ok (config)\n", path);
    pd_config_destroy(cfg);
    pd_yaml_free(doc);
    return rc;
}

int pd_cmd_validate(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: postured validate FILE...\n"
                "Checks goal, rule, pipeline, control-table and config files (by their top-level "
                "key);\nerrors are file:line:column: message. Exit 0 when every file is valid.\n");
        return argc < 2 ? 2 : 0;
    }
    int bad = 0;
    for (int i = 1; i < argc; i++)
        if (check_file(argv[i]))
            bad++;
    return bad ? 1 : 0;
}
