import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { FatalError } from '../../lib/errors.js';
import type { ProcessUsage } from '../../results/schema.js';
import { CLIENT_GO, CLIENT_READY, type ClientReport } from '../../workloads/protocol.js';

/**
 * Starting client drivers and running their measured section. Two kinds: op-stream drivers
 * (Node or native) that handshake so the measured section excludes their start-up, and shell
 * commands (the PERFORMANCE.md scenarios) timed whole under GNU time for their rusage.
 */

export type OpsDriver = 'node' | 'native';

const NODE_CLIENT = fileURLToPath(new URL('../../workloads/client.js', import.meta.url));
export const NATIVE_DRIVER = fileURLToPath(
  new URL('../../../build/Release/fusebench-opdriver', import.meta.url),
);

const READY_TIMEOUT_MS = 60_000;

export interface ClientResult {
  reports: ClientReport[];
  /** One Float64Array of per-operation latencies (ns) per client, in stream order. */
  latencies: Float64Array[];
}

const clientOptions = (signal: AbortSignal) =>
  ({ stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, cancelSignal: signal }) as const;

interface StartedClient {
  process: ResultPromise<ReturnType<typeof clientOptions>>;
  lines: AsyncIterator<string>;
  latencyFile: string;
}

function command(
  driver: OpsDriver,
  opsFile: string,
  mountpoint: string,
  latencyFile: string,
  cpus: string | null,
): [string, string[]] {
  const base: [string, string[]] =
    driver === 'node'
      ? [process.execPath, [NODE_CLIENT, opsFile, mountpoint, latencyFile]]
      : [NATIVE_DRIVER, [opsFile, mountpoint, latencyFile]];
  return cpus ? ['taskset', ['-c', cpus, base[0], ...base[1]]] : base;
}

async function nextLine(client: StartedClient, what: string): Promise<string> {
  const timeout = new Promise<never>((_, reject) => {
    const timer = setTimeout(
      () => reject(new FatalError(`client did not ${what} within ${READY_TIMEOUT_MS / 1000} s`)),
      READY_TIMEOUT_MS,
    );
    timer.unref();
  });
  const next = client.lines.next().then((result) => {
    if (result.done) throw new FatalError(`client exited before it could ${what}`);
    return result.value;
  });
  return Promise.race([next, timeout]);
}

/**
 * Runs one op stream per client, all clients at once: starts them, waits until every one is
 * ready, calls `beforeGo` (snapshot counters), releases them together, waits for every report,
 * then calls `afterDone`. Clients are killed if anything fails or `signal` aborts.
 */
export async function runOpsClients(options: {
  driver: OpsDriver;
  opsFiles: string[];
  mountpoint: string;
  workDir: string;
  cpus: string | null;
  signal: AbortSignal;
  beforeGo: () => void;
  afterDone: () => void;
}): Promise<ClientResult> {
  const clients: StartedClient[] = options.opsFiles.map((opsFile, index) => {
    const latencyFile = join(options.workDir, `latencies-${index}.f64`);
    const [file, args] = command(options.driver, opsFile, options.mountpoint, latencyFile, options.cpus);
    const child = execa(file, args, clientOptions(options.signal));
    return {
      process: child,
      lines: createInterface({ input: child.stdout })[Symbol.asyncIterator](),
      latencyFile,
    };
  });
  try {
    for (const client of clients) {
      const line = await nextLine(client, 'start');
      if (line !== CLIENT_READY) throw new FatalError(`client said '${line}' instead of '${CLIENT_READY}'`);
    }
    options.beforeGo();
    for (const client of clients) client.process.stdin.write(`${CLIENT_GO}\n`);
    const reports: ClientReport[] = [];
    for (const client of clients) reports.push(JSON.parse(await nextLine(client, 'report')) as ClientReport);
    options.afterDone();
    for (const client of clients) client.process.stdin.end();
    const results = await Promise.all(clients.map((client) => client.process));
    const failed = results.find((result) => result.exitCode !== 0);
    if (failed)
      throw new FatalError(
        `client failed: ${String(failed.stderr).trim().split('\n').at(-1) ?? `exit ${failed.exitCode}`}`,
      );
    const latencies = clients.map((client) => {
      const bytes = readFileSync(client.latencyFile);
      return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    });
    return { reports, latencies };
  } catch (error) {
    for (const client of clients) client.process.kill('SIGKILL');
    const stderr = (await Promise.allSettled(clients.map((client) => client.process)))
      .map((settled) => (settled.status === 'fulfilled' ? String(settled.value.stderr).trim() : ''))
      .find((text) => text !== '');
    if (stderr && error instanceof FatalError)
      throw new FatalError(`${error.message}: ${stderr.split('\n').at(-1)}`);
    throw error;
  }
}

export interface ShellResult {
  wallNs: number;
  usage: ProcessUsage;
}

/**
 * Runs `command` with bash in `cwd` under GNU time, which reports the rusage of bash and every
 * process it waited for (tar, cat, xargs, stat). The wall time includes starting bash (~1 ms).
 */
export async function runShell(options: {
  command: string;
  cwd: string;
  listFile: string | null;
  workDir: string;
  cpus: string | null;
  signal: AbortSignal;
  beforeGo: () => void;
  afterDone: () => void;
}): Promise<ShellResult> {
  const timeFile = join(options.workDir, 'time.txt');
  writeFileSync(timeFile, '');
  const timed = [
    '/usr/bin/time',
    '-f',
    '%U %S %w %c',
    '-o',
    timeFile,
    'bash',
    '-c',
    `set -o pipefail; ${options.command}`,
  ];
  const [file, ...args] = options.cpus ? ['taskset', '-c', options.cpus, ...timed] : timed;
  const env = { ...process.env, FUSEBENCH_LIST: options.listFile ?? '', LC_ALL: 'C' };
  options.beforeGo();
  const started = process.hrtime.bigint();
  const result = await execa(file!, args, {
    cwd: options.cwd,
    env,
    reject: false,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    cancelSignal: options.signal,
  });
  const wallNs = Number(process.hrtime.bigint() - started);
  options.afterDone();
  if (result.isCanceled) throw new FatalError('interrupted');
  if (result.exitCode !== 0) {
    throw new FatalError(
      `'${options.command}' failed (exit ${result.exitCode}): ${String(result.stderr).trim().split('\n').at(-1) ?? ''}`,
    );
  }
  const [user = 0, system = 0, voluntary = 0, involuntary = 0] = readFileSync(timeFile, 'utf8')
    .trim()
    .split('\n')
    .at(-1)!
    .split(' ')
    .map(Number);
  const userNs = Math.round(user * 1e9);
  const systemNs = Math.round(system * 1e9);
  return {
    wallNs,
    usage: {
      cpuNs: userNs + systemNs,
      userNs,
      systemNs,
      voluntaryCtxSwitches: voluntary,
      involuntaryCtxSwitches: involuntary,
      threads: 0,
      threadsExited: 0,
    },
  };
}
