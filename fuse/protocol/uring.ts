/**
 * FUSE over io_uring (protocol 7.42, Linux 6.14+): the buffers a ring entry shares with the
 * kernel, from include/uapi/linux/fuse.h. Each entry is registered as two buffers: a
 * struct fuse_uring_req_header and a payload buffer. A request arrives with its fuse_in_header in
 * in_out, its opcode's fixed header (fuse_read_in, ...) in op_in and everything after that (names,
 * xattr values) in the payload; the reply goes back as a fuse_out_header in in_out and the reply's
 * arguments in the payload, their size in ring_ent_in_out.payload_sz.
 */

/** struct fuse_uring_req_header (FUSE_URING_IN_OUT_HEADER_SZ + FUSE_URING_OP_IN_OUT_SZ + 32). */
export const UringReqHeader = {
  /** char in_out[128]: struct fuse_in_header / struct fuse_out_header */
  IN_OUT: 0,
  /** char op_in[128]: the opcode's fixed header */
  OP_IN: 128,
  /** struct fuse_uring_ent_in_out ring_ent_in_out */
  RING_ENT_IN_OUT: 256,
  SIZE: 288,
} as const;

/** struct fuse_uring_ent_in_out, at UringReqHeader.RING_ENT_IN_OUT. */
export const RingEntInOut = {
  /** u64 flags */
  FLAGS: 0,
  /** u64 commit_id: echoed by FUSE_IO_URING_CMD_COMMIT_AND_FETCH (the native part reads it) */
  COMMIT_ID: 8,
  /** u32 payload_sz: bytes of the payload buffer in use (request, then reply) */
  PAYLOAD_SZ: 16,
  /** u32 padding; u64 reserved */
  SIZE: 32,
} as const;
