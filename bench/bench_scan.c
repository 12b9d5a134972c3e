/*
 * bench_scan.c - content scanner throughput on realistic mail text.
 *
 * The corpus: the decoded text of every message under the directories
 * given (the subjects and text parts of tests/corpus/mail and
 * tests/corpus/realmail, HTML with its tags removed), cut into runs of 1 to
 * 12 consecutive lines that are mixed in a fixed pseudo-random order until
 * the corpus has the size asked for; every 256 KiB a paragraph that the
 * default policy must seal (a social security number, a card number, a
 * routing number, medical text with a name, an ICD-10 code in context) is
 * put in.  The corpus is written to a file so that grep reads the same
 * bytes.
 *
 * Measured in the same run, each three times, the median printed, in CPU
 * seconds of one core (this thread; grep's user and system time), so that
 * other work on the machine does not count:
 *   - the full built-in default policy (sp_policy_scan_text over 1 MiB
 *     blocks, one thread), with the hits found;
 *   - `grep -c -i -w -F -f LEXICON` (caseless whole words, the closest
 *     equivalent of the lexicon rule) and `grep -c -F -f LEXICON`, both
 *     under LC_ALL=C, reading the corpus file from the page cache;
 *   - memchr for an absent byte, the floor.
 * usage: bench_scan MEGABYTES CORPUS_FILE LEXICON_FILE MAILDIR...
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "common.h"
#include "policy.h"
#include "sp.h"

#define BLOCK	((size_t)1 << 20)
#define ROUNDS	3
#define SPRINKLE ((size_t)256 << 10)

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned
next(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

struct lines {
	char **v;
	size_t n, cap;
};

static void
lines_add(struct lines *l, const char *s, size_t n)
{
	char *c;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		if ((l->v = realloc(l->v, l->cap * sizeof(*l->v))) == NULL)
			exit(1);
	}
	if ((c = malloc(n + 1)) == NULL)
		exit(1);
	memcpy(c, s, n);
	c[n] = '\0';
	l->v[l->n++] = c;
}

/* Split text into lines (without their ends); HTML tags dropped. */
static void
add_text(struct lines *l, const char *t, int html)
{
	char line[4096];
	size_t o = 0;
	int intag = 0;

	for (;; t++) {
		if (*t == '\0' || *t == '\n' || o + 1 >= sizeof(line)) {
			while (o > 0 && line[o - 1] == '\r')
				o--;
			lines_add(l, line, o);
			o = 0;
			if (*t == '\0')
				break;
			continue;
		}
		if (html && *t == '<')
			intag = 1;
		else if (html && *t == '>')
			intag = 0;
		else if (!intag)
			line[o++] = *t;
	}
}

static void
walk(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct lines *l = data;
	GMimeContentType *ct;
	char *t;

	(void)parent;
	if (GMIME_IS_MESSAGE_PART(part)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));

		if (m != NULL && g_mime_message_get_subject(m) != NULL)
			add_text(l, g_mime_message_get_subject(m), 0);
		return;
	}
	if (!GMIME_IS_TEXT_PART(part))
		return;
	ct = g_mime_object_get_content_type(part);
	if ((t = g_mime_text_part_get_text(GMIME_TEXT_PART(part))) == NULL)
		return;
	add_text(l, t, ct != NULL && g_mime_content_type_is_type(ct, "text", "html"));
	g_free(t);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
load_dir(const char *dir, struct lines *l)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *names[512], path[1024];
	size_t n = 0, i;

	if (d == NULL) {
		fprintf(stderr, "bench_scan: cannot open %s\n", dir);
		exit(1);
	}
	while ((e = readdir(d)) != NULL && n < 512) {
		size_t k = strlen(e->d_name);

		if (k > 4 && strcmp(e->d_name + k - 4, ".eml") == 0)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 0; i < n; i++) {
		GMimeStream *s;
		GMimeParser *p;
		GMimeMessage *m;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(names[i]);
		if ((s = g_mime_stream_fs_open(path, O_RDONLY, 0, NULL)) == NULL)
			continue;
		p = g_mime_parser_new_with_stream(s);
		m = g_mime_parser_construct_message(p, NULL);
		if (m != NULL) {
			if (g_mime_message_get_subject(m) != NULL)
				add_text(l, g_mime_message_get_subject(m), 0);
			g_mime_message_foreach(m, walk, l);
			g_object_unref(m);
		}
		g_object_unref(p);
		g_object_unref(s);
	}
}

/* Paragraphs the default policy seals, one of them every SPRINKLE bytes. */
static const char *const positives[] = {
	"Please update my payroll record, SSN 212-45-6780, before Friday.\n",
	"The card on file is 4111 1111 1111 1111, expiry 09/29.\n",
	"Wire it to routing number 021000021, account 123456789012.\n",
	"Patient Jane Doe was diagnosed with type 2 diabetes; start metformin 500 mg.\n",
	"Dx: E11.9 per the chart, patient to follow up in two weeks.\n",
};

static size_t
corpus(char *buf, size_t len, const struct lines *l, size_t *npos)
{
	size_t o = 0, next_pos = SPRINKLE;

	*npos = 0;
	while (o < len) {
		size_t first = next((unsigned)l->n), k = 1 + next(12), i;

		if (o >= next_pos) {
			const char *p = positives[*npos % (sizeof(positives) / sizeof(positives[0]))];
			size_t n = strlen(p);

			if (n > len - o)
				n = len - o;
			memcpy(buf + o, p, n);
			o += n;
			(*npos)++;
			next_pos += SPRINKLE;
		}
		for (i = first; i < first + k && i < l->n && o < len; i++) {
			size_t n = strlen(l->v[i]);

			if (n + 1 > len - o)
				n = len - o - 1;
			memcpy(buf + o, l->v[i], n);
			o += n;
			buf[o++] = '\n';
		}
		if (o < len)
			buf[o++] = '\n';
	}
	return o;
}

