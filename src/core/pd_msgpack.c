/* msgpack checks (see pd_msgpack.h). */
#include "pd_msgpack.h"

#include <stdint.h>

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

bool pd_msgpack_sane(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t pending = 1;
    size_t i = 0;
    while (pending) {
        if (i >= n)
            return false;
        uint8_t b = p[i++];
        pending--;
        uint64_t cnt = 0, skip = 0;
        int lenb = 0; /* bytes of a length field that follows */
        bool is_ext = false, is_map = false, is_arr = false;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            ;
        else if (b >= 0x80 && b <= 0x8f)
            cnt = (uint64_t)(b & 0xf) * 2;
        else if (b >= 0x90 && b <= 0x9f)
            cnt = b & 0xf;
        else if (b >= 0xa0 && b <= 0xbf)
            skip = b & 0x1f;
        else {
            switch (b) {
            case 0xc4:
            case 0xd9:
                lenb = 1;
                break;
            case 0xc5:
            case 0xda:
                lenb = 2;
                break;
            case 0xc6:
            case 0xdb:
                lenb = 4;
                break;
            case 0xc7:
                lenb = 1;
                is_ext = true;
                break;
            case 0xc8:
                lenb = 2;
                is_ext = true;
                break;
            case 0xc9:
                lenb = 4;
                is_ext = true;
                break;
            case 0xca:
                skip = 4;
                break;
            case 0xcb:
                skip = 8;
                break;
            case 0xcc:
            case 0xd0:
                skip = 1;
                break;
            case 0xcd:
            case 0xd1:
                skip = 2;
                break;
            case 0xce:
            case 0xd2:
                skip = 4;
                break;
            case 0xcf:
            case 0xd3:
                skip = 8;
                break;
            case 0xd4:
                skip = 2;
                break;
            case 0xd5:
                skip = 3;
                break;
            case 0xd6:
                skip = 5;
                break;
            case 0xd7:
                skip = 9;
                break;
            case 0xd8:
                skip = 17;
                break;
            case 0xdc:
                lenb = 2;
                is_arr = true;
                break;
            case 0xdd:
                lenb = 4;
                is_arr = true;
                break;
            case 0xde:
                lenb = 2;
                is_map = true;
                break;
            case 0xdf:
                lenb = 4;
                is_map = true;
                break;
            default:
                return false; /* 0xc1: never used */
            }
        }
        if (lenb) {
            if ((size_t)lenb > n - i)
                return false;
            uint64_t l = be(p + i, lenb);
            i += (size_t)lenb;
            if (is_arr)
                cnt = l;
            else if (is_map)
                cnt = l * 2;
            else
                skip = l + (is_ext ? 1 : 0);
        }
        if (skip > n - i)
            return false;
        i += (size_t)skip;
        if (cnt > n - i)
            return false;
        pending += cnt;
    }
    return true;
}
