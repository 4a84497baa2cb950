/*
 * FUSE over io_uring for devfuse: the io_uring system calls only (through liburing). The protocol
 * (what a request means, what the reply holds) stays in TypeScript, which owns every buffer.
 *
 * One ring per queue (the kernel keeps one queue per possible CPU and hands a request to the queue
 * of the CPU it was issued on). Each ring entry is a pair of buffers the kernel fills with a
 * request and reads the reply from: a struct fuse_uring_req_header and a payload buffer.
 *   ringOpen(devFuseFd, qid, headers[], payloads[], input) registers every entry
 *     (FUSE_IO_URING_CMD_REGISTER) and returns the ring;
 *   ringNext(ring, committed, timeoutMs) commits the reply in entry `committed` (unless it is -1)
 *     and fetches the next request (FUSE_IO_URING_CMD_COMMIT_AND_FETCH), in one io_uring_enter;
 *     it returns the index of the entry now holding a request, -1 after the timeout, -2 once the
 *     kernel ended the queue (ENOTCONN: unmounted or aborted). The request is also laid out in
 *     `input` as read(2) of /dev/fuse gives it (fuse_in_header, op_in, payload): three memcpy here
 *     instead of three Buffer copies in JS, each of which allocates a view. An entry whose sizes
 *     do not add up (or do not fit `input`) leaves a zero length in input's fuse_in_header.len;
 *   ringClose(ring).
 * Facts from include/uapi/linux/fuse.h (7.42) and fs/fuse/dev_uring.c.
 */
#define NAPI_VERSION 8
#include <errno.h>
#include <liburing.h>
#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* enum fuse_uring_cmd */
#define FUSE_IO_URING_CMD_REGISTER 1
#define FUSE_IO_URING_CMD_COMMIT_AND_FETCH 2
/* struct fuse_uring_req_header: in_out[128], op_in[128], struct fuse_uring_ent_in_out (32 bytes) */
#define REQ_HEADER_SIZE 288
/* fuse_uring_req_header.ring_ent_in_out.commit_id */
#define COMMIT_ID_OFFSET (256 + 8)
/* fuse_uring_req_header.ring_ent_in_out.payload_sz */
#define PAYLOAD_SZ_OFFSET (256 + 16)
/* fuse_uring_req_header.op_in, and its size (FUSE_URING_OP_IN_OUT_SZ) */
#define OP_IN_OFFSET 128
#define OP_IN_SIZE 128
/* sizeof(struct fuse_in_header) */
#define IN_HEADER_SIZE 40
/* The kernel takes the header and the payload as two iovecs (FUSE_URING_IOV_SEGS). */
#define IOV_SEGS 2
#define MAX_ENTRIES 256

/* struct fuse_uring_cmd_req, in the SQE's command area (which needs IORING_SETUP_SQE128). */
struct fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id; /* the request's unique, taken from ring_ent_in_out.commit_id */
	uint16_t qid;       /* queue index: the CPU the queue serves */
	uint8_t padding[6];
};

struct ring_entry {
	struct iovec iov[IOV_SEGS];
};

struct ring {
	struct io_uring uring;
	int fd;
	uint16_t qid;
	unsigned count;
	int closed;
	/* Where each request is laid out as /dev/fuse gives it (the caller's Buffer, kept alive by it). */
	uint8_t *input;
	size_t input_length;
	struct ring_entry entries[MAX_ENTRIES];
};

static napi_value throw_errno(napi_env env, int err, const char *what) {
	napi_value message, code, error;
	char text[160];
	snprintf(text, sizeof(text), "%s: %s", what, strerror(err));
	napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
	napi_create_string_utf8(env, strerrorname_np(err) ? strerrorname_np(err) : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
	napi_create_error(env, code, message, &error);
	napi_throw(env, error);
	return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
	napi_throw_type_error(env, NULL, message);
	return NULL;
}

static void prepare(struct ring *ring, unsigned index, uint32_t command) {
	/* At most one SQE per entry is ever outstanding, and the SQ has room for all of them. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->uring);
	if (!sqe) return;
	/* A 128-byte SQE (IORING_SETUP_SQE128): the command area runs past the 64-byte struct. */
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ring->fd;
	sqe->cmd_op = command;
	sqe->user_data = index;
	struct fuse_uring_cmd_req *request = (struct fuse_uring_cmd_req *)sqe->cmd;
	request->qid = ring->qid;
	if (command == FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)ring->entries[index].iov;
		sqe->len = IOV_SEGS;
	} else {
		memcpy(&request->commit_id, (char *)ring->entries[index].iov[0].iov_base + COMMIT_ID_OFFSET, 8);
	}
}

