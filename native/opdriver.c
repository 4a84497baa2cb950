/*
 * fusebench's native client driver: executes an op stream (workloads/ops.ts format) with
 * nothing between the operations but a clock read, for figures where the Node client's own
 * cost would dominate (a warm in-kernel stat is ~1 us; Node adds several). Same handshake as
 * the Node client (workloads/protocol.ts): print "ready", wait for "go", run, write one
 * float64 latency in ns per operation to LATENCY_FILE, print one JSON report line.
 *
 * usage: fusebench-opdriver OPS_FILE MOUNTPOINT LATENCY_FILE
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 64
#define MAX_FIELDS 4
#define XATTR_BUFFER 65536

enum kind { LSTAT, LSTAT_MISS, READDIR, OPEN, CLOSE, PREAD, READFILE, MMAPREAD, GETXATTR, LISTXATTR, READLINK, KINDS };
static const char *kind_names[KINDS] = {"lstat",	"lstat-miss", "readdir",  "open",      "close",   "pread",
					"readfile", "mmapread",	  "getxattr", "listxattr", "readlink"};

struct op {
	enum kind kind;
	char *path; /* or the xattr name's owner */
	char *name; /* getxattr only */
	uint64_t a, b, c; /* slot / offset / length / block size, by kind */
};

static void die(const char *what) {
	fprintf(stderr, "fusebench-opdriver: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void die_format(long line, const char *what) {
	fprintf(stderr, "fusebench-opdriver: op stream line %ld: %s\n", line, what);
	exit(2);
}

/* Undoes the %xx escapes of tab, newline, carriage return and percent, in place. */
static char *unescape(char *field) {
	char *out = field;
	for (char *in = field; *in; in++) {
		if (in[0] == '%' && in[1] && in[2]) {
			char hex[3] = {in[1], in[2], 0};
			*out++ = (char)strtol(hex, NULL, 16);
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = 0;
	return field;
}

static uint64_t number(const char *field, long line) {
	char *end;
	if (!field || !*field) die_format(line, "missing number");
	errno = 0;
	unsigned long long value = strtoull(field, &end, 10);
	if (errno || *end) die_format(line, "bad number");
	return value;
}

static uint64_t slot_number(const char *field, long line) {
	uint64_t slot = number(field, line);
	if (slot >= MAX_SLOTS) die_format(line, "slot out of range");
	return slot;
}

static struct op *parse(char *text, size_t *count) {
	size_t capacity = 1024, used = 0;
	struct op *ops = malloc(capacity * sizeof(*ops));
	if (!ops) die("malloc");
	long line_number = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		line_number++;
		char *fields[MAX_FIELDS] = {0};
		int nfields = 0;
		for (char *cursor = line; cursor && nfields < MAX_FIELDS; nfields++) {
			fields[nfields] = cursor;
			cursor = strchr(cursor, '\t');
			if (cursor) *cursor++ = 0;
		}
		if (used == capacity) {
			capacity *= 2;
			ops = realloc(ops, capacity * sizeof(*ops));
			if (!ops) die("realloc");
		}
		struct op *op = &ops[used++];
		memset(op, 0, sizeof(*op));
		int kind = -1;
		for (int k = 0; k < KINDS; k++)
			if (strcmp(fields[0], kind_names[k]) == 0) kind = k;
		if (kind < 0) die_format(line_number, "unknown operation");
		op->kind = kind;
		switch (op->kind) {
		case OPEN:
			op->a = slot_number(fields[1], line_number);
			if (!fields[2]) die_format(line_number, "missing path");
			op->path = unescape(fields[2]);
			break;
		case CLOSE:
			op->a = slot_number(fields[1], line_number);
			break;
		case PREAD:
			op->a = slot_number(fields[1], line_number);
			op->b = number(fields[2], line_number);
			op->c = number(fields[3], line_number);
			break;
		case READFILE:
			if (!fields[1]) die_format(line_number, "missing path");
			op->path = unescape(fields[1]);
			op->a = number(fields[2], line_number);
			if (op->a == 0) die_format(line_number, "zero block size");
			break;
		case GETXATTR:
			if (!fields[1] || !fields[2]) die_format(line_number, "missing path or name");
			op->path = unescape(fields[1]);
			op->name = unescape(fields[2]);
			break;
		default:
			if (!fields[1]) die_format(line_number, "missing path");
			op->path = unescape(fields[1]);
		}
	}
	*count = used;
	return ops;
}

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static char *buffer;
static size_t buffer_size = 4096;
static int slots[MAX_SLOTS];
static uint64_t bytes_read;
static char xattr_buffer[XATTR_BUFFER];

static int read_whole(const char *path, size_t block) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	for (off_t offset = 0;;) {
		ssize_t got = pread(fd, buffer, block, offset);
		if (got < 0) {
			close(fd);
			return -1;
		}
		if (got == 0) break;
		offset += got;
		bytes_read += (uint64_t)got;
	}
	return close(fd);
}

static int mmap_whole(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size == 0) {
		close(fd);
		return st.st_size == 0 ? 0 : -1;
	}
	volatile const unsigned char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return -1;
	}
	long page = sysconf(_SC_PAGESIZE);
	/* Volatile reads: each one faults its page in and none can be optimised away. */
	for (off_t offset = 0; offset < st.st_size; offset += page) (void)map[offset];
	bytes_read += (uint64_t)st.st_size;
	munmap((void *)map, (size_t)st.st_size);
	return close(fd);
}

