/* pd_jsmn.c: the one translation unit that compiles jsmn's implementation (JSMN_PARENT_LINKS
 * is defined for the whole build). Every other file includes <jsmn.h> with JSMN_HEADER. */
#include <jsmn.h>
