/* Placeholder until this command lands; it says so and fails. */
#include "pd_cli.h"

#include <stdio.h>

int pd_cmd_validate(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "postured %s: not implemented yet\n", argv[0]);
    return 2;
}
