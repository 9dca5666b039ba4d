/* pd_jsmn.c: the one translation unit that compiles jsmn's implementation (JSMN_PARENT_LINKS
 * is defined for the whole build). Every other file includes <jsmn.h> with JSMN_HEADER.
 * jsmn is the decoder's hottest loop: let GCC optimize it harder than the rest. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <jsmn.h>
