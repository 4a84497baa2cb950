/** One `fusebench` subcommand. Modules are loaded only when their command runs, to keep start-up short. */
export interface Command {
  /** Runs with the arguments after the subcommand name; resolves to the exit status. */
  run(argv: string[]): Promise<number>;
  /** The command takes SIGINT/SIGTERM/SIGHUP over with takeSignals() (cli/signals.ts) before it creates anything. */
  readonly handlesSignals?: boolean;
}

export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}
