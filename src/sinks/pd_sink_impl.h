/* pd_sink_impl.h: internals shared by the built-in sinks (not for other modules).
 * Thread: the loop thread. Ownership: see each function. */
#ifndef PD_SINK_IMPL_H
#define PD_SINK_IMPL_H

#include "pd_sink.h"

extern const pd_sink_ops pd_sink_file_ops;
extern const pd_sink_ops pd_sink_stdout_ops;
extern const pd_sink_ops pd_sink_webhook_ops;

/* Converts one JSON value (a native signal or digest) to msgpack, appending to out.
 * PD_EINVAL when the text is not JSON. Reuses *scratch between calls (caller frees). */
int pd_msgpack_from_json(const char *json, size_t len, pd_buf *out, pd_buf *scratch);

/* The digest as a JSON object {"signal":"digest",...} (one line). */
void pd_sink_digest_to_json(const pd_sink_digest *d, const char *sink_name, pd_buf *out);

/* The environment the sink was created with (copied at creation). */
const pd_sink_env *pd_sink_get_env(const pd_sink *s);
int64_t pd_sink_now(const pd_sink *s);

/* Reads an optional scalar key of map n into *out (NULL when absent). */
int pd_sink_opt_str(const pd_ydoc *doc, const pd_ynode *n, const char *key, const char **out,
                    pd_diag *diag);

#endif
