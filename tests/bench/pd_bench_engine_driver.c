/* pd_bench_engine_driver: `postured bench engine` as its own program, for
 * tests/bench/bench_engine.sh while the CLI's `bench` command does not dispatch "engine".
 * Ownership: none (argv only). Thread: main. */
#include "pd_engine.h"

int main(int argc, char **argv)
{
    static char name[] = "engine";
    argv[0] = name; /* pd_cmd_bench_engine expects argv[0] == "engine" */
    return pd_cmd_bench_engine(argc, argv);
}
