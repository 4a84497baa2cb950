import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { FatalError } from '../../lib/errors.js';
import {
  CLIENT_ERROR,
  CLIENT_GO,
  CLIENT_READY,
  type ClientJob,
  type ClientReport,
} from '../../workloads/protocol.js';

/**
 * The processes that replay op streams. A native driver is started for each job (it starts in
 * about a millisecond); Node clients cost ~0.2 s to start, so each serves job after job and
 * returns here when its job is done. Every client runs pinned to `cpus` when given.
 */

export type OpsDriver = 'node' | 'native';

const NODE_CLIENT = fileURLToPath(new URL('../../workloads/client.js', import.meta.url));
export const NATIVE_DRIVER = fileURLToPath(
  new URL('../../../build/Release/fusebench-opdriver', import.meta.url),
);

const ANSWER_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 5_000;

const processOptions = (signal: AbortSignal) =>
  ({ stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, cancelSignal: signal }) as const;

type ClientChild = ResultPromise<ReturnType<typeof processOptions>>;

/** The last line an ended client wrote to stderr, or null when it wrote none. */
const lastStderrLine = (ended: { stderr: unknown }): string | null =>
  String(ended.stderr).trim().split('\n').at(-1) || null;

class ClientProcess {
  private readonly lines: AsyncIterator<string>;

  constructor(readonly child: ClientChild) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** The client's next line; `what` names what it was expected to do, for the error. */
  async nextLine(what: string): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new FatalError(`client did not ${what} within ${ANSWER_TIMEOUT_MS / 1000} s`)),
        ANSWER_TIMEOUT_MS,
      );
    });
    const next = this.lines.next().then((result) => {
      if (result.done) throw new FatalError(`client exited before it could ${what}`);
      return result.value;
    });
    try {
      return await Promise.race([next, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process and gives the last line it wrote to stderr, if any. */
  async kill(): Promise<string | null> {
    this.child.kill('SIGKILL');
    return lastStderrLine(await this.child);
  }
}

/** A client's failure with the last line of its stderr, which says why. */
async function withStderr(error: unknown, stderr: Promise<string | null>): Promise<unknown> {
  const line = await stderr;
  return line && error instanceof FatalError ? new FatalError(`${error.message}: ${line}`) : error;
}

/** One job on one client: started and ready, waiting for `go`. */
export class ClientJobRun {
  constructor(
    private readonly owner: ClientProcesses,
    private readonly client: ClientProcess,
    private readonly reused: boolean,
  ) {}

  go(): void {
    this.client.send(CLIENT_GO);
  }

  async report(): Promise<ClientReport> {
    return JSON.parse(await this.client.nextLine('report')) as ClientReport;
  }

  /** After the report: a native driver must exit cleanly; a Node client goes back for the next job. */
  async finish(): Promise<void> {
    if (this.reused) {
      this.owner.giveBack(this.client);
      return;
    }
    this.client.child.stdin.end();
    const result = await this.client.child;
    if (result.exitCode !== 0)
      throw new FatalError(`client failed: ${lastStderrLine(result) ?? `exit ${result.exitCode}`}`);
  }

  /** Ends the job abnormally: the process is killed (a Node client is not reused); gives its last stderr line. */
  async abort(): Promise<string | null> {
    this.owner.forget(this.client);
    return this.client.kill();
  }
}

export class ClientProcesses {
  private readonly idleNodeClients: ClientProcess[] = [];
  private readonly nodeClients = new Set<ClientProcess>();

  constructor(
    private readonly cpus: string | null,
    private readonly signal: AbortSignal,
  ) {}

  /** Starts `job` on a client of `driver` and waits until it is ready for `go`. */
  async begin(driver: OpsDriver, job: ClientJob): Promise<ClientJobRun> {
    const reused = driver === 'node';
    const client = reused
      ? (this.idleNodeClients.pop() ?? this.start(process.execPath, ['--expose-gc', NODE_CLIENT], true))
      : this.start(NATIVE_DRIVER, [job.opsFile, job.mountpoint, job.latencyFile], false);
    const run = new ClientJobRun(this, client, reused);
    let line: string;
    try {
      if (reused) client.send(JSON.stringify(job));
      line = await client.nextLine('start');
    } catch (error) {
      throw await withStderr(error, run.abort());
    }
    if (line === CLIENT_READY) return run;
    if (reused && line.startsWith(`${CLIENT_ERROR}\t`)) {
      this.giveBack(client);
      throw new FatalError(`client could not start its job: ${line.slice(CLIENT_ERROR.length + 1)}`);
    }
    throw await withStderr(new FatalError(`client said '${line}' instead of '${CLIENT_READY}'`), run.abort());
  }

  giveBack(client: ClientProcess): void {
    if (client.child.exitCode === null && !client.child.killed) this.idleNodeClients.push(client);
    else this.nodeClients.delete(client);
  }

  forget(client: ClientProcess): void {
    this.nodeClients.delete(client);
  }

  /** Ends every Node client: stdin closed, killed if it has not exited within a few seconds. */
  async close(): Promise<void> {
    const clients = [...this.nodeClients];
    this.nodeClients.clear();
    this.idleNodeClients.length = 0;
    await Promise.all(
      clients.map(async (client) => {
        client.child.stdin.end();
        const timer = setTimeout(() => client.child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
        await client.child;
        clearTimeout(timer);
      }),
    );
  }

  private start(file: string, args: string[], pooled: boolean): ClientProcess {
    const [command, commandArgs] = this.cpus ? ['taskset', ['-c', this.cpus, file, ...args]] : [file, args];
    const client = new ClientProcess(execa(command, commandArgs, processOptions(this.signal)));
    if (pooled) this.nodeClients.add(client);
    return client;
  }
}
