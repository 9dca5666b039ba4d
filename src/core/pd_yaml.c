/* Placeholder until the loader lands (within the hour): every load fails clearly. */
#include "pd_yaml.h"

#include <stdio.h>

int pd_yaml_load_file(const char *path, pd_ydoc **out, pd_diag *diag)
{
    (void)out;
    snprintf(diag->msg, sizeof(diag->msg), "%s:0:0: yaml loader not implemented yet", path);
    return PD_EUNSUPPORTED;
}
