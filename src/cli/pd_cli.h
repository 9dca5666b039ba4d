/* pd_cli.h: the postured subcommands. Each returns a process exit code (0 ok, 1 failure,
 * 2 usage). Thread: main thread. Ownership: argv belongs to the caller. */
#ifndef PD_CLI_H
#define PD_CLI_H

int pd_cmd_gen(int argc, char **argv);      /* src/gen/pd_cmd_gen.c */
int pd_cmd_replay(int argc, char **argv);   /* src/engine/pd_cmd_replay.c */
int pd_cmd_validate(int argc, char **argv); /* src/engine/pd_cmd_validate.c */
int pd_cmd_run(int argc, char **argv);      /* src/kafka/pd_cmd_run.c */
int pd_cmd_demo(int argc, char **argv);     /* src/kafka/pd_cmd_demo.c */
int pd_cmd_bench(int argc, char **argv);    /* src/cli/pd_cmd_bench.c */
int pd_cmd_decode(int argc, char **argv);   /* src/decode/pd_cmd_decode.c */

#endif
