/* Argument and result helpers shared by fusebench's N-API addons (syscalls.c, lz4.c). */
#ifndef FUSEBENCH_NAPI_ARGUMENTS_H
#define FUSEBENCH_NAPI_ARGUMENTS_H
#include <node_api.h>
#include <stdint.h>
#include <sys/types.h>

static inline napi_value throw_type(napi_env env, const char *message) {
	napi_throw_type_error(env, NULL, message);
	return NULL;
}

static inline int get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv) {
	size_t argc = expected;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	return argc == expected ? 0 : -1;
}

/* The bytes of Buffer argument `value`; -1 when it is not a Buffer. */
static inline int get_bytes(napi_env env, napi_value value, void **data, size_t *length) {
	return napi_get_buffer_info(env, value, data, length) == napi_ok ? 0 : -1;
}

/* A count or -errno as a JS number: an int32 (a small integer in V8, no heap number), as the
 * callers' buffers are far below 2 GiB. */
static inline napi_value int_result(napi_env env, ssize_t value) {
	napi_value result;
	napi_create_int32(env, (int32_t)value, &result);
	return result;
}

#endif
