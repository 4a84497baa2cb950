/**
 * The environment a FUSE daemon is started with: ours, minus what only costs it time, plus an
 * allocator setting that spares it page faults and one V8 background thread.
 *
 * NODE_EXTRA_CA_CERTS makes every node process read and parse that CA bundle before running any
 * JavaScript (40 ms of a 120 ms `node -e 0` on a 2-core VM whose shell sets it); a daemon never
 * opens a TLS connection, and a container runtime starting it would not pass a shell's setting.
 */
const UNUSED_BY_DAEMONS = ['NODE_EXTRA_CA_CERTS'];

/**
 * glibc malloc keeps freed memory instead of handing it back to the kernel at once: blocks up to
 * 32 MiB come from its heaps, not a mmap(2) each, and it trims a heap only past 512 MiB free.
 * V8's optimizing compiler allocates and frees megabytes per function it compiles, and every
 * page handed back and taken again is a page fault (14 µs each on this PVM guest). A fresh
 * daemon's first 2,000 cold 4 KiB random reads on lz4: 2,600–2,700 page faults instead of
 * 3,800–4,000, 196–198 µs a read instead of 220–240; the next 2,000: 100–220 faults instead of
 * ~1,000. Memory the daemon holds stays bounded by what it used at its peak.
 */
const ALLOCATOR_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=536870912';

/**
 * One thread for V8's background jobs instead of Node's default four. A fresh daemon's
 * optimizing compiler then compiles one function at a time beside the requests instead of
 * several at once on a 2-core VM where the client and the daemon want both cores: its first
 * 2,000 cold 4 KiB random reads on lz4 took 172 µs a read instead of 187 (medians of 10
 * interleaved daemons; 164–175 against 179–207 in another 8), the next 2,000 122 against 129,
 * and a start 218 ms instead of 228. A running daemon's requests did not change (getxattr 27.6
 * µs both, open+close 32.0 against 31.7).
 */
const V8_POOL = '--v8-pool-size=1';

export function daemonEnvironment(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const environment = { ...base };
  for (const name of UNUSED_BY_DAEMONS) delete environment[name];
  // A setting the caller made (GLIBC_TUNABLES, a pool size in NODE_OPTIONS) is theirs to keep.
  environment.GLIBC_TUNABLES ??= ALLOCATOR_TUNABLES;
  const options = environment.NODE_OPTIONS?.trim() ?? '';
  if (!/(^|\s)--v8-pool-size(=|\s|$)/.test(options))
    environment.NODE_OPTIONS = `${options} ${V8_POOL}`.trim();
  return environment;
}
