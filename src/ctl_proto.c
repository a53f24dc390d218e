/*
 * ctl_proto.c - framing of the control protocol, version 1: one JSON
 * object per line each way.  The daemon (control.c) and certfleetctl both
 * use these, so the two sides cannot drift apart.
 *
 * A line is a JSON object printed without newlines (cJSON escapes any in
 * strings), so the first '\n' ends it.  Both sides reject trailing bytes
 * inside the line: a request is either well-formed or refused whole.
 */
#include <string.h>

#include "control.h"
#include "util.h"

static char *
print_line(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	char *line;

	if (s == NULL)
		return NULL;
	line = xasprintf("%s\n", s);
	cJSON_free(s);
	return line;
}

int
ctl_request_parse(const char *line, size_t len, cJSON **req, const char **cmd,
    const cJSON **args, const char **code, char *err, size_t errlen)
{
	cJSON *o;
	const cJSON *v, *c, *a;
	const char *end = NULL;

	*req = NULL;
	*cmd = NULL;
	*args = NULL;
	*code = CTL_E_PROTOCOL;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	o = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (o == NULL || !cJSON_IsObject(o)) {
		snprintf(err, errlen, "request is not a JSON object");
		goto fail;
	}
	/* The parser stops after the object: anything but blanks after it
	 * means a confused client. */
	for (; end < line + len; end++) {
		if (*end != ' ' && *end != '\t') {
			snprintf(err, errlen, "trailing data after the request object");
			goto fail;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "v");
	if (!cJSON_IsNumber(v)) {
		snprintf(err, errlen, "request has no protocol version \"v\"");
		goto fail;
	}
	if (v->valuedouble != CTL_PROTOCOL_VERSION) {
		*code = CTL_E_VERSION;
		snprintf(err, errlen, "protocol version %g not supported (this daemon speaks %d)",
		    v->valuedouble, CTL_PROTOCOL_VERSION);
		goto fail;
	}
	c = cJSON_GetObjectItemCaseSensitive(o, "cmd");
	if (!cJSON_IsString(c) || c->valuestring[0] == '\0') {
		*code = CTL_E_USAGE;
		snprintf(err, errlen, "request has no command \"cmd\"");
		goto fail;
	}
	a = cJSON_GetObjectItemCaseSensitive(o, "args");
	if (a != NULL && !cJSON_IsObject(a) && !cJSON_IsNull(a)) {
		*code = CTL_E_USAGE;
		snprintf(err, errlen, "\"args\" must be an object");
		goto fail;
	}
	*req = o;
	*cmd = c->valuestring;
	*args = cJSON_IsObject(a) ? a : NULL;
	*code = NULL;
	return 0;
fail:
	cJSON_Delete(o);
	return -1;
}

char *
ctl_request_format(const char *cmd, cJSON *args)
{
	cJSON *o = cJSON_CreateObject();
	char *line;

	cJSON_AddNumberToObject(o, "v", CTL_PROTOCOL_VERSION);
	cJSON_AddStringToObject(o, "cmd", cmd);
	if (args)
		cJSON_AddItemToObject(o, "args", args);
	line = print_line(o);
	cJSON_Delete(o);
	return line;
}

char *
ctl_reply_format_ok(cJSON *result)
{
	cJSON *o = cJSON_CreateObject();
	char *line;

	cJSON_AddNumberToObject(o, "v", CTL_PROTOCOL_VERSION);
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddItemToObject(o, "result", result ? result : cJSON_CreateNull());
	line = print_line(o);
	cJSON_Delete(o);
	return line;
}

char *
ctl_reply_format_error(const char *code, cJSON *extra, const char *msg)
{
	cJSON *o = cJSON_CreateObject(), *it;
	char *line, *one;

	cJSON_AddNumberToObject(o, "v", CTL_PROTOCOL_VERSION);
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "code", code);
	/* One line, whatever the message is made of. */
	one = xstrdup(msg);
	for (char *p = one; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	cJSON_AddStringToObject(o, "error", one);
	free(one);
	if (cJSON_IsObject(extra)) {
		while ((it = extra->child) != NULL) {
			cJSON_DetachItemViaPointer(extra, it);
			if (cJSON_GetObjectItemCaseSensitive(o, it->string))
				cJSON_Delete(it);
			else
				cJSON_AddItemToObject(o, it->string, it);
		}
	}
	cJSON_Delete(extra);
	line = print_line(o);
	cJSON_Delete(o);
	return line;
}

int
ctl_reply_parse(const char *line, size_t len, cJSON **reply, bool *ok, const cJSON **result,
    const char **code, const char **error, char *err, size_t errlen)
{
	cJSON *o;
	const cJSON *v, *k;

	*reply = NULL;
	*ok = false;
	*result = NULL;
	*code = NULL;
	*error = NULL;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	o = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "the daemon's reply is not a JSON object");
		cJSON_Delete(o);
		return -1;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "v");
	if (!cJSON_IsNumber(v) || v->valuedouble != CTL_PROTOCOL_VERSION) {
		snprintf(err, errlen, "the daemon speaks another protocol version (%s)",
		    cJSON_IsNumber(v) ? "not 1" : "none given");
		cJSON_Delete(o);
		return -1;
	}
	k = cJSON_GetObjectItemCaseSensitive(o, "ok");
	if (!cJSON_IsBool(k)) {
		snprintf(err, errlen, "the daemon's reply has no \"ok\"");
		cJSON_Delete(o);
		return -1;
	}
	*ok = cJSON_IsTrue(k);
	*result = cJSON_GetObjectItemCaseSensitive(o, "result");
	*code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "code"));
	*error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
	if (!*ok && *code == NULL)
		*code = CTL_E_FAILED;
	if (!*ok && *error == NULL)
		*error = "the daemon gave no reason";
	*reply = o;
	return 0;
}
