/* pd_posture.h: what the correlation engine may ask the goals engine about one resource's
 * current posture. The goals engine implements it (pd_engine_posture_ops); the correlator
 * only calls it. Callbacks run synchronously; every pd_str passed to them is valid only
 * during the call. Thread: the loop thread. */
#ifndef PD_POSTURE_H
#define PD_POSTURE_H

#include "pd_common.h"
#include "pd_model.h"

typedef void (*pd_posture_goal_fn)(void *fctx, pd_str goal_id, pd_str goal_title);
typedef void (*pd_posture_finding_fn)(void *fctx, pd_str control_key, pd_str control_name,
                                      pd_severity sev, int64_t unhealthy_since_ms);

typedef struct pd_posture_ops {
    /* Calls fn for each goal that resource (canonical id) currently violates; returns the
     * count. */
    uint32_t (*violated_goals)(void *ctx, pd_str resource_canon, pd_posture_goal_fn fn, void *fctx);
    /* Calls fn for each unhealthy pair of the resource with severity >= min; returns the
     * count. */
    uint32_t (*open_findings)(void *ctx, pd_str resource_canon, pd_severity min,
                              pd_posture_finding_fn fn, void *fctx);
    /* Current status of one pair (PD_STATUS_UNKNOWN when never seen). */
    pd_status (*pair_status)(void *ctx, pd_str resource_canon, pd_str control_key);
} pd_posture_ops;

#endif
