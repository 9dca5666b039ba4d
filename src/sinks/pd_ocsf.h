/* pd_ocsf.h: signals as OCSF 1.3 findings. Drift signals become Compliance Findings
 * (class_uid 2003), breach signals Detection Findings (class_uid 2004), both in category 2
 * (Findings). Fields not in OCSF go under "unmapped".
 *
 * Ownership: the caller owns out. Thread: any. */
#ifndef PD_OCSF_H
#define PD_OCSF_H

#include "pd_buf.h"
#include "pd_signal.h"

#define PD_OCSF_VERSION           "1.3.0"
#define PD_OCSF_CATEGORY_FINDINGS 2
#define PD_OCSF_CLASS_COMPLIANCE  2003
#define PD_OCSF_CLASS_DETECTION   2004
#define PD_OCSF_ACTIVITY_CREATE   1
#define PD_OCSF_ACTIVITY_UPDATE   2
#define PD_OCSF_ACTIVITY_CLOSE    3

/* Appends one OCSF object (one line, no newline). scratch is a reused work buffer (NULL:
 * a temporary one is allocated for the call). */
void pd_ocsf_write(const pd_signal *s, pd_buf *out, pd_buf *scratch);
/* The activity for a signal: CLOSE for *.recovered / *.restored, UPDATE for updates. */
int pd_ocsf_activity(const pd_signal *s);

#endif
