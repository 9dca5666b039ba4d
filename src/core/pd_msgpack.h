/* pd_msgpack.h: a pre-check for untrusted msgpack (changelog records read back from Kafka).
 * msgpack_unpack_next trusts the counts and lengths a value declares and allocates for them,
 * so a damaged header can ask for gigabytes; pd_msgpack_sane walks the bytes first and says
 * whether they hold one complete value whose every declared count and length fits in them.
 * Thread: any (no state). */
#ifndef PD_MSGPACK_H
#define PD_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>

bool pd_msgpack_sane(const void *data, size_t n);

#endif
