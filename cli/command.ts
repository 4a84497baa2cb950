/** One `fusebench` subcommand. Modules are loaded only when their command runs, to keep start-up short. */
export interface Command {
  /** Runs with the arguments after the subcommand name; resolves to the exit status. */
  run(argv: string[]): Promise<number>;
}

export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}
