/*
 * scheduler.c - renewal arithmetic.  See scheduler.h.
 *
 * Everything is derived from the certificate's own lifetime: a fixed
 * "30 days before expiry" would be wrong for a 6-day certificate and
 * wasteful for a 199-day one.
 */
#include <math.h>
#include <string.h>

#include "scheduler.h"

time_t
sched_renewal_time(time_t not_before, time_t not_after, long long renew_before)
{
	time_t lifetime = not_after > not_before ? not_after - not_before : 0;

	if (renew_before > 0) {
		/* A renew_before near or beyond the lifetime (30d on a 6-day
		 * certificate) would renew right after every issuance: cap it
		 * at half the lifetime. */
		if (renew_before > (long long)lifetime / 2)
			renew_before = (long long)lifetime / 2;
		return not_after - (time_t)renew_before;
	}
	return not_after - lifetime / 3;
}

time_t
sched_apply_jitter(time_t t, time_t not_before, time_t not_after, long long jitter,
    double rand)
{
	long long cap = (long long)(not_after - not_before) / 10;
	long long j = jitter < cap ? jitter : cap;

	/* Never spend more than half of what is left before expiry (a tiny
	 * renew_before would otherwise be pushed past not_after). */
	if (j > (long long)(not_after - t) / 2)
		j = (long long)(not_after - t) / 2;
	if (j <= 0 || rand <= 0)
		return t;
	return t + (time_t)((double)j * rand);
}

time_t
sched_ari_pick(time_t start, time_t end, double rand)
{
	if (end <= start)
		return start;
	return start + (time_t)((double)(end - start) * rand);
}

long long
sched_ari_recheck(long long retry_after)
{
	if (retry_after < SCHED_ARI_RETRY_MIN)
		return SCHED_ARI_RETRY_MIN;
	if (retry_after > SCHED_ARI_RETRY_MAX)
		return SCHED_ARI_RETRY_MAX;
	return retry_after;
}

double
sched_ari_first_check(size_t ncerts, double rand)
{
	double spread = (double)ncerts / SCHED_ARI_START_RATE;

	if (spread > SCHED_ARI_START_SPREAD)
		spread = SCHED_ARI_START_SPREAD;
	return spread * rand;
}

double
sched_backoff(int failures, long long retry_after, double rand)
{
	double d;

	if (failures < 1)
		failures = 1;
	d = failures > 20 ? SCHED_BACKOFF_MAX : SCHED_BACKOFF_MIN * pow(2, failures - 1);
	if (d > SCHED_BACKOFF_MAX)
		d = SCHED_BACKOFF_MAX;
	d *= 0.8 + 0.4 * rand;
	if (retry_after > 0 && (double)retry_after > d)
		d = (double)retry_after;
	return d;
}

bool
sched_needs_issue(const struct config_cert *c, const struct cert_state *st, char *reason,
    size_t len)
{
	if (st->version == 0 || st->not_after == 0) {
		snprintf(reason, len, "no certificate issued yet");
		return true;
	}
	if (!strlist_equal_sorted(&c->domains, &st->names)) {
		snprintf(reason, len, "names changed in the inventory");
		return true;
	}
	if (st->key_type != (int)c->key_type) {
		snprintf(reason, len, "key type changed in the inventory");
		return true;
	}
	if (st->account == NULL || strcmp(st->account, c->account_name) != 0) {
		snprintf(reason, len, "account changed in the inventory");
		return true;
	}
	/* Revoked with --no-reissue: the operator renews it, or the normal
	 * schedule does. */
	if (st->revoked && !st->revoked_no_reissue) {
		snprintf(reason, len, "certificate was revoked");
		return true;
	}
	return false;
}

bool
sched_fault_transient(long status, const char *problem_type, long long retry_after,
    long long max_wait)
{
	static const char prefix[] = "urn:ietf:params:acme:error:";
	const char *t = problem_type;

	if (status < 0)
		return false;
	if (status == 0)
		return true;
	if (t != NULL && strncmp(t, prefix, sizeof(prefix) - 1) == 0)
		t += sizeof(prefix) - 1;
	if (t != NULL && (strcmp(t, "rateLimited") == 0 || status == 429))
		return retry_after > 0 && retry_after <= max_wait;
	if (t == NULL && status == 429)
		return retry_after > 0 && retry_after <= max_wait;
	if (t != NULL && (strcmp(t, "badNonce") == 0 || strcmp(t, "serverInternal") == 0))
		return true;
	/* A problem type says what is wrong; only a server error without one
	 * (or with serverInternal, above) is the server's passing trouble. */
	if (t != NULL)
		return false;
	return status >= 500 && status <= 599;
}
