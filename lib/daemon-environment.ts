/**
 * The environment a FUSE daemon is started with: ours, minus what only costs it time, plus an
 * allocator setting that spares it page faults.
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

export function daemonEnvironment(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const environment = { ...base };
  for (const name of UNUSED_BY_DAEMONS) delete environment[name];
  // A setting the caller made (GLIBC_TUNABLES already set) is theirs to keep.
  environment.GLIBC_TUNABLES ??= ALLOCATOR_TUNABLES;
  return environment;
}
