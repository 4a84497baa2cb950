/*
 * The few system calls Node.js does not expose, for fusebench's daemons and clients:
 * extended attributes without following symlinks (lgetxattr, llistxattr) and the
 * FUSE passthrough ioctls on /dev/fuse (FUSE_DEV_IOC_BACKING_OPEN/CLOSE, Linux >= 6.9), and
 * FUSE_DEV_IOC_CLONE, which attaches a new open of /dev/fuse to a mounted connection.
 * mount(2) and umount2(2) themselves, because mount(8) turns a regular-file source into a loop device
 * and so cannot make the kernel's file-backed EROFS mount, and a FUSE mount needs the /dev/fuse fd it holds.
 * flock(2) for the one-run-per-machine lock, which the kernel releases when its holder dies.
 * read(2), write(2) and writev(2) of FUSE requests and replies, for devfuse's serving loop, and
 * pread(2) of image data into a caller's buffer, which every READ makes (Node's readSync costs a
 * request object, argument checks and a trace hook per call).
 * _exit(2) for a daemon whose worker threads sit in read(2) on /dev/fuse: Node's own exit waits
 * for every worker, and no JS call ends a thread blocked in a system call.
 * For a daemon serving /dev/fuse on its main thread: a libuv poll of the descriptor, so that the
 * event loop wakes it per request and still runs its signal handlers; and, once it only serves,
 * blocking reads that its stop signals interrupt (one system call a request instead of two).
 * posix_spawn(3) and waitpid(2) for the unmount helper a daemon starts before it drops root:
 * glibc's posix_spawn shares the parent's memory until the exec (CLONE_VFORK), where Node's
 * child_process forks, copying the page tables of a ~100 MB process (11–13 ms of a daemon's
 * start on a PVM guest, against ~1 ms).
 * Each function does one system call; errors become JS errors with `code` set to the errno name
 * and `errno` to its number, like Node's own fs errors, except in the FUSE request calls: they
 * return -errno, because ENOENT (a withdrawn request) and EINTR are part of a serving loop's
 * ordinary life and an Error with its stack trace costs more than the request (pread likewise:
 * its caller words the error, naming what it was reading).
 */
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/xattr.h>
#include <uv.h>
#include "napi-arguments.h"

/* struct fuse_backing_map and its ioctls, from include/uapi/linux/fuse.h (7.40); Debian 12's headers predate them. */
struct fusebench_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define FUSEBENCH_DEV_IOC_MAGIC 229
/* FUSE_DEV_IOC_CLONE (Linux 4.2) beside them, so all three come from one place. */
#define FUSEBENCH_DEV_IOC_CLONE _IOR(FUSEBENCH_DEV_IOC_MAGIC, 0, uint32_t)
#define FUSEBENCH_DEV_IOC_BACKING_OPEN _IOW(FUSEBENCH_DEV_IOC_MAGIC, 1, struct fusebench_backing_map)
#define FUSEBENCH_DEV_IOC_BACKING_CLOSE _IOW(FUSEBENCH_DEV_IOC_MAGIC, 2, uint32_t)

/* XATTR_SIZE_MAX and XATTR_LIST_MAX: the kernel refuses anything larger. */
#define XATTR_VALUE_CAP 65536
#define XATTR_LIST_CAP 65536
#define PATH_CAP 4096

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
	napi_value message, code, error, number;
	char text[128];
	snprintf(text, sizeof(text), "%s: %s", syscall, strerror(err));
	napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
	napi_create_string_utf8(env, strerrorname_np(err) ? strerrorname_np(err) : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
	napi_create_error(env, code, message, &error);
	napi_create_int32(env, -err, &number);
	napi_set_named_property(env, error, "errno", number);
	napi_throw(env, error);
	return NULL;
}

/* Copies a string or Buffer argument into `out` as a NUL-terminated C string. */
static int get_cstring(napi_env env, napi_value value, char *out, size_t cap) {
	bool is_buffer = false;
	napi_is_buffer(env, value, &is_buffer);
	if (is_buffer) {
		void *data;
		size_t length;
		napi_get_buffer_info(env, value, &data, &length);
		if (length >= cap || memchr(data, 0, length)) return -1;
		memcpy(out, data, length);
		out[length] = 0;
		return 0;
	}
	size_t length;
	if (napi_get_value_string_utf8(env, value, out, cap, &length) != napi_ok) return -1;
	return length + 1 >= cap ? -1 : 0;
}

