/*
 * t.h - the unit test harness: table-driven tests call T_CHECK/T_EQ_INT;
 * main() is T_MAIN(list of test functions).  Prints one line per failure and
 * "NAME: N passed, N failed" at the end; exits 1 when anything failed.
 */
#ifndef SP_T_H
#define SP_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define T_CHECK(cond) do { \
	if (cond) t_pass++; \
	else { t_fail++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define T_EQ_INT(a, b) do { \
	long long t_a_ = (long long)(a), t_b_ = (long long)(b); \
	if (t_a_ == t_b_) t_pass++; \
	else { t_fail++; fprintf(stderr, "FAIL %s:%d: %s == %lld, expected %s == %lld\n", \
	    __FILE__, __LINE__, #a, t_a_, #b, t_b_); } \
} while (0)

#define T_EQ_MEM(a, b, n) T_CHECK(memcmp((a), (b), (n)) == 0)

typedef void (*t_fn)(void);

#define T_MAIN(...) \
int main(void) { \
	t_fn t_fns_[] = { __VA_ARGS__ }; \
	for (size_t t_i_ = 0; t_i_ < sizeof(t_fns_) / sizeof(t_fns_[0]); t_i_++) \
		t_fns_[t_i_](); \
	printf("%s: %d passed, %d failed\n", __FILE__, t_pass, t_fail); \
	return t_fail ? 1 : 0; \
}

#endif
