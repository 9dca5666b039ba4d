/* pd_intern.h: string interning. Each distinct byte string gets a small dense id
 * (1, 2, 3, ...; 0 means "none"), so state can refer to resources and controls by uint32.
 * Thread: one owner (the loop thread). Ownership: the table owns the stored strings;
 * pd_intern_str() slices stay valid until pd_intern_destroy. */
#ifndef PD_INTERN_H
#define PD_INTERN_H

#include "pd_arena.h"
#include "pd_common.h"

typedef struct pd_intern pd_intern;

int pd_intern_create(pd_intern **out);
void pd_intern_destroy(pd_intern *t);
/* Finds or inserts s; *out_id is never 0 on success. */
int pd_intern_get(pd_intern *t, pd_str s, uint32_t *out_id);
/* Finds without inserting: returns 0 when absent. */
uint32_t pd_intern_find(const pd_intern *t, pd_str s);
pd_str pd_intern_str(const pd_intern *t, uint32_t id);
uint32_t pd_intern_count(const pd_intern *t);
size_t pd_intern_bytes(const pd_intern *t); /* memory in use, for accounting */

#endif
