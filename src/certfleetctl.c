/*
 * certfleetctl.c - the operator's command line.  This first version reads
 * the store directly (status works whether or not the daemon runs); the
 * control-socket commands come with the control module.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("certfleetctl %s\n", CERTFLEET_VERSION);
		return 0;
	}
	fprintf(stderr, "certfleetctl: not implemented yet\n");
	return 69;
}