/* CPU seconds (user and system) that `grep FLAGS -f lexicon corpus` takes.
 * Its output goes to a pipe read here: GNU grep stops at the first match
 * when its output is /dev/null. */
static double
time_grep(const char *flags, const char *lex, const char *file)
{
	struct rusage ru;
	char tmp[4096];
	int fd[2], status;
	pid_t pid;

	if (pipe(fd) != 0 || (pid = fork()) < 0) {
		perror("bench_scan: fork");
		exit(1);
	}
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		setenv("LC_ALL", "C", 1);
		execlp("grep", "grep", flags, "-f", lex, file, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	while (read(fd[0], tmp, sizeof(tmp)) > 0)
		;
	close(fd[0]);
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		fprintf(stderr, "bench_scan: grep %s failed\n", flags);
		exit(1);
	}
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of this thread. */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
median(double *v)
{
	return bench_percentile(v, ROUNDS, 50);
}

int
main(int argc, char **argv)
{
	size_t mb, len, off, hits = 0, sealed = 0, npos, i;
	struct sp_policy *p = NULL;
	struct sp_policy_scratch *s = NULL;
	struct sp_err err = {{0}};
	struct lines l = {0};
	double t0, tpol[ROUNDS], tmem[ROUNDS], tgw[ROUNDS], tgf[ROUNDS], tload;
	double mpol, mmem, mgw, mgf;
	char *buf, *end;
	FILE *f;
	int r, st;
	long v;

	if (argc < 5 || (v = strtol(argv[1], &end, 10)) < 1 || v > 4096 || *end != '\0') {
		fprintf(stderr, "usage: bench_scan MEGABYTES CORPUS_FILE LEXICON_FILE MAILDIR...\n");
		return 2;
	}
	mb = (size_t)v;
	len = mb << 20;
	g_mime_init();
	for (r = 4; r < argc; r++)
		load_dir(argv[r], &l);
	if (l.n == 0) {
		fprintf(stderr, "bench_scan: no text in the mail directories\n");
		return 1;
	}
	if ((buf = malloc(len)) == NULL) {
		fprintf(stderr, "bench_scan: out of memory\n");
		return 1;
	}
	len = corpus(buf, len, &l, &npos);
	if ((f = fopen(argv[2], "wb")) == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "bench_scan: cannot write %s\n", argv[2]);
		return 1;
	}
	t0 = cpu_now();
	if ((st = sp_policy_load(&p, NULL, &err)) != SP_OK ||
	    (st = sp_policy_scratch_new(p, &s, &err)) != SP_OK) {
		fprintf(stderr, "bench_scan: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	tload = cpu_now() - t0;
	for (r = 0; r < ROUNDS; r++) {
		size_t h = 0, sl = 0;

		t0 = cpu_now();
		for (off = 0; off < len; off += BLOCK) {
			struct sp_policy_result res;
			size_t n = len - off < BLOCK ? len - off : BLOCK;

			if ((st = sp_policy_scan_text(p, s, buf + off, n, &res, &err)) != SP_OK) {
				fprintf(stderr, "bench_scan: %s\n", sp_err_msg(&err, st));
				return 1;
			}
			h += res.nhits_total;
			sl += res.action != SP_POLICY_PASS;
			sp_policy_result_clear(&res);
		}
		tpol[r] = cpu_now() - t0;
		hits = h;
		sealed = sl;
		tgw[r] = time_grep("-ciwF", argv[3], argv[2]);
		tgf[r] = time_grep("-cF", argv[3], argv[2]);
		tmem[r] = 1e9;
		for (i = 0; i < 3; i++) {
			volatile const void *q;

			t0 = cpu_now();
			q = memchr(buf, 0x01, len);
			t0 = cpu_now() - t0;
			if (q != NULL) {
				fprintf(stderr, "bench_scan: corpus holds the probe byte\n");
				return 1;
			}
			if (t0 < tmem[r])
				tmem[r] = t0;
		}
	}
	mpol = median(tpol);
	mgw = median(tgw);
	mgf = median(tgf);
	mmem = median(tmem);
	printf("scan: corpus %zu MB of mail text (%zu distinct lines, %zu positives sprinkled), "
	    "%zu blocks of 1 MiB, %zu blocks would be sealed, %zu hits; policy loaded in %.0f ms\n",
	    mb, l.n, npos, (len + BLOCK - 1) / BLOCK, sealed, hits, tload * 1000);
	printf("scan: median of %d, one core: policy %.0f MB/s, grep -ciwF %.0f MB/s, grep -cF %.0f MB/s, memchr %.0f MB/s\n",
	    ROUNDS, (double)mb / mpol, (double)mb / mgw, (double)mb / mgf, (double)mb / mmem);
	printf("scan: ratios: policy/grep -ciwF %.2f, policy/grep -cF %.2f, memchr/policy %.1f\n",
	    mgw / mpol, mgf / mpol, mpol / mmem);
	sp_policy_scratch_free(s);
	sp_policy_free(p);
	for (i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	free(buf);
	return 0;
}
