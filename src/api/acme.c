/* acme.c - TEMPORARY scaffolding: the ACME owner replaces this file with the
 * RFC 8555 server (docs/acme.md). Until then /acme/ answers 404. */
#include "api/api.h"

int hilt_acme_init(struct hilt_api *api, struct hilt_err *e)
{
    (void)api, (void)e;
    return 0;
}

void hilt_acme_free(struct hilt_api *api)
{
    (void)api;
}

void hilt_acme_handle(struct hilt_api *api, const struct hilt_req *req,
                      struct hilt_reply *resp)
{
    (void)api;
    hilt_reply_problem(resp, 404, "urn:ietf:params:acme:error:malformed", "no ACME resource %s",
                           req->path);
}
