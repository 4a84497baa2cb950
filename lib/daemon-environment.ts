/**
 * The environment a FUSE daemon is started with: ours, minus what only costs it time.
 * NODE_EXTRA_CA_CERTS makes every node process read and parse that CA bundle before running any
 * JavaScript (40 ms of a 120 ms `node -e 0` on a 2-core VM whose shell sets it); a daemon never
 * opens a TLS connection, and a container runtime starting it would not pass a shell's setting.
 */
const UNUSED_BY_DAEMONS = ['NODE_EXTRA_CA_CERTS'];

export function daemonEnvironment(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const environment = { ...base };
  for (const name of UNUSED_BY_DAEMONS) delete environment[name];
  return environment;
}
