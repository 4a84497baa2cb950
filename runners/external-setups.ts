import { isAbsolute } from 'node:path';
import { isExecutable } from '../lib/executables.js';
import { type DaemonCommand, DaemonSetup } from './fuse-daemon.js';
import type { SetupContext, SetupDefinition } from './setup.js';

/**
 * A FUSE daemon fusebench does not know, declared in a job file as a command template: it runs
 * as a DaemonSetup, so it gets what the built-in peers get (journal entries for its process and
 * mount, SIGTERM then SIGKILL, a new daemon for every cold remount, CPU and context switches of
 * all its threads, FUSE requests traced). Two builds of one daemon can be measured side by side.
 */

export interface ExternalSetupSpec {
  name: string;
  /** Program and arguments; {image}, {tree} and {mountpoint} are replaced. */
  command: string[];
  description: string;
}

const PLACEHOLDER = /\{(image|tree|mountpoint)\}/g;

/** The command with its placeholders replaced; an unknown {word} is left as the user wrote it. */
export function expandCommand(
  template: readonly string[],
  values: Record<'image' | 'tree' | 'mountpoint', string>,
): string[] {
  return template.map((word) =>
    word.replace(PLACEHOLDER, (_, key: 'image' | 'tree' | 'mountpoint') => values[key]),
  );
}

/** Why a template cannot mount anything, or null. */
export function templateProblem(spec: ExternalSetupSpec): string | null {
  if (!spec.command.some((word) => word.includes('{mountpoint}')))
    return `external setup ${spec.name}: its command has no {mountpoint}`;
  return null;
}

class ExternalDaemonSetup extends DaemonSetup {
  constructor(
    private readonly spec: ExternalSetupSpec,
    context: SetupContext,
  ) {
    super(spec.name, 'fuse', spec.description, context);
  }

  protected async command(): Promise<DaemonCommand> {
    const { dataset } = this.context;
    const [file, ...args] = expandCommand(this.spec.command, {
      image: dataset.image.path,
      tree: dataset.sourceDir,
      mountpoint: this.mountpoint,
    });
    const servesTree = this.spec.command.some((word) => word.includes('{tree}'));
    return {
      file: file!,
      args,
      factsFile: null,
      label: `${this.spec.name} (${file})`,
      backing: servesTree ? dataset.sourceDir : dataset.image.path,
      facts: {
        external: true,
        commandTemplate: this.spec.command.join(' '),
        caching: 'the external daemon decides its own; fusebench FUSE options do not reach it',
      },
    };
  }
}

export function externalSetupDefinition(spec: ExternalSetupSpec): SetupDefinition {
  return {
    name: spec.name,
    kind: 'fuse',
    description: spec.description,
    async unavailable() {
      const problem = templateProblem(spec);
      if (problem) return problem;
      const program = spec.command[0]!;
      if (isAbsolute(program) && !isExecutable(program)) return `${program} is not an executable file`;
      return null;
    },
    create: (context) => new ExternalDaemonSetup(spec, context),
  };
}
