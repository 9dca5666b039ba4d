/* webhook sink: placeholder until the libevent client lands. */
#include "pd_sink_impl.h"

static const char *const webhook_keys[] = {"preset", "url", "url_env", "token_env", NULL};

static int wh_create(const pd_sink_create_args *a, void **impl, pd_diag *diag)
{
    PD_UNUSED(impl);
    return pd_diag_at(diag, a->doc, a->node, "webhook sink not implemented yet");
}

static int wh_submit(void *impl, const pd_sink_msg *m)
{
    PD_UNUSED(impl);
    PD_UNUSED(m);
    return PD_EUNSUPPORTED;
}

static void wh_destroy(void *impl)
{
    PD_UNUSED(impl);
}

const pd_sink_ops pd_sink_webhook_ops = {"webhook", webhook_keys, wh_create, wh_submit,
                                         NULL,      NULL,         wh_destroy};