/* lgetxattr(path, name) -> Buffer */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	char path[PATH_CAP], name[256];
	if (get_args(env, info, 2, argv) || get_cstring(env, argv[0], path, sizeof(path)) ||
	    get_cstring(env, argv[1], name, sizeof(name)))
		return throw_type(env, "lgetxattr(path, name): path and name must be strings or Buffers");
	char *value = malloc(XATTR_VALUE_CAP);
	if (!value) return throw_errno(env, ENOMEM, "lgetxattr");
	ssize_t length = lgetxattr(path, name, value, XATTR_VALUE_CAP);
	if (length < 0) {
		int err = errno;
		free(value);
		return throw_errno(env, err, "lgetxattr");
	}
	napi_value result;
	napi_create_buffer_copy(env, (size_t)length, value, NULL, &result);
	free(value);
	return result;
}

/* llistxattr(path) -> Buffer[] of names without their NUL */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
	napi_value argv[1];
	char path[PATH_CAP];
	if (get_args(env, info, 1, argv) || get_cstring(env, argv[0], path, sizeof(path)))
		return throw_type(env, "llistxattr(path): path must be a string or Buffer");
	char *list = malloc(XATTR_LIST_CAP);
	if (!list) return throw_errno(env, ENOMEM, "llistxattr");
	ssize_t length = llistxattr(path, list, XATTR_LIST_CAP);
	if (length < 0) {
		int err = errno;
		free(list);
		return throw_errno(env, err, "llistxattr");
	}
	napi_value result;
	napi_create_array(env, &result);
	uint32_t index = 0;
	for (ssize_t start = 0; start < length;) {
		size_t name_length = strnlen(list + start, (size_t)(length - start));
		napi_value name;
		napi_create_buffer_copy(env, name_length, list + start, NULL, &name);
		napi_set_element(env, result, index++, name);
		start += (ssize_t)name_length + 1;
	}
	free(list);
	return result;
}

/* fuseBackingOpen(devFuseFd, backingFd) -> backing id for FOPEN_PASSTHROUGH */
static napi_value js_fuse_backing_open(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	int32_t dev_fd, backing_fd;
	if (get_args(env, info, 2, argv) || napi_get_value_int32(env, argv[0], &dev_fd) != napi_ok ||
	    napi_get_value_int32(env, argv[1], &backing_fd) != napi_ok)
		return throw_type(env, "fuseBackingOpen(devFuseFd, backingFd): two integers expected");
	struct fusebench_backing_map map = {.fd = backing_fd, .flags = 0, .padding = 0};
	int id = ioctl(dev_fd, FUSEBENCH_DEV_IOC_BACKING_OPEN, &map);
	if (id < 0) return throw_errno(env, errno, "ioctl(FUSE_DEV_IOC_BACKING_OPEN)");
	napi_value result;
	napi_create_int32(env, id, &result);
	return result;
}

/* fuseBackingClose(devFuseFd, backingId) */
static napi_value js_fuse_backing_close(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	int32_t dev_fd;
	uint32_t backing_id;
	if (get_args(env, info, 2, argv) || napi_get_value_int32(env, argv[0], &dev_fd) != napi_ok ||
	    napi_get_value_uint32(env, argv[1], &backing_id) != napi_ok)
		return throw_type(env, "fuseBackingClose(devFuseFd, backingId): two integers expected");
	if (ioctl(dev_fd, FUSEBENCH_DEV_IOC_BACKING_CLOSE, &backing_id) < 0)
		return throw_errno(env, errno, "ioctl(FUSE_DEV_IOC_BACKING_CLOSE)");
	return NULL;
}