/* Copies entry `index`'s request into ring->input as read(2) of /dev/fuse would give it. */
static void lay_out_request(struct ring *ring, unsigned index) {
	const uint8_t *header = ring->entries[index].iov[0].iov_base;
	const uint8_t *payload = ring->entries[index].iov[1].iov_base;
	uint32_t length, payload_size;
	memcpy(&length, header, 4);
	memcpy(&payload_size, header + PAYLOAD_SZ_OFFSET, 4);
	uint32_t zero = 0;
	if (length < IN_HEADER_SIZE || payload_size > length - IN_HEADER_SIZE ||
	    payload_size > ring->entries[index].iov[1].iov_len || length > ring->input_length) {
		memcpy(ring->input, &zero, 4);
		return;
	}
	uint32_t op_size = length - IN_HEADER_SIZE - payload_size;
	if (op_size > OP_IN_SIZE) {
		memcpy(ring->input, &zero, 4);
		return;
	}
	memcpy(ring->input, header, IN_HEADER_SIZE);
	memcpy(ring->input + IN_HEADER_SIZE, header + OP_IN_OFFSET, op_size);
	memcpy(ring->input + IN_HEADER_SIZE + op_size, payload, payload_size);
}

static void finalize_ring(napi_env env, void *data, void *hint) {
	(void)env;
	(void)hint;
	struct ring *ring = data;
	if (!ring->closed) io_uring_queue_exit(&ring->uring);
	free(ring);
}

static int get_ring(napi_env env, napi_value value, struct ring **ring) {
	void *data = NULL;
	if (napi_get_value_external(env, value, &data) != napi_ok || !data) return -1;
	*ring = data;
	return (*ring)->closed ? -1 : 0;
}

/* ringOpen(devFuseFd, qid, headers: Buffer[], payloads: Buffer[], input: Buffer) -> ring */
static napi_value ring_open(napi_env env, napi_callback_info info) {
	size_t argc = 5;
	napi_value argv[5];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc != 5) return throw_type(env, "ringOpen(devFuseFd, qid, headers, payloads, input)");
	void *input;
	size_t input_length;
	if (napi_get_buffer_info(env, argv[4], &input, &input_length) != napi_ok || input_length < IN_HEADER_SIZE)
		return throw_type(env, "ringOpen: input must be a Buffer of at least 40 bytes");
	int32_t fd, qid;
	uint32_t count, payload_count;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &qid) != napi_ok ||
	    qid < 0 || qid > UINT16_MAX)
		return throw_type(env, "ringOpen: devFuseFd and qid must be integers");
	if (napi_get_array_length(env, argv[2], &count) != napi_ok ||
	    napi_get_array_length(env, argv[3], &payload_count) != napi_ok || count != payload_count || count == 0 ||
	    count > MAX_ENTRIES)
		return throw_type(env, "ringOpen: headers and payloads must be arrays of the same length (1..256)");
	struct ring *ring = calloc(1, sizeof(*ring));
	if (!ring) return throw_errno(env, ENOMEM, "ringOpen");
	ring->fd = fd;
	ring->qid = (uint16_t)qid;
	ring->count = count;
	ring->input = input;
	ring->input_length = input_length;
	for (unsigned index = 0; index < count; index++) {
		napi_value header, payload;
		void *header_data, *payload_data;
		size_t header_length, payload_length;
		bool is_buffer = false;
		napi_get_element(env, argv[2], index, &header);
		napi_get_element(env, argv[3], index, &payload);
		napi_is_buffer(env, header, &is_buffer);
		if (!is_buffer || napi_get_buffer_info(env, header, &header_data, &header_length) != napi_ok ||
		    header_length < REQ_HEADER_SIZE) {
			free(ring);
			return throw_type(env, "ringOpen: each header must be a Buffer of at least 288 bytes");
		}
		napi_is_buffer(env, payload, &is_buffer);
		if (!is_buffer || napi_get_buffer_info(env, payload, &payload_data, &payload_length) != napi_ok) {
			free(ring);
			return throw_type(env, "ringOpen: each payload must be a Buffer");
		}
		ring->entries[index].iov[0].iov_base = header_data;
		ring->entries[index].iov[0].iov_len = REQ_HEADER_SIZE;
		ring->entries[index].iov[1].iov_base = payload_data;
		ring->entries[index].iov[1].iov_len = payload_length;
	}
	struct io_uring_params params;
	memset(&params, 0, sizeof(params));
	/* The command area of a 64-byte SQE (16 bytes) cannot hold fuse_uring_cmd_req. */
	params.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
	params.cq_entries = count * 2;
	int result = io_uring_queue_init_params(count, &ring->uring, &params);
	if (result < 0) {
		free(ring);
		return throw_errno(env, -result, "io_uring_setup");
	}
	/* The kernel hands this queue the requests issued on CPU qid: serve them there. */
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(qid, &cpus);
	pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	for (unsigned index = 0; index < count; index++) prepare(ring, index, FUSE_IO_URING_CMD_REGISTER);
	result = io_uring_submit(&ring->uring);
	if (result < 0 || (unsigned)result != count) {
		io_uring_queue_exit(&ring->uring);
		free(ring);
		return throw_errno(env, result < 0 ? -result : EIO, "FUSE_IO_URING_CMD_REGISTER submit");
	}
	/* A refused REGISTER completes at once with an error; a taken one stays pending until a request. */
	struct io_uring_cqe *cqe = NULL;
	if (io_uring_peek_cqe(&ring->uring, &cqe) == 0 && cqe && cqe->res < 0) {
		int err = -cqe->res;
		io_uring_queue_exit(&ring->uring);
		free(ring);
		return throw_errno(env, err, "FUSE_IO_URING_CMD_REGISTER");
	}
	napi_value external;
	napi_create_external(env, ring, finalize_ring, NULL, &external);
	return external;
}

