/* pd_decode.h: JSON messages in, normalized pd_events out, or a typed decode error.
 *
 * One message may hold several events (a {"records":[...]} wrapper, a top-level array, an
 * EventBridge envelope with detail.findings[]): the decoder calls `emit` once per event.
 * The hot path tokenizes with jsmn into a reusable token array and never builds a DOM.
 *
 * Ownership: the caller owns the decoder and the message bytes; events passed to `emit`
 * point into the message and the decoder's scratch and are valid only during the callback.
 * Thread: a decoder is used by one thread at a time (the loop thread). */
#ifndef PD_DECODE_H
#define PD_DECODE_H

#include "pd_event.h"

/* Decode error codes (all <= PD_EDECODE_FIRST). The names are a contract: they appear in
 * dead-letter headers and metrics labels. */
enum {
    PD_EDEC_EMPTY = -100,           /* "empty": zero-length or whitespace-only message */
    PD_EDEC_TOO_BIG = -101,         /* "too_big": over max_message_bytes */
    PD_EDEC_SYNTAX = -102,          /* "syntax": not JSON, or truncated */
    PD_EDEC_UTF8 = -103,            /* "utf8": invalid UTF-8 or bad \u escape */
    PD_EDEC_DEPTH = -104,           /* "depth": nesting deeper than max_depth */
    PD_EDEC_NUL = -105,             /* "nul": embedded NUL byte */
    PD_EDEC_TOP_LEVEL = -106,       /* "top_level": top level is not an object or array */
    PD_EDEC_UNKNOWN_TYPE = -107,    /* "unknown_type": no decoder recognizes the shape */
    PD_EDEC_MISSING = -108,         /* "missing_field": a required field is absent */
    PD_EDEC_TYPE = -109,            /* "wrong_type": a field has the wrong JSON type */
    PD_EDEC_VALUE = -110,           /* "bad_value": e.g. an unparsable time or status */
    PD_EDEC_NUMBER = -111,          /* "number": NaN, Infinity or a malformed number */
    PD_EDEC_DUPLICATE = -112,       /* "duplicate_key": the same key twice in one object */
    PD_EDEC_TOO_MANY_TOKENS = -113, /* "too_many_tokens": over max_tokens */
    PD_EDEC_LAST = -113
};

typedef struct pd_decode_error {
    int code;          /* PD_EDEC_* */
    size_t offset;     /* byte offset in the message where the problem was found */
    char message[160]; /* human-readable, names the field when there is one */
} pd_decode_error;

typedef struct pd_decode_opts {
    size_t max_message_bytes; /* default 1 MiB (Event Hubs' limit) */
    uint32_t max_depth;       /* default 64 */
    uint32_t max_tokens;      /* default 262144 */
    bool no_prescan;          /* default false; true: jsmn over the message itself (the
                                 reference path for tests; same results, slower) */
} pd_decode_opts;

typedef struct pd_decoder pd_decoder;

/* Called once per decoded event; return non-zero to stop (that value is returned). */
typedef int (*pd_emit_fn)(void *ctx, const pd_event *ev);

void pd_decode_opts_default(pd_decode_opts *o);
int pd_decoder_create(const pd_decode_opts *opts, pd_decoder **out); /* opts may be NULL */
void pd_decoder_destroy(pd_decoder *d);

/* Decodes one message. fmt PD_FMT_AUTO detects by content. Returns 0 when every event was
 * emitted, a PD_EDEC_* code with *err filled (err may be NULL), or the emit callback's
 * non-zero value. On error no event of that message was emitted (validated first). */
int pd_decode(pd_decoder *d, const char *msg, size_t len, pd_format fmt, pd_emit_fn emit, void *ctx,
              pd_decode_error *err);

const char *pd_decode_error_name(int code); /* "syntax", "utf8", ... */

/* What the decoders read (field names match ASCII case-insensitively everywhere):
 * - Defender (`type` Microsoft.Security/...): assessments, assessments/subAssessments,
 *   secureScores, secureScores/secureScoreControls, regulatoryCompliance* records, alerts
 *   flat (SystemAlertId, AlertType, ...) or REST (`properties.*`). The enrichment wrapper
 *   (assessmentEventDataEnrichment / subAssessmentEventDataEnrichment /
 *   securityEventDataEnrichment) gives `action` (Delete -> deleted, status REMOVED) and
 *   `isSnapshot`. Tags: top-level `tags`, `properties.tags` or
 *   `properties.resourceDetails.tags` (an object of strings). Resource from
 *   properties.resourceDetails: an Azure `id`; or, when `source` (or `resourceProvider`) says
 *   Aws/Gcp and `nativeResourceId` is present, the ARN / GCP name becomes the canonical id
 *   with `hierarchyId` as account, `region`, `resourceType`, `resourceName`; Arc machines
 *   (microsoft.hybridcompute/machines) are onprem unless the source says Aws/Gcp.
 *   Assessment time_ms = statusChangeDate, else firstEvaluationDate; scores and compliance
 *   carry no time (time_ms PD_TIME_NONE: use the transport's timestamp). ARM resource
 *   records (`type` outside Microsoft.Security, `id` /subscriptions/...) are kind INVENTORY
 *   with `location` as region and `tags`.
 *   Alerts: status UNHEALTHY, HEALTHY once Status is Resolved or Dismissed; tactics from
 *   every comma-separated Intent value.
 * - ASFF (`SchemaVersion`), bare or in an EventBridge envelope (`detail.findings[]`):
 *   Resources[0] is the resource (ARN canonical); Compliance.Status PASSED -> healthy,
 *   FAILED/WARNING -> unhealthy, NOT_AVAILABLE -> not applicable; RecordState ARCHIVED ->
 *   deleted; control = SecurityControlId, else ProductFields.ControlId, else GeneratorId;
 *   TTPs/Effects/Unusual Behaviors types without Compliance are alerts; CVEs vulnerabilities.
 * - SCC notifications (`finding` + optional sibling `resource`) and bare findings: state
 *   ACTIVE -> unhealthy, INACTIVE -> healthy; findingClass THREAT -> alert (mitreAttack
 *   tactics), VULNERABILITY with a CVE -> vulnerability, else assessment; frameworks from
 *   sourceProperties.compliance_standards and compliances[] as "CIS:4.9".
 * - OCSF (`class_uid` 2002 vulnerability, 2003 compliance, 2004 detection; a 2004 with
 *   status_code PASS/FAIL, as Prowler writes, is an assessment).
 * Wrappers: `{"records":[...]}` and top-level arrays, each element one message.
 *
 * Validation is strict JSON (RFC 8259) for the whole message, on top of jsmn: separators,
 * literals, numbers (NaN/Infinity/leading zeros are PD_EDEC_NUMBER), control characters,
 * UTF-8 (no overlongs, no surrogates), \u escapes with surrogate pairs (\u0000 is
 * PD_EDEC_NUL), depth. Duplicate keys are detected among the keys the decoders read (case-
 * insensitively, since that is how they match); duplicates of keys nobody reads pass. */

#endif
