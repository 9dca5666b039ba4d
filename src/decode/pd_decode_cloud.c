/* pd_decode_cloud.c: AWS Security Hub (ASFF), GCP Security Command Center and OCSF. */
#include "pd_decode_int.h"

int pd_dec_asff(pd_decoder *d, uint32_t obj, pd_event *e)
{
    (void)e;
    return pd_dec_fail(d, PD_EDEC_UNKNOWN_TYPE, pd_dec_off(d, obj), "ASFF not yet supported");
}

int pd_dec_scc(pd_decoder *d, uint32_t obj, uint32_t resource, pd_event *e)
{
    (void)e;
    (void)resource;
    return pd_dec_fail(d, PD_EDEC_UNKNOWN_TYPE, pd_dec_off(d, obj), "SCC not yet supported");
}

int pd_dec_ocsf(pd_decoder *d, uint32_t obj, pd_event *e)
{
    (void)e;
    return pd_dec_fail(d, PD_EDEC_UNKNOWN_TYPE, pd_dec_off(d, obj), "OCSF not yet supported");
}