/* ringNext(ring, committed, timeoutMs) -> entry index | -1 (timeout) | -2 (queue ended) */
static napi_value ring_next(napi_env env, napi_callback_info info) {
	size_t argc = 3;
	napi_value argv[3];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct ring *ring;
	int32_t committed, timeout_ms;
	if (argc != 3 || get_ring(env, argv[0], &ring) != 0 || napi_get_value_int32(env, argv[1], &committed) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &timeout_ms) != napi_ok || committed < -1 ||
	    committed >= (int32_t)ring->count || timeout_ms < 0)
		return throw_type(env, "ringNext(ring, committed, timeoutMs)");
	if (committed >= 0) prepare(ring, (unsigned)committed, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
	struct __kernel_timespec timeout = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L};
	struct io_uring_cqe *cqe = NULL;
	int result;
	for (;;) {
		result = io_uring_submit_and_wait_timeout(&ring->uring, &cqe, 1, &timeout, NULL);
		if (result != -EINTR) break;
	}
	napi_value value;
	if (result == -ETIME || (result >= 0 && !cqe)) {
		napi_create_int32(env, -1, &value);
		return value;
	}
	if (result < 0) return throw_errno(env, -result, "io_uring_enter");
	int res = cqe->res;
	unsigned index = (unsigned)cqe->user_data;
	io_uring_cqe_seen(&ring->uring, cqe);
	if (res == -ENOTCONN || res == -ECONNABORTED || res == -ECANCELED) {
		napi_create_int32(env, -2, &value);
		return value;
	}
	if (res < 0) return throw_errno(env, -res, "FUSE_IO_URING_CMD_COMMIT_AND_FETCH");
	if (index >= ring->count) return throw_errno(env, EPROTO, "io_uring completion for an unknown entry");
	lay_out_request(ring, index);
	napi_create_int32(env, (int32_t)index, &value);
	return value;
}

static napi_value ring_close(napi_env env, napi_callback_info info) {
	size_t argc = 1;
	napi_value argv[1];
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	struct ring *ring;
	if (argc != 1 || get_ring(env, argv[0], &ring) != 0) return NULL;
	io_uring_queue_exit(&ring->uring);
	ring->closed = 1;
	return NULL;
}

NAPI_MODULE_INIT() {
	napi_property_descriptor properties[] = {
	    {"ringOpen", NULL, ring_open, NULL, NULL, NULL, napi_default, NULL},
	    {"ringNext", NULL, ring_next, NULL, NULL, NULL, napi_default, NULL},
	    {"ringClose", NULL, ring_close, NULL, NULL, NULL, napi_default, NULL},
	};
	napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties);
	return exports;
}
