/* postured: real-time security-posture engine. Subcommand dispatch only. */
#include "pd_cli.h"
#include "pd_config.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} pd_command;

static const pd_command commands[] = {
    {"demo", pd_cmd_demo, "run the shipped pipeline against an embedded Kafka mock cluster"},
    {"run", pd_cmd_run, "consume Kafka / Event Hubs topics and produce signals (the daemon)"},
    {"replay", pd_cmd_replay, "drive the engines over JSONL files in event time, print signals"},
    {"validate", pd_cmd_validate, "check goal, rule, pipeline and config files"},
    {"gen", pd_cmd_gen, "generate a realistic, deterministic event stream"},
    {"decode", pd_cmd_decode, "decode JSONL messages and print normalized events"},
    {"bench", pd_cmd_bench, "benchmarks (decode, engine)"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "postured %s: real-time security-posture engine\n\nusage: postured COMMAND "
            "[ARGS]\n\ncommands:\n",
            PD_VERSION);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n  %-10s %s\n\n'postured COMMAND --help' describes each command.\n",
            "help", "this text ('help config': every daemon option)", "--version",
            "print the version");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("postured %s\n", PD_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") && argc > 2 && !strcmp(argv[2], "config")) {
        pd_config_describe(stdout);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "postured: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
