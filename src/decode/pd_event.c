#include "pd_event.h"

#include "pd_time.h"

#include <string.h>

void pd_event_reset(pd_event *e)
{
    memset(e, 0, sizeof(*e));
    e->time_ms = PD_TIME_NONE;
    e->first_seen_ms = PD_TIME_NONE;
    e->status_change_ms = PD_TIME_NONE;
    e->alert.start_ms = PD_TIME_NONE;
    e->alert.end_ms = PD_TIME_NONE;
    e->vuln.cvss = -1.0;
}
