/*
 * policy_check.c - validators for the content rules: US social security
 * numbers (the SSA's issuing rules), payment card numbers (Luhn and issuer
 * prefix), and masking of matched numbers for explanations.
 * SECURITY: runs on digits taken from untrusted mail; every function is
 * given an explicit length and reads nothing past it.
 */
#include <string.h>

#include "policy.h"

/* Numbers the SSA never issued but that appear in print: the Woolworth
 * wallet insert, the Social Security card sample of 1962, and the sequence
 * used on forms and in advertising. */
static const char *const ssn_published[] = {
	"078051120", "219099999", "123456789",
};

static int
digits_value(const char *d, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v * 10 + (d[i] - '0');
	return v;
}

int
sp_policy_ssn_valid(const char *d)
{
	size_t i;
	int area, group, serial;

	for (i = 0; i < 9; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	area = digits_value(d, 3);
	group = digits_value(d + 3, 2);
	serial = digits_value(d + 5, 4);
	if (area == 0 || area == 666 || area >= 900)
		return 0;
	if (group == 0 || serial == 0)
		return 0;
	for (i = 0; i < sizeof(ssn_published) / sizeof(ssn_published[0]); i++)
		if (memcmp(d, ssn_published[i], 9) == 0)
			return 0;
	/* one digit repeated nine times is a placeholder, not a number */
	for (i = 1; i < 9; i++)
		if (d[i] != d[0])
			break;
	return i < 9;
}

int
sp_policy_luhn(const char *d, size_t n)
{
	size_t i;
	int sum = 0, dbl = 0;

	if (n == 0)
		return 0;
	for (i = n; i-- > 0;) {
		int v;

		if (d[i] < '0' || d[i] > '9')
			return 0;
		v = d[i] - '0';
		if (dbl) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

/* Issuer identification ranges: first `plen` digits in [lo, hi], card
 * length in [minlen, maxlen]. */
static const struct {
	int plen, lo, hi, minlen, maxlen;
} iin[] = {
	{1, 4, 4, 13, 19},		/* Visa */
	{2, 51, 55, 16, 16},		/* Mastercard */
	{4, 2221, 2720, 16, 16},	/* Mastercard 2-series */
	{2, 34, 34, 15, 15},		/* American Express */
	{2, 37, 37, 15, 15},		/* American Express */
	{4, 6011, 6011, 16, 19},	/* Discover */
	{3, 644, 649, 16, 19},		/* Discover */
	{2, 65, 65, 16, 19},		/* Discover */
	{2, 62, 62, 16, 19},		/* UnionPay */
	{3, 300, 305, 14, 19},		/* Diners Club */
	{2, 36, 36, 14, 19},		/* Diners Club */
	{2, 38, 39, 14, 19},		/* Diners Club */
	{4, 3528, 3589, 16, 19},	/* JCB */
	{2, 50, 50, 13, 19},		/* Maestro */
	{2, 56, 58, 13, 19},		/* Maestro */
	{2, 67, 67, 13, 19},		/* Maestro */
	{2, 60, 60, 13, 19},		/* Maestro, RuPay */
};

int
sp_policy_card_valid(const char *d, size_t n)
{
	size_t i;

	if (n < 13 || n > 19)
		return 0;
	for (i = 0; i < n; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	for (i = 1; i < n; i++)
		if (d[i] != d[0])
			break;
	if (i == n)
		return 0;
	if (!sp_policy_luhn(d, n))
		return 0;
	for (i = 0; i < sizeof(iin) / sizeof(iin[0]); i++) {
		int pre = digits_value(d, (size_t)iin[i].plen);

		if (pre >= iin[i].lo && pre <= iin[i].hi &&
		    (int)n >= iin[i].minlen && (int)n <= iin[i].maxlen)
			return 1;
	}
	return 0;
}

void
sp_policy_mask(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i, digits = 0, seen = 0, o = 0;

	if (outsz == 0)
		return;
	for (i = 0; i < n; i++)
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
	for (i = 0; i < n && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= '0' && c <= '9') {
			seen++;
			out[o++] = seen + 4 > digits ? (char)c : '*';
		} else if (c == '\r' || c == '\n' || c == '\t') {
			out[o++] = ' ';
		} else if (c < 0x20 || c == 0x7f) {
			out[o++] = '?';
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}
