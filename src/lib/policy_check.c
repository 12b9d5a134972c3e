/*
 * policy_check.c - validators for the content rules: US social security
 * numbers (the SSA's issuing rules), payment card numbers (Luhn and issuer
 * prefix), and masking of matched numbers for explanations.
 * SECURITY: runs on digits taken from untrusted mail; every function is
 * given an explicit length and reads nothing past it.
 */
#include <string.h>

#include "policy_internal.h"

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

/* --- medical and banking numbers ----------------------------------------- */

int
pol_npi_valid(const char *d)
{
	char full[15];
	size_t i;

	for (i = 0; i < 10; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	/* NPIs start with 1 or 2; the check digit covers the 80840 card prefix */
	if (d[0] != '1' && d[0] != '2')
		return 0;
	memcpy(full, "80840", 5);
	memcpy(full + 5, d, 10);
	return sp_policy_luhn(full, 15);
}

int
pol_aba_valid(const char *d)
{
	size_t i;
	int p, sum;

	for (i = 0; i < 9; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	p = digits_value(d, 2);
	/* 00 is the US government, 01-12 Federal Reserve districts, 21-32
	 * thrifts, 61-72 electronic, 80 traveller's cheques */
	if (!(p <= 12 || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p == 80))
		return 0;
	if (memcmp(d, "000000000", 9) == 0)
		return 0;
	sum = 3 * ((d[0] - '0') + (d[3] - '0') + (d[6] - '0')) +
	    7 * ((d[1] - '0') + (d[4] - '0') + (d[7] - '0')) +
	    ((d[2] - '0') + (d[5] - '0') + (d[8] - '0'));
	return sum % 10 == 0;
}

static int
up(char c)
{
	return c >= 'A' && c <= 'Z';
}

static int
dig(char c)
{
	return c >= '0' && c <= '9';
}

int
pol_icd_valid(const char *s, size_t n)
{
	size_t i, k;

	if (n < 3 || !up(s[0]) || s[0] == 'U' || !dig(s[1]))
		return 0;
	/* the third character is a digit, or A in the few categories that use it */
	if (!dig(s[2]) && !(s[2] == 'A' && (memcmp(s, "C4A", 3) == 0 || memcmp(s, "D3A", 3) == 0 ||
	    memcmp(s, "M1A", 3) == 0 || memcmp(s, "O9A", 3) == 0 || memcmp(s, "Z3A", 3) == 0)))
		return 0;
	if (n == 3)
		return 1;
	if (s[3] != '.' || n < 5 || n > 8)
		return 0;
	/* after the dot: digits, X placeholders, a letter only as 7th character
	 * (or as the 4th in a few chapters, such as the fracture codes) */
	for (i = 4, k = 4; i < n; i++, k++) {
		if (dig(s[i]) || s[i] == 'X')
			continue;
		if (up(s[i]) && (k == 7 || (k == 4 && n == 5)))
			continue;
		return 0;
	}
	return 1;
}

int
pol_date_valid(int y, int m, int d)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1)
		return 0;
	if (m == 2 && d == 29)
		return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1];
}
