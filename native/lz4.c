/*
 * LZ4 block decoding from the system's liblz4: whole blocks (LZ4_decompress_safe), and blocks
 * decoded only up to the bytes wanted (LZ4_decompress_safe_partial), which the lz4 package's
 * binding lacks: a 4 KiB read in the middle of a 1 MiB pcluster then decodes half of it on
 * average, not all of it, as erofsfuse and the kernel do.
 */
#define NAPI_VERSION 8
#include <lz4.h>
#include <node_api.h>
#include <stdint.h>
#include "napi-arguments.h"

/* decode(input, output) -> bytes decoded, or negative for a malformed stream or one that holds more
 * than `output`: decodes the LZ4 block `input` (exactly the stream) into `output`. */
static napi_value js_decode(napi_env env, napi_callback_info info) {
	napi_value argv[2];
	void *input, *output;
	size_t input_length, output_length;
	if (get_args(env, info, 2, argv) || get_bytes(env, argv[0], &input, &input_length) ||
	    get_bytes(env, argv[1], &output, &output_length) || input_length > INT32_MAX || output_length > INT32_MAX)
		return throw_type(env, "decode(input, output): two Buffers expected");
	return int_result(env, LZ4_decompress_safe(input, output, (int)input_length, (int)output_length));
}

/* decodePrefix(input, output, target) -> bytes decoded (at most target), or negative for a malformed
 * stream: decodes the LZ4 block `input` (exactly the stream, no bytes after it) into the first
 * `target` bytes of `output` and stops there. */
static napi_value js_decode_prefix(napi_env env, napi_callback_info info) {
	napi_value argv[3];
	void *input, *output;
	size_t input_length, output_length;
	uint32_t target;
	if (get_args(env, info, 3, argv) || get_bytes(env, argv[0], &input, &input_length) ||
	    get_bytes(env, argv[1], &output, &output_length) || napi_get_value_uint32(env, argv[2], &target) != napi_ok ||
	    target > output_length || input_length > INT32_MAX || output_length > INT32_MAX)
		return throw_type(env, "decodePrefix(input, output, target): two Buffers and a target within output expected");
	int decoded = LZ4_decompress_safe_partial(input, output, (int)input_length, (int)target, (int)target);
	return int_result(env, decoded);
}

static napi_value init(napi_env env, napi_value exports) {
	napi_property_descriptor functions[] = {
		{"decode", NULL, js_decode, NULL, NULL, NULL, napi_default, NULL},
		{"decodePrefix", NULL, js_decode_prefix, NULL, NULL, NULL, napi_default, NULL},
	};
	napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
