/*
 * check_fleet_metrics.c - unit tests for fleet_metrics.c: readiness (what
 * certfleet_certificate_ready says for each way a certificate can fail to
 * match the inventory) and the per-certificate series of a loaded fleet
 * (values from the store, labels from the inventory, absent series for a
 * certificate never issued, the counters).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ev.h>

#include "acme.h"
#include "config.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "fleet_metrics.h"
#include "log.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#define NOW 1796083200  /* 2026-12-01T00:00:00Z */

static char dir[64];
static struct config *cfg;

static void
setup(void)
{
	char path[128], err[1024];
	FILE *fp;

	log_init("check_fleet_metrics", LOG_WARNING, LOG_STYLE_PLAIN);
	snprintf(dir, sizeof(dir), "/tmp/check_fleet_metrics.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/inv.yaml", dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "state_dir: %s/state\noutput_dir: %s/out\n"
	    "accounts:\n  ca:\n    directory: https://127.0.0.1:1/dir\n"
	    "    contact: mailto:a@example.com\n"
	    "  other:\n    directory: https://127.0.0.1:2/dir\n"
	    "    contact: mailto:a@example.com\n"
	    "certificates:\n"
	    "  - {name: www, account: ca, domains: [www.example.com, a.example.com]}\n"
	    "  - {name: new, account: ca, domains: [new.example.com], key_type: rsa-2048}\n",
	    dir, dir);
	fclose(fp);
	chmod(path, 0600);
	ck_assert_msg(config_load(path, &cfg, err, sizeof(err)) == 0, "%s", err);
}

