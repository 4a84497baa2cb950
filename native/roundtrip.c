/*
 * fusebench's round-trip driver (bench/micro/roundtrip.ts): one kind of operation COUNT times in
 * a tight loop, nothing between two operations, and the mean nanoseconds per operation on stdout.
 * Each kind is chosen so that on a FUSE mount every operation is one request to the daemon (or,
 * for stat-missing, none once the kernel caches the negative entry):
 *   getxattr        getxattr(files/fI, "user.tag"): FUSE never caches xattrs;
 *   open-close      open + close of files/fI (OPEN, RELEASE; the name and attributes are cached);
 *   stat            lstat of files/fI, each once, after the caller dropped the dentry cache: LOOKUP;
 *   stat-missing    lstat of files/missing-name, COUNT times;
 *   read-direct-4k  4 KiB pread at pseudo-random page offsets of `big`, opened O_DIRECT: READ
 *                   ("unsupported" when the filesystem refuses O_DIRECT);
 *   read-seq-1m     big0 .. big(FILES-1) read through with 1 MiB read(2)s (COUNT is ignored);
 *   read-random-4k  4 KiB pread at pseudo-random page offsets of big0 .. big(FILES-1), buffered.
 * For the last two the caller drops the page cache first: they time cold reads.
 * I cycles over 0..FILES-1.
 * With PROCESSES > 1, that many forked processes run the same loop at once (released together
 * once all exist; process p starts at file p * FILES / PROCESSES and seeds with SEED + p): line
 * one is then the mean ns per operation over all of them, line two the operations per second of
 * all together, from the first start to the last end.
 *
 * usage: fusebench-roundtrip KIND MOUNTPOINT FILES COUNT [SEED [PROCESSES]]
 *        (SEED varies the random offsets)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static void die(const char *what, const char *path) {
	fprintf(stderr, "fusebench-roundtrip: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void) {
	struct timespec time;
	clock_gettime(CLOCK_MONOTONIC, &time);
	return (uint64_t)time.tv_sec * 1000000000u + (uint64_t)time.tv_nsec;
}

/* One process's loop: its first and last clock readings and how many operations it did. */
struct sample {
	uint64_t start, end;
	long ops;
	int unsupported;
};

static struct sample run_kind(const char *kind, const char *mountpoint, char **paths, long files, long count,
                              uint64_t seed, long first) {
	char missing[4096], big[4096], value[256];
	snprintf(missing, sizeof(missing), "%s/files/missing-name", mountpoint);
	snprintf(big, sizeof(big), "%s/big", mountpoint);
	struct stat st;
	uint64_t start = 0, end = 0;

	if (strcmp(kind, "getxattr") == 0) {
		start = now_ns();
		for (long op = 0; op < count; op++) {
			const char *path = paths[(first + op) % files];
			if (getxattr(path, "user.tag", value, sizeof(value)) < 0) die("getxattr", path);
		}
		end = now_ns();
	} else if (strcmp(kind, "open-close") == 0) {
		start = now_ns();
		for (long op = 0; op < count; op++) {
			const char *path = paths[(first + op) % files];
			int fd = open(path, O_RDONLY);
			if (fd < 0) die("open", path);
			close(fd);
		}
		end = now_ns();
	} else if (strcmp(kind, "stat") == 0) {
		if (count > files) count = files;
		start = now_ns();
		for (long op = 0; op < count; op++) {
			const char *path = paths[(first + op) % files];
			if (lstat(path, &st) < 0) die("lstat", path);
		}
		end = now_ns();
	} else if (strcmp(kind, "stat-missing") == 0) {
		start = now_ns();
		for (long op = 0; op < count; op++) {
			if (lstat(missing, &st) == 0 || errno != ENOENT) die("lstat (expected ENOENT)", missing);
		}
		end = now_ns();
	} else if (strcmp(kind, "read-direct-4k") == 0) {
		int fd = open(big, O_RDONLY | O_DIRECT);
		if (fd < 0 && errno == EINVAL) {
			/* The filesystem takes no O_DIRECT (the kernel's file-backed EROFS mount). */
			return (struct sample){.unsupported = 1};
		}
		if (fd < 0) die("open O_DIRECT", big);
		if (fstat(fd, &st) < 0) die("fstat", big);
		uint64_t pages = (uint64_t)st.st_size / PAGE;
		if (pages == 0) die("too small", big);
		void *buffer;
		if (posix_memalign(&buffer, PAGE, PAGE) != 0) die("posix_memalign", "");
		uint64_t state = 0x9e3779b97f4a7c15u ^ (seed * 0xbf58476d1ce4e5b9u);
		start = now_ns();
		for (long op = 0; op < count; op++) {
			state = state * 6364136223846793005u + 1442695040888963407u;
			off_t offset = (off_t)((state >> 33) % pages) * PAGE;
			if (pread(fd, buffer, PAGE, offset) != PAGE) die("pread", big);
		}
		end = now_ns();
		close(fd);
	} else if (strcmp(kind, "read-seq-1m") == 0 || strcmp(kind, "read-random-4k") == 0) {
		int sequential = kind[5] == 's';
		size_t size = sequential ? 1u << 20 : PAGE;
		char *buffer = malloc(size);
		int *fds = calloc((size_t)files, sizeof(int));
		uint64_t *pages = calloc((size_t)files, sizeof(uint64_t));
		if (!buffer || !fds || !pages) die("malloc", "");
		for (long file = 0; file < files; file++) {
			snprintf(big, sizeof(big), "%s/big%ld", mountpoint, file);
			fds[file] = open(big, O_RDONLY);
			if (fds[file] < 0) die("open", big);
			if (fstat(fds[file], &st) < 0) die("fstat", big);
			pages[file] = (uint64_t)st.st_size / PAGE;
			if (pages[file] == 0) die("too small", big);
		}
		uint64_t state = 0x9e3779b97f4a7c15u ^ (seed * 0xbf58476d1ce4e5b9u);
		long ops = 0;
		start = now_ns();
		if (sequential) {
			for (long file = 0; file < files; file++) {
				ssize_t got;
				while ((got = read(fds[file], buffer, size)) > 0) ops++;
				if (got < 0) die("read", big);
			}
		} else {
			for (; ops < count; ops++) {
				state = state * 6364136223846793005u + 1442695040888963407u;
				long file = (long)((state >> 17) % (uint64_t)files);
				off_t offset = (off_t)((state >> 33) % pages[file]) * PAGE;
				if (pread(fds[file], buffer, PAGE, offset) != PAGE) die("pread", big);
			}
		}
		end = now_ns();
		count = ops;
	} else {
		fprintf(stderr, "fusebench-roundtrip: unknown kind '%s'\n", kind);
		exit(2);
	}
	return (struct sample){.start = start, .end = end, .ops = count, .unsupported = 0};
}