static int list_directory(const char *path) {
	DIR *dir = opendir(path);
	if (!dir) return -1;
	errno = 0;
	while (readdir(dir)) {
	}
	int failed = errno != 0;
	closedir(dir);
	return failed ? -1 : 0;
}

/* Returns 0 on the expected outcome, -1 otherwise. */
static int execute(const struct op *op) {
	struct stat st;
	switch (op->kind) {
	case LSTAT:
		return lstat(op->path, &st);
	case LSTAT_MISS:
		return lstat(op->path, &st) < 0 && errno == ENOENT ? 0 : -1;
	case READDIR:
		return list_directory(op->path);
	case OPEN:
		slots[op->a] = open(op->path, O_RDONLY | O_CLOEXEC);
		return slots[op->a] < 0 ? -1 : 0;
	case CLOSE: {
		int result = close(slots[op->a]);
		slots[op->a] = -1;
		return result;
	}
	case PREAD: {
		ssize_t got = pread(slots[op->a], buffer, op->c, (off_t)op->b);
		if (got < 0) return -1;
		bytes_read += (uint64_t)got;
		return 0;
	}
	case READFILE:
		return read_whole(op->path, op->a);
	case MMAPREAD:
		return mmap_whole(op->path);
	case GETXATTR:
		return lgetxattr(op->path, op->name, xattr_buffer, sizeof(xattr_buffer)) < 0 ? -1 : 0;
	case LISTXATTR:
		return llistxattr(op->path, xattr_buffer, sizeof(xattr_buffer)) < 0 ? -1 : 0;
	case READLINK:
		return readlink(op->path, xattr_buffer, sizeof(xattr_buffer)) < 0 ? -1 : 0;
	default:
		return -1;
	}
}

static char *slurp(const char *path) {
	FILE *file = fopen(path, "rb");
	if (!file) die(path);
	if (fseek(file, 0, SEEK_END) < 0) die(path);
	long size = ftell(file);
	rewind(file);
	char *text = malloc((size_t)size + 1);
	if (!text || fread(text, 1, (size_t)size, file) != (size_t)size) die(path);
	text[size] = 0;
	fclose(file);
	return text;
}

static uint64_t timeval_ns(struct timeval tv) {
	return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: fusebench-opdriver OPS_FILE MOUNTPOINT LATENCY_FILE\n");
		return 2;
	}
	size_t count;
	struct op *ops = parse(slurp(argv[1]), &count);
	for (size_t i = 0; i < count; i++) {
		if (ops[i].kind == PREAD && ops[i].c > buffer_size) buffer_size = ops[i].c;
		if (ops[i].kind == READFILE && ops[i].a > buffer_size) buffer_size = ops[i].a;
	}
	buffer = malloc(buffer_size);
	double *latencies = calloc(count ? count : 1, sizeof(double));
	if (!buffer || !latencies) die("malloc");
	for (int s = 0; s < MAX_SLOTS; s++) slots[s] = -1;
	if (chdir(argv[2]) < 0) die(argv[2]);

	printf("ready\n");
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "go\n") != 0) return 2;

	uint64_t errors[KINDS] = {0};
	struct rusage before, after;
	getrusage(RUSAGE_SELF, &before);
	uint64_t started = now_ns(), previous = started;
	for (size_t i = 0; i < count; i++) {
		if (execute(&ops[i]) < 0) errors[ops[i].kind]++;
		uint64_t now = now_ns();
		latencies[i] = (double)(now - previous);
		previous = now;
	}
	getrusage(RUSAGE_SELF, &after);

	FILE *out = fopen(argv[3], "wb");
	if (!out || fwrite(latencies, sizeof(double), count, out) != count || fclose(out) != 0) die(argv[3]);

	printf("{\"wallNs\":%llu,\"opCount\":%zu,\"bytes\":%llu,\"errors\":{", (unsigned long long)(previous - started), count,
	       (unsigned long long)bytes_read);
	const char *separator = "";
	for (int k = 0; k < KINDS; k++) {
		if (!errors[k]) continue;
		printf("%s\"%s\":%llu", separator, kind_names[k], (unsigned long long)errors[k]);
		separator = ",";
	}
	printf("},\"userNs\":%llu,\"systemNs\":%llu,\"voluntaryCtxSwitches\":%ld,\"involuntaryCtxSwitches\":%ld}\n",
	       (unsigned long long)(timeval_ns(after.ru_utime) - timeval_ns(before.ru_utime)),
	       (unsigned long long)(timeval_ns(after.ru_stime) - timeval_ns(before.ru_stime)), after.ru_nvcsw - before.ru_nvcsw,
	       after.ru_nivcsw - before.ru_nivcsw);
	return 0;
}
