/*
 * ctl_proto.c - framing of the control protocol, version 1: one JSON
 * object per line each way.  The daemon (control.c) and certfleetctl both
 * use these, so the two sides cannot drift apart.
 *
 * A line is a JSON object printed without newlines (json_print escapes any
 * in strings), so the first '\n' ends it.  Both sides reject trailing bytes
 * inside the line: a request is either well-formed or refused whole.
 */
#include <string.h>

#include "control.h"
#include "json.h"
#include "util.h"

static char *
print_line(struct json *o)
{
	char *s = json_print(o);
	char *line;

	if (s == NULL)
		return NULL;
	line = xasprintf("%s\n", s);
	free(s);
	return line;
}

int
ctl_request_parse(const char *line, size_t len, struct json **req, const char **cmd,
    const struct json **args, const char **code, char *err, size_t errlen)
{
	struct json *o;
	const struct json *v, *c, *a;
	const char *end;
	size_t used = 0;

	*req = NULL;
	*cmd = NULL;
	*args = NULL;
	*code = CTL_E_PROTOCOL;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	o = json_parse(line, len, &used);
	if (o == NULL || !json_is_object(o)) {
		snprintf(err, errlen, "request is not a JSON object");
		goto fail;
	}
	/* The parser stops after the object: anything but blanks after it
	 * means a confused client. */
	for (end = line + used; end < line + len; end++) {
		if (*end != ' ' && *end != '\t') {
			snprintf(err, errlen, "trailing data after the request object");
			goto fail;
		}
	}
	v = json_get(o, "v");
	if (!json_is_number(v)) {
		snprintf(err, errlen, "request has no protocol version \"v\"");
		goto fail;
	}
	if (json_num(v) != CTL_PROTOCOL_VERSION) {
		*code = CTL_E_VERSION;
		snprintf(err, errlen, "protocol version %g not supported (this daemon speaks %d)",
		    json_num(v), CTL_PROTOCOL_VERSION);
		goto fail;
	}
	c = json_get(o, "cmd");
	if (!json_is_string(c) || json_str(c)[0] == '\0') {
		*code = CTL_E_USAGE;
		snprintf(err, errlen, "request has no command \"cmd\"");
		goto fail;
	}
	a = json_get(o, "args");
	if (a != NULL && !json_is_object(a) && !json_is_null(a)) {
		*code = CTL_E_USAGE;
		snprintf(err, errlen, "\"args\" must be an object");
		goto fail;
	}
	*req = o;
	*cmd = json_str(c);
	*args = json_is_object(a) ? a : NULL;
	*code = NULL;
	return 0;
fail:
	json_free(o);
	return -1;
}

char *
ctl_request_format(const char *cmd, struct json *args)
{
	struct json *o = json_new_object();
	char *line;

	json_set_num(o, "v", CTL_PROTOCOL_VERSION);
	json_set_str(o, "cmd", cmd);
	if (args)
		json_set(o, "args", args);
	line = print_line(o);
	json_free(o);
	return line;
}

char *
ctl_reply_format_ok(struct json *result)
{
	struct json *o = json_new_object();
	char *line;

	json_set_num(o, "v", CTL_PROTOCOL_VERSION);
	json_set_bool(o, "ok", true);
	json_set(o, "result", result ? result : json_new_null());
	line = print_line(o);
	json_free(o);
	return line;
}

char *
ctl_reply_format_error(const char *code, struct json *extra, const char *msg)
{
	struct json *o = json_new_object();
	char *line, *one;

	json_set_num(o, "v", CTL_PROTOCOL_VERSION);
	json_set_bool(o, "ok", false);
	json_set_str(o, "code", code);
	/* One line, whatever the message is made of. */
	one = xstrdup(msg);
	for (char *p = one; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	json_set_str(o, "error", one);
	free(one);
	json_merge(o, extra);
	line = print_line(o);
	json_free(o);
	return line;
}

int
ctl_reply_parse(const char *line, size_t len, struct json **reply, bool *ok,
    const struct json **result, const char **code, const char **error, char *err,
    size_t errlen)
{
	struct json *o;
	const struct json *v, *k;

	*reply = NULL;
	*ok = false;
	*result = NULL;
	*code = NULL;
	*error = NULL;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	o = json_parse(line, len, NULL);
	if (!json_is_object(o)) {
		snprintf(err, errlen, "the daemon's reply is not a JSON object");
		json_free(o);
		return -1;
	}
	v = json_get(o, "v");
	if (!json_is_number(v) || json_num(v) != CTL_PROTOCOL_VERSION) {
		snprintf(err, errlen, "the daemon speaks another protocol version (%s)",
		    json_is_number(v) ? "not 1" : "none given");
		json_free(o);
		return -1;
	}
	k = json_get(o, "ok");
	if (!json_is_bool(k)) {
		snprintf(err, errlen, "the daemon's reply has no \"ok\"");
		json_free(o);
		return -1;
	}
	*ok = json_is_true(k);
	*result = json_get(o, "result");
	*code = json_get_str(o, "code");
	*error = json_get_str(o, "error");
	if (!*ok && *code == NULL)
		*code = CTL_E_FAILED;
	if (!*ok && *error == NULL)
		*error = "the daemon gave no reason";
	*reply = o;
	return 0;
}