/* PROCESSES forked loops released at once; each writes its sample to `results`. */
static void run_processes(const char *kind, const char *mountpoint, char **paths, long files, long count,
                          uint64_t seed, long processes) {
	int release[2], results[2];
	if (pipe(release) < 0 || pipe(results) < 0) die("pipe", "");
	for (long process = 0; process < processes; process++) {
		pid_t pid = fork();
		if (pid < 0) die("fork", "");
		if (pid == 0) {
			close(release[1]);
			close(results[0]);
			char byte;
			/* Returns 0 once the parent closed its end: every process starts together. */
			if (read(release[0], &byte, 1) < 0) die("read", "release pipe");
			struct sample sample = run_kind(kind, mountpoint, paths, files, count, seed + (uint64_t)process,
			                                process * files / processes);
			if (write(results[1], &sample, sizeof(sample)) != (ssize_t)sizeof(sample)) die("write", "results pipe");
			_exit(0);
		}
	}
	close(release[0]);
	close(results[1]);
	close(release[1]);
	uint64_t first_start = UINT64_MAX, last_end = 0, busy_ns = 0;
	long ops = 0, reported = 0;
	struct sample sample;
	while (read(results[0], &sample, sizeof(sample)) == (ssize_t)sizeof(sample)) {
		reported++;
		if (sample.unsupported) continue;
		if (sample.start < first_start) first_start = sample.start;
		if (sample.end > last_end) last_end = sample.end;
		busy_ns += sample.end - sample.start;
		ops += sample.ops;
	}
	int failed = 0;
	for (long process = 0; process < processes; process++) {
		int status;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
	}
	if (failed || reported != processes) {
		fprintf(stderr, "fusebench-roundtrip: %ld of %ld processes failed\n", processes - reported, processes);
		exit(1);
	}
	if (ops == 0) {
		printf("unsupported\n");
		return;
	}
	printf("%.1f\n%.0f\n", (double)busy_ns / (double)ops, (double)ops * 1e9 / (double)(last_end - first_start));
}

int main(int argc, char **argv) {
	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: fusebench-roundtrip KIND MOUNTPOINT FILES COUNT [SEED [PROCESSES]]\n");
		return 2;
	}
	uint64_t seed = argc >= 6 ? strtoull(argv[5], NULL, 10) : 0;
	const char *kind = argv[1];
	const char *mountpoint = argv[2];
	long files = strtol(argv[3], NULL, 10);
	long count = strtol(argv[4], NULL, 10);
	if (files < 1 || count < 1) {
		fprintf(stderr, "fusebench-roundtrip: FILES and COUNT must be positive\n");
		return 2;
	}
	char **paths = calloc((size_t)files, sizeof(char *));
	if (!paths) die("calloc", "");
	for (long file = 0; file < files; file++) {
		if (asprintf(&paths[file], "%s/files/f%ld", mountpoint, file) < 0) die("asprintf", "");
	}
	long processes = argc == 7 ? strtol(argv[6], NULL, 10) : 1;
	if (processes < 1 || processes > 1024) {
		fprintf(stderr, "fusebench-roundtrip: PROCESSES must be from 1 to 1024\n");
		return 2;
	}
	if (processes > 1) {
		run_processes(kind, mountpoint, paths, files, count, seed, processes);
		return 0;
	}
	struct sample sample = run_kind(kind, mountpoint, paths, files, count, seed, 0);
	if (sample.unsupported) {
		printf("unsupported\n");
		return 0;
	}
	printf("%.1f\n", (double)(sample.end - sample.start) / (double)sample.ops);
	return 0;
}
