/*
 * certbot_account.h - reading an account certbot registered (the
 * certbot_account inventory key's directory).
 */
#ifndef CERTFLEET_CERTBOT_ACCOUNT_H
#define CERTFLEET_CERTBOT_ACCOUNT_H

#include <stddef.h>

#include "crypto.h"

/*
 * Reads one certbot account directory (accounts/SERVER/PATH/ID): the key
 * from private_key.json (a JWK) and the account URL from regr.json's
 * "uri".  0 with *key and *url (caller frees), -1 with err naming the
 * file.
 */
int certbot_account_read(const char *dir, privkey_t **key, char **url, char *err,
    size_t errlen);

#endif