/* fuseDevClone(newFd, mountedFd): newFd (a fresh open of /dev/fuse) serves mountedFd's connection */
static napi_value js_fuse_dev_clone(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	int32_t new_fd;
	uint32_t mounted_fd;
	if (get_args(env, info, 2, argv) || napi_get_value_int32(env, argv[0], &new_fd) != napi_ok ||
	    napi_get_value_uint32(env, argv[1], &mounted_fd) != napi_ok)
		return throw_type(env, "fuseDevClone(newFd, mountedFd): two integers expected");
	if (ioctl(new_fd, FUSEBENCH_DEV_IOC_CLONE, &mounted_fd) < 0)
		return throw_errno(env, errno, "ioctl(FUSE_DEV_IOC_CLONE)");
	return NULL;
}

/* mount(source, target, fstype, flags, data) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
	napi_value argv[5];
	char source[PATH_CAP], target[PATH_CAP], fstype[256], data[PATH_CAP];
	uint32_t flags;
	if (get_args(env, info, 5, argv) || get_cstring(env, argv[0], source, sizeof(source)) ||
	    get_cstring(env, argv[1], target, sizeof(target)) || get_cstring(env, argv[2], fstype, sizeof(fstype)) ||
	    napi_get_value_uint32(env, argv[3], &flags) != napi_ok || get_cstring(env, argv[4], data, sizeof(data)))
		return throw_type(env, "mount(source, target, fstype, flags, data): strings and an integer expected");
	if (mount(source, target, fstype, flags, data) < 0) return throw_errno(env, errno, "mount");
	return NULL;
}

/* umount2(target, flags) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	char target[PATH_CAP];
	uint32_t flags;
	if (get_args(env, info, 2, argv) || get_cstring(env, argv[0], target, sizeof(target)) ||
	    napi_get_value_uint32(env, argv[1], &flags) != napi_ok)
		return throw_type(env, "umount2(target, flags): a path and an integer expected");
	if (umount2(target, (int)flags) < 0) return throw_errno(env, errno, "umount2");
	return NULL;
}

/* flockExclusive(fd): true when the exclusive lock was taken, false when another holds it (never blocks) */
static napi_value js_flock_exclusive(napi_env env, napi_callback_info info) {
	napi_value argv[1];
	int32_t fd;
	if (get_args(env, info, 1, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok)
		return throw_type(env, "flockExclusive(fd): an integer expected");
	int taken = flock(fd, LOCK_EX | LOCK_NB) == 0;
	if (!taken && errno != EWOULDBLOCK) return throw_errno(env, errno, "flock");
	napi_value result;
	napi_get_boolean(env, taken, &result);
	return result;
}

/* fuseRead(devFuseFd, buffer) -> bytes read, or -errno: one read(2) of a whole request */
static napi_value js_fuse_read(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	int32_t fd;
	void *data;
	size_t length;
	if (get_args(env, info, 2, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    get_bytes(env, argv[1], &data, &length))
		return throw_type(env, "fuseRead(devFuseFd, buffer): an integer and a Buffer expected");
	ssize_t got = read(fd, data, length);
	return int_result(env, got < 0 ? -errno : got);
}

/* fuseWrite(devFuseFd, buffer, length) -> bytes written, or -errno: one reply of `length` bytes */
static napi_value js_fuse_write(napi_env env, napi_callback_info info) {
	napi_value argv[3];
	int32_t fd;
	uint32_t count;
	void *data;
	size_t length;
	if (get_args(env, info, 3, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    get_bytes(env, argv[1], &data, &length) || napi_get_value_uint32(env, argv[2], &count) != napi_ok ||
	    count > length)
		return throw_type(env, "fuseWrite(devFuseFd, buffer, length): length must fit the Buffer");
	ssize_t put = write(fd, data, count);
	return int_result(env, put < 0 ? -errno : put);
}

/* fuseWritev(devFuseFd, header, data) -> bytes written, or -errno: one reply of a header and its argument */
static napi_value js_fuse_writev(napi_env env, napi_callback_info info) {
	napi_value argv[3];
	int32_t fd;
	struct iovec iov[2];
	if (get_args(env, info, 3, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    get_bytes(env, argv[1], &iov[0].iov_base, &iov[0].iov_len) ||
	    get_bytes(env, argv[2], &iov[1].iov_base, &iov[1].iov_len))
		return throw_type(env, "fuseWritev(devFuseFd, header, data): an integer and two Buffers expected");
	ssize_t put = writev(fd, iov, iov[1].iov_len > 0 ? 2 : 1);
	return int_result(env, put < 0 ? -errno : put);
}

/* preadInto(fd, buffer, at, position, length) -> bytes read, or -errno: one pread(2) into buffer[at..] */
static napi_value js_pread_into(napi_env env, napi_callback_info info) {
	napi_value argv[5];
	int32_t fd;
	void *data;
	size_t size;
	int64_t at, position, length;
	if (get_args(env, info, 5, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    get_bytes(env, argv[1], &data, &size) || napi_get_value_int64(env, argv[2], &at) != napi_ok ||
	    napi_get_value_int64(env, argv[3], &position) != napi_ok ||
	    napi_get_value_int64(env, argv[4], &length) != napi_ok || at < 0 || length < 0 || position < 0 ||
	    (uint64_t)at > size || (uint64_t)length > size - (uint64_t)at || length > INT32_MAX)
		return throw_type(env, "preadInto(fd, buffer, at, position, length): the range must fit the Buffer");
	ssize_t got = pread(fd, (char *)data + at, (size_t)length, (off_t)position);
	return int_result(env, got < 0 ? -errno : got);
}

/* exitProcess(status): ends every thread of the process at once (exit_group), never returns */
static napi_value js_exit_process(napi_env env, napi_callback_info info) {
	napi_value argv[1];
	int32_t status;
	if (get_args(env, info, 1, argv) || napi_get_value_int32(env, argv[0], &status) != napi_ok)
		return throw_type(env, "exitProcess(status): an integer expected");
	_exit(status & 0xff);
}

extern char **environ;

/* The most arguments spawnWithInput passes on, and the most bytes of all of them. */
#define SPAWN_ARGS_CAP 16
#define SPAWN_TEXT_CAP 8192

/*
 * spawnWithInput(path, args) -> [pid, fd]: posix_spawn of `path` with argv `args` and this
 * process's environment; its stdin the read end of a new pipe whose write end (close-on-exec) is
 * `fd`, its stdout and stderr /dev/null, every signal at its default action and none blocked.
 */
static napi_value js_spawn_with_input(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	char path[PATH_CAP];
	uint32_t count = 0;
	bool is_array = false;
	if (get_args(env, info, 2, argv) || get_cstring(env, argv[0], path, sizeof(path)) ||
	    napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
	    napi_get_array_length(env, argv[1], &count) != napi_ok || count == 0 || count > SPAWN_ARGS_CAP)
		return throw_type(env, "spawnWithInput(path, args): a path and 1 to 16 strings expected");
	char text[SPAWN_TEXT_CAP];
	char *args[SPAWN_ARGS_CAP + 1];
	size_t used = 0;
	for (uint32_t index = 0; index < count; index++) {
		napi_value element;
		if (napi_get_element(env, argv[1], index, &element) != napi_ok ||
		    get_cstring(env, element, text + used, sizeof(text) - used))
			return throw_type(env, "spawnWithInput(path, args): a path and 1 to 16 strings expected");
		args[index] = text + used;
		used += strlen(text + used) + 1;
	}
	args[count] = NULL;
	int input[2];
	if (pipe2(input, O_CLOEXEC) < 0) return throw_errno(env, errno, "pipe2");
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attributes;
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, input[0], 0);
	posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&attributes);
	posix_spawnattr_setsigdefault(&attributes, &all);
	posix_spawnattr_setsigmask(&attributes, &none);
	posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	int failed = posix_spawn(&pid, path, &actions, &attributes, args, environ);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attributes);
	close(input[0]);
	if (failed) {
		close(input[1]);
		return throw_errno(env, failed, "posix_spawn");
	}
	napi_value result, element;
	napi_create_array_with_length(env, 2, &result);
	napi_create_int32(env, pid, &element);
	napi_set_element(env, result, 0, element);
	napi_create_int32(env, input[1], &element);
	napi_set_element(env, result, 1, element);
	return result;
}

/* reapChild(pid) -> null while it runs, else its exit status (128 + the signal that killed it) */
static napi_value js_reap_child(napi_env env, napi_callback_info info) {
	napi_value argv[1];
	int32_t pid;
	if (get_args(env, info, 1, argv) || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0)
		return throw_type(env, "reapChild(pid): a positive integer expected");
	int status;
	pid_t reaped;
	do reaped = waitpid(pid, &status, WNOHANG);
	while (reaped < 0 && errno == EINTR);
	if (reaped < 0) return throw_errno(env, errno, "waitpid");
	napi_value result;
	if (reaped == 0) {
		napi_get_null(env, &result);
		return result;
	}
	napi_create_int32(env, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), &result);
	return result;
}

/* One watchReadable: its poll handle (first, so the handle's address is the watch's), and the JS callback. */
typedef struct {
	uv_poll_t poll;
	napi_env env;
	napi_ref callback;
	napi_async_context context;
	int stopped;
	/* The struct is freed by whichever comes last: libuv's close callback or the external's finalizer. */
	int closed;
	int collected;
} readable_watch;

static void watch_fired(uv_poll_t *poll, int status, int events) {
	(void)events;
	readable_watch *watch = (readable_watch *)poll;
	napi_env env = watch->env;
	napi_handle_scope scope;
	napi_value callback, receiver, argument, result;
	napi_open_handle_scope(env, &scope);
	napi_get_reference_value(env, watch->callback, &callback);
	napi_get_global(env, &receiver);
	napi_create_int32(env, status, &argument);
	/* napi_make_callback, not napi_call_function: it runs the microtasks and nextTicks the callback queued. */
	if (napi_make_callback(env, watch->context, receiver, callback, 1, &argument, &result) == napi_pending_exception) {
		napi_value error;
		napi_get_and_clear_last_exception(env, &error);
		napi_fatal_exception(env, error);
	}
	napi_close_handle_scope(env, scope);
}

static void watch_closed(uv_handle_t *handle) {
	readable_watch *watch = (readable_watch *)handle;
	watch->closed = 1;
	if (watch->collected) free(watch);
}

static void watch_collected(napi_env env, void *data, void *hint) {
	(void)env;
	(void)hint;
	readable_watch *watch = data;
	watch->collected = 1;
	if (watch->closed) free(watch);
}

/* watchReadable(fd, onReadable) -> watch: calls onReadable(status) from the event loop whenever fd
 * is readable; status < 0 (a libuv error) when poll(2) reported an error, after
 * which the watch has stopped by itself. The watch holds the event loop open until unwatch(watch). */
static napi_value js_watch_readable(napi_env env, napi_callback_info info) {
	napi_value argv[2], name, result;
	int32_t fd;
	napi_valuetype type;
	uv_loop_t *loop;
	if (get_args(env, info, 2, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function)
		return throw_type(env, "watchReadable(fd, onReadable): an integer and a function expected");
	if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_type(env, "watchReadable: no event loop");
	readable_watch *watch = calloc(1, sizeof(*watch));
	if (!watch) return throw_errno(env, ENOMEM, "watchReadable");
	int failed = uv_poll_init(loop, &watch->poll, fd);
	if (failed) {
		free(watch);
		return throw_errno(env, -failed, "uv_poll_init");
	}
	watch->env = env;
	napi_create_reference(env, argv[1], 1, &watch->callback);
	napi_create_string_utf8(env, "fusebench:watchReadable", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, NULL, name, &watch->context);
	failed = uv_poll_start(&watch->poll, UV_READABLE, watch_fired);
	if (failed) {
		napi_delete_reference(env, watch->callback);
		napi_async_destroy(env, watch->context);
		watch->collected = 1;
		uv_close((uv_handle_t *)&watch->poll, watch_closed);
		return throw_errno(env, -failed, "uv_poll_start");
	}
	napi_create_external(env, watch, watch_collected, NULL, &result);
	return result;
}

/* unwatch(watch): stops a watchReadable for good (again: nothing) */
static napi_value js_unwatch(napi_env env, napi_callback_info info) {
	napi_value argv[1];
	void *data;
	napi_valuetype type;
	if (get_args(env, info, 1, argv) || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external ||
	    napi_get_value_external(env, argv[0], &data) != napi_ok)
		return throw_type(env, "unwatch(watch): a watchReadable result expected");
	readable_watch *watch = data;
	if (watch->stopped) return NULL;
	watch->stopped = 1;
	uv_poll_stop(&watch->poll);
	napi_delete_reference(env, watch->callback);
	napi_async_destroy(env, watch->context);
	uv_close((uv_handle_t *)&watch->poll, watch_closed);
	return NULL;
}

static int set_nonblocking(int fd, bool nonblocking) {
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0) return -1;
	return fcntl(fd, F_SETFL, nonblocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

/* setNonBlocking(fd, nonBlocking): sets or clears O_NONBLOCK */
static napi_value js_set_nonblocking(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	int32_t fd;
	bool nonblocking;
	if (get_args(env, info, 2, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    napi_get_value_bool(env, argv[1], &nonblocking) != napi_ok)
		return throw_type(env, "setNonBlocking(fd, nonBlocking): an integer and a boolean expected");
	if (set_nonblocking(fd, nonblocking) < 0) return throw_errno(env, errno, "fcntl");
	return NULL;
}

/*
 * While the main thread blocks in read(2) of /dev/fuse, a stop signal must bring it back to the event
 * loop, where Node runs the signal's JS handlers. Node's handlers are installed with SA_RESTART,
 * which restarts the read instead. interruptingSignals re-installs each given signal's handler
 * without it, and in front of it notes the signal and sets the descriptor non-blocking, so that a
 * read the signal missed (it came just before the read began) does not block either;
 * blockUnlessSignalled makes the descriptor blocking only while no such signal came, checked with
 * the signals blocked, so none slips between the check and the change. A signal sent to the
 * process goes to its main thread when that thread neither blocks it nor has one pending (the
 * kernel's complete_signal), which is the case while it serves.
 */
#define INTERRUPTING_CAP 8
static volatile sig_atomic_t interrupted_fd = -1;
static volatile sig_atomic_t interrupting_seen;
static int interrupting[INTERRUPTING_CAP];
static struct sigaction interrupting_previous[INTERRUPTING_CAP];
static int interrupting_count;
static bool interrupting_installed;
static sigset_t interrupting_set;

static void interrupting_handler(int signal, siginfo_t *info, void *context) {
	int saved = errno;
	interrupting_seen = 1;
	if (interrupted_fd >= 0) set_nonblocking(interrupted_fd, true);
	errno = saved;
	for (int i = 0; i < interrupting_count; i++) {
		if (interrupting[i] != signal) continue;
		const struct sigaction *previous = &interrupting_previous[i];
		if (previous->sa_flags & SA_SIGINFO) previous->sa_sigaction(signal, info, context);
		else if (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN) previous->sa_handler(signal);
	}
}

/* The saved actions stay readable after a restore: a handler already running elsewhere still chains. */
static void restore_signals(void) {
	interrupted_fd = -1;
	if (!interrupting_installed) return;
	interrupting_installed = false;
	for (int i = 0; i < interrupting_count; i++) sigaction(interrupting[i], &interrupting_previous[i], NULL);
}

/* interruptingSignals(fd, signals): as above, for each of `signals` that has a handler */
static napi_value js_interrupting_signals(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	int32_t fd;
	uint32_t length;
	bool is_array = false;
	if (get_args(env, info, 2, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
	    napi_get_array_length(env, argv[1], &length) != napi_ok || length > INTERRUPTING_CAP)
		return throw_type(env, "interruptingSignals(fd, signals): an integer and at most 8 signal numbers expected");
	restore_signals();
	interrupting_count = 0;
	interrupting_seen = 0;
	sigemptyset(&interrupting_set);
	interrupted_fd = fd;
	interrupting_installed = true;
	for (uint32_t i = 0; i < length; i++) {
		napi_value element;
		int32_t signal;
		struct sigaction previous, replacement;
		if (napi_get_element(env, argv[1], i, &element) != napi_ok ||
		    napi_get_value_int32(env, element, &signal) != napi_ok || signal <= 0 || signal >= NSIG) {
			restore_signals();
			return throw_type(env, "interruptingSignals(fd, signals): signal numbers expected");
		}
		if (sigaction(signal, NULL, &previous) < 0) {
			int err = errno;
			restore_signals();
			return throw_errno(env, err, "sigaction");
		}
		bool handled = (previous.sa_flags & SA_SIGINFO) ||
			       (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN);
		if (!handled) continue;
		replacement = previous;
		replacement.sa_sigaction = interrupting_handler;
		replacement.sa_flags = (previous.sa_flags | SA_SIGINFO) & ~(SA_RESTART | SA_RESETHAND);
		interrupting[interrupting_count] = signal;
		interrupting_previous[interrupting_count] = previous;
		interrupting_count++;
		sigaddset(&interrupting_set, signal);
		if (sigaction(signal, &replacement, NULL) < 0) {
			int err = errno;
			restore_signals();
			return throw_errno(env, err, "sigaction");
		}
	}
	return NULL;
}

/* blockUnlessSignalled(fd) -> true when fd is now blocking, false when a signal came since interruptingSignals */
static napi_value js_block_unless_signalled(napi_env env, napi_callback_info info) {
	napi_value argv[1];
	int32_t fd;
	sigset_t previous;
	if (get_args(env, info, 1, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok)
		return throw_type(env, "blockUnlessSignalled(fd): an integer expected");
	pthread_sigmask(SIG_BLOCK, &interrupting_set, &previous);
	bool blocking = interrupting_installed && !interrupting_seen;
	int err = blocking && set_nonblocking(fd, false) < 0 ? errno : 0;
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	if (err) return throw_errno(env, err, "fcntl");
	napi_value result;
	napi_get_boolean(env, blocking, &result);
	return result;
}

/* restoreSignals(): puts back the handlers interruptingSignals replaced */
static napi_value js_restore_signals(napi_env env, napi_callback_info info) {
	(void)env;
	(void)info;
	restore_signals();
	return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
	napi_property_descriptor functions[] = {
		{"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
		{"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
		{"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
		{"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_default, NULL},
		{"fuseBackingOpen", NULL, js_fuse_backing_open, NULL, NULL, NULL, napi_default, NULL},
		{"fuseBackingClose", NULL, js_fuse_backing_close, NULL, NULL, NULL, napi_default, NULL},
		{"fuseDevClone", NULL, js_fuse_dev_clone, NULL, NULL, NULL, napi_default, NULL},
		{"flockExclusive", NULL, js_flock_exclusive, NULL, NULL, NULL, napi_default, NULL},
		{"fuseRead", NULL, js_fuse_read, NULL, NULL, NULL, napi_default, NULL},
		{"fuseWrite", NULL, js_fuse_write, NULL, NULL, NULL, napi_default, NULL},
		{"fuseWritev", NULL, js_fuse_writev, NULL, NULL, NULL, napi_default, NULL},
		{"preadInto", NULL, js_pread_into, NULL, NULL, NULL, napi_default, NULL},
		{"exitProcess", NULL, js_exit_process, NULL, NULL, NULL, napi_default, NULL},
		{"watchReadable", NULL, js_watch_readable, NULL, NULL, NULL, napi_default, NULL},
		{"unwatch", NULL, js_unwatch, NULL, NULL, NULL, napi_default, NULL},
		{"setNonBlocking", NULL, js_set_nonblocking, NULL, NULL, NULL, napi_default, NULL},
		{"interruptingSignals", NULL, js_interrupting_signals, NULL, NULL, NULL, napi_default, NULL},
		{"blockUnlessSignalled", NULL, js_block_unless_signalled, NULL, NULL, NULL, napi_default, NULL},
		{"restoreSignals", NULL, js_restore_signals, NULL, NULL, NULL, napi_default, NULL},
		{"spawnWithInput", NULL, js_spawn_with_input, NULL, NULL, NULL, napi_default, NULL},
		{"reapChild", NULL, js_reap_child, NULL, NULL, NULL, napi_default, NULL},
	};
	napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
