/*
 * jsonwipe_test.c - jansson's blocks are wiped when freed (jsonwipe.h):
 * every value made after the install goes through the wiping free, whole
 * (the string's bytes at least), and values still work as before.
 */
#include <jansson.h>
#include <string.h>

#include "jsonwipe.h"
#include "t.h"

static void
test_wiped(void)
{
	unsigned long long before;
	json_t *j;
	char *text;

	sp_json_wipe_install();
	before = sp_json_wiped_bytes();
	j = json_string("s3cret password");
	T_CHECK(j != NULL && strcmp(json_string_value(j), "s3cret password") == 0);
	json_decref(j);
	T_CHECK(sp_json_wiped_bytes() >= before + 16);

	/* a parsed body, packed answers and a dump: all freed through it */
	before = sp_json_wiped_bytes();
	j = json_loads("{\"email\":\"pat@example.org\",\"password\":\"correct horse battery\"}", 0, NULL);
	T_CHECK(j != NULL);
	T_CHECK(strcmp(json_string_value(json_object_get(j, "password")), "correct horse battery") == 0);
	text = sp_json_dumps(j, JSON_COMPACT);
	T_CHECK(text != NULL && strstr(text, "correct horse battery") != NULL);
	json_decref(j);
	T_CHECK(sp_json_wiped_bytes() >= before + 22 + 16);
	before = sp_json_wiped_bytes();
	free(text);	/* sp_json_dumps' text is the caller's, from malloc: not counted */
	T_CHECK(sp_json_wiped_bytes() == before);
	j = json_pack("{s:s,s:i}", "session", "sps_0123456789abcdef", "n", 42);
	T_CHECK(j != NULL && json_integer_value(json_object_get(j, "n")) == 42);
	json_decref(j);
	T_CHECK(sp_json_wiped_bytes() > before);
}

T_MAIN(test_wiped)