static void
teardown(void)
{
	char cmd[128];

	config_free(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* What a successful issuance of www left in its state. */
static void
issued(struct cert_state *st)
{
	cert_state_init(st);
	strlist_add(&st->names, "www.example.com");
	strlist_add(&st->names, "a.example.com");
	st->key_type = KEY_EC_P256;
	st->account = xstrdup("ca");
	st->version = 1;
	st->serial = xstrdup("0A");
	st->not_before = NOW - 86400;
	st->not_after = NOW + 89 * 86400;
	st->last_success = NOW - 86400;
}

START_TEST(test_ready)
{
	const struct config_cert *c = &cfg->certs[0];
	struct cert_state st;

	issued(&st);
	ck_assert(fleet_metrics_ready(c, &st, NOW));
	/* The same names in another order are the same certificate. */
	free(st.names.v[0]);
	free(st.names.v[1]);
	st.names.v[0] = xstrdup("A.example.com");
	st.names.v[1] = xstrdup("www.example.com");
	ck_assert(fleet_metrics_ready(c, &st, NOW));
	ck_assert(!fleet_metrics_ready(c, &st, st.not_after));
	st.revoked = true;
	ck_assert(!fleet_metrics_ready(c, &st, NOW));
	cert_state_free(&st);

	issued(&st);
	strlist_add(&st.names, "b.example.com");
	ck_assert(!fleet_metrics_ready(c, &st, NOW));
	cert_state_free(&st);
	issued(&st);
	st.key_type = KEY_RSA_2048;
	ck_assert(!fleet_metrics_ready(c, &st, NOW));
	cert_state_free(&st);
	issued(&st);
	free(st.account);
	st.account = xstrdup("other");
	ck_assert(!fleet_metrics_ready(c, &st, NOW));
	cert_state_free(&st);
	issued(&st);
	st.version = 0;
	ck_assert(!fleet_metrics_ready(c, &st, NOW));
	cert_state_free(&st);
	/* A failing renewal of a valid certificate leaves it ready. */
	issued(&st);
	st.failures = 3;
	ck_assert(fleet_metrics_ready(c, &st, NOW));
	cert_state_free(&st);
}
END_TEST

START_TEST(test_fleet_series)
{
	struct store *store = NULL;
	struct acme_env env = {0};
	struct fleet *f;
	struct cert_state st;
	struct buf b = {0};
	char err[1024];
	const char *L = "{name=\"www\",account=\"ca\",key_type=\"ec-p256\"} ";
	char want[256];

	ck_assert_msg(store_open(cfg->state_dir, &store, err, sizeof(err)) == 0, "%s", err);
	issued(&st);
	st.not_before = NOW - 86400;
	st.not_after = NOW + 89 * 86400;
	ck_assert_int_eq(store_cert_save(store, "www", &st, err, sizeof(err)), 0);
	cert_state_free(&st);
	cert_state_init(&st);
	st.failures = 2;
	st.last_error = xstrdup("rejectedIdentifier");
	ck_assert_int_eq(store_cert_save(store, "new", &st, err, sizeof(err)), 0);
	cert_state_free(&st);

	env.loop = ev_default_loop(0);
	f = fleet_new(&env, store, cfg, false);
	ck_assert_msg(fleet_load(f, err, sizeof(err)) == 0, "%s", err);
	f->succeeded = 4;
	f->failed = 2;
	f->hook_runs[FLEET_HOOK_DEPLOY][1] = 3;
	fleet_metrics_write(f, &b, NOW);

#define HAS(...) do { snprintf(want, sizeof(want), __VA_ARGS__); \
	ck_assert_msg(strstr(b.data, want) != NULL, "'%s' not in:\n%s", want, b.data); } while (0)
	HAS("# TYPE certfleet_certificate_expiration_timestamp_seconds gauge\n");
	HAS("\ncertfleet_certificate_expiration_timestamp_seconds%s%d\n", L, NOW + 89 * 86400);
	HAS("\ncertfleet_certificate_not_before_timestamp_seconds%s%d\n", L, NOW - 86400);
	HAS("\ncertfleet_certificate_last_success_timestamp_seconds%s%d\n", L, NOW - 86400);
	HAS("\ncertfleet_certificate_ready%s1\n", L);
	HAS("\ncertfleet_certificate_failures%s0\n", L);
	HAS("\ncertfleet_certificate_ready{name=\"new\",account=\"ca\",key_type=\"rsa-2048\"} 0\n");
	HAS("\ncertfleet_certificate_failures{name=\"new\",account=\"ca\",key_type=\"rsa-2048\"} 2\n");
	HAS("\ncertfleet_certificates 2\n");
	HAS("\ncertfleet_renewals_total{result=\"success\"} 4\n");
	HAS("\ncertfleet_renewals_total{result=\"failure\"} 2\n");
	HAS("\ncertfleet_orders_in_flight{account=\"ca\"} 0\n");
	HAS("\ncertfleet_orders_in_flight{account=\"other\"} 0\n");
	HAS("\ncertfleet_hook_runs_total{hook=\"deploy\",result=\"success\"} 3\n");
	HAS("\ncertfleet_hook_runs_total{hook=\"post\",result=\"failure\"} 0\n");
#undef HAS
	/* Never issued: no timestamps that would read as 1970. */
	ck_assert_ptr_null(strstr(b.data,
	    "expiration_timestamp_seconds{name=\"new\""));
	ck_assert_ptr_null(strstr(b.data,
	    "last_success_timestamp_seconds{name=\"new\""));
	/* Each family once, its samples together right after its TYPE line
	 * (the format's rule). */
	{
		const char *t = strstr(b.data, "# TYPE certfleet_certificate_ready gauge\n");
		const char *first = strstr(b.data, "\ncertfleet_certificate_ready{");

		ck_assert_ptr_nonnull(t);
		ck_assert_ptr_null(strstr(t + 1, "# TYPE certfleet_certificate_ready "));
		ck_assert_ptr_eq(first, t + strlen("# TYPE certfleet_certificate_ready gauge"));
		ck_assert_int_eq(strncmp(strstr(first + 1, "\n") + 1, "certfleet_certificate_ready{", 28),
		    0);
	}
	buf_free(&b);
	fleet_free(f);
	store_close(store);
}
END_TEST

static Suite *
fleet_metrics_suite(void)
{
	Suite *s = suite_create("fleet_metrics");
	TCase *tc = tcase_create("fleet_metrics");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ready);
	tcase_add_test(tc, test_fleet_series);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(fleet_metrics_suite)
