import { resolve } from 'node:path';
import type { DaemonRequest } from '../../fuse/daemon-request.js';
import {
  type BackendSpec,
  defaultTransportOptions,
  OptionLimits,
  type TransportOptions,
} from '../../fuse/transport.js';
import { checkTransportName, prestartTransport, transportNames } from '../../fuse/transports/index.js';
import { FatalError, UsageError } from '../../lib/errors.js';
import { releaseSignals } from '../../lib/signals.js';
import {
  parseCommandArgs,
  parseEitherFlag,
  parseIntegerFlag,
  parseNumberFlag,
  parseSizeFlag,
} from '../args.js';
import type { Command } from '../command.js';
import { requireRoot } from '../preconditions.js';

/**
 * `fusebench mount IMAGE MOUNTPOINT` and `fusebench passthrough SOURCE_DIR MOUNTPOINT`: serve a
 * backend over FUSE in the foreground (or detached with --background). The flags build a
 * DaemonRequest (fuse/daemon-request.ts); a run passes the request itself, as a file (--request).
 * The request's schema (zod) is loaded only for a request file: each flag is already checked by
 * its parser, and loading zod was the largest part of the daemon's cold start (0.15-0.5 s of
 * module evaluation measured on this machine, against under 0.1 s for the EROFS reader).
 */

const flags = {
  transport: { type: 'string' },
  'entry-timeout': { type: 'string' },
  'attr-timeout': { type: 'string' },
  'negative-timeout': { type: 'string' },
  'kernel-cache': { type: 'boolean' },
  'no-kernel-cache': { type: 'boolean' },
  threads: { type: 'string' },
  'clone-fd': { type: 'boolean' },
  'shared-fd': { type: 'boolean' },
  'auto-cache': { type: 'boolean' },
  'max-read': { type: 'string' },
  'direct-io': { type: 'boolean' },
  'kernel-passthrough': { type: 'boolean' },
  'facts-file': { type: 'string' },
  request: { type: 'string' },
  background: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const deviceFlag = { device: { type: 'string', multiple: true } } as const;

type Kind = BackendSpec['kind'];

const what = {
  erofs: {
    name: 'mount',
    usage: 'mount IMAGE MOUNTPOINT [options]',
    source: 'IMAGE',
    summary: 'Serves an EROFS image read-only over FUSE with fusebench’s own reader.',
    extra:
      '  --device FILE           an extra device of a multi-device image (repeat, in device-table order)\n',
  },
  passthrough: {
    name: 'passthrough',
    usage: 'passthrough SOURCE_DIR MOUNTPOINT [options]',
    source: 'SOURCE_DIR',
    summary: 'Serves a directory read-only over FUSE, inode numbers and all (the no-decoding baseline).',
    extra: '',
  },
} as const;

function help(kind: Kind): string {
  const d = defaultTransportOptions;
  const text = what[kind];
  return `usage: fusebench ${text.usage}

  ${text.summary}
  Serves in the foreground until unmounted (fusebench umount, umount, SIGTERM or SIGINT), then exits 0.

options:
  --transport NAME        ${transportNames().join(' | ')} (default devfuse)
  --entry-timeout SEC     seconds the kernel caches names (default ${d.entryTimeout}; 0 = ask every time)
  --attr-timeout SEC      seconds the kernel caches attributes (default ${d.attrTimeout})
  --negative-timeout SEC  seconds the kernel remembers a missing name (default ${d.negativeTimeout}; 0 = ask every time)
  --kernel-cache          keep page cache across opens (default)
  --no-kernel-cache       drop page cache on every open
  --auto-cache            keep page cache while mtime and size are unchanged
  --threads N             serving threads (default ${d.threads}; fuse-native: no effect)
  --clone-fd              each serving thread reads its own clone of the /dev/fuse descriptor${d.cloneFd ? ' (default)' : ''}
  --shared-fd             all serving threads read the mount's one descriptor${d.cloneFd ? '' : ' (default)'}
  --max-read BYTES        largest READ request (default: the transport's)
  --direct-io             bypass the page cache for file data
  --kernel-passthrough    let the kernel read backing files directly (devfuse only)
${text.extra}  --facts-file FILE       write what was set and negotiated as JSON once serving
  --request FILE          serve the DaemonRequest in FILE (JSON, as a run writes it) instead of
                          ${text.source}, MOUNTPOINT and the options above
  --background            detach, print the daemon's pid once it serves, exit 0
  -h, --help              this text
`;
}

export function daemonCommand(kind: Kind): Command {
  const text = what[kind];
  return {
    // The foreground daemon takes signals over in runDaemon; every other path lets them act at once.
    handlesSignals: true,
    async run(argv) {
      try {
        return await parseAndServe(argv);
      } finally {
        releaseSignals();
      }
    },
  };

  async function parseAndServe(argv: string[]): Promise<number> {
    {
      const { values, positionals } = parseCommandArgs(
        text.name,
        argv,
        kind === 'erofs' ? { ...flags, ...deviceFlag } : flags,
        { min: 0, max: 2, usage: text.usage },
      );
      if (values.help) {
        process.stdout.write(help(kind));
        return 0;
      }
      if (values.request !== undefined) {
        const others = Object.keys(values).filter((name) => name !== 'request' && name !== 'background');
        if (positionals.length > 0 || others.length > 0)
          throw new UsageError(
            `${text.name}: --request takes the whole request; drop ${[...positionals, ...others.map((name) => `--${name}`)].join(' ')}`,
          );
        const { readDaemonRequest } = await import('../../fuse/daemon-request.js');
        const request = readDaemonRequest(resolve(values.request));
        if (request.backend.kind !== kind)
          throw new FatalError(
            `${text.name}: --request ${values.request} serves a ${request.backend.kind} backend`,
          );
        return serve(request, argv, values.background ?? false);
      }
      if (positionals.length !== 2) {
        throw new UsageError(
          `${text.name}: expected ${text.source} and MOUNTPOINT; usage: fusebench ${text.usage}`,
        );
      }
      if (values['kernel-cache'] && values['no-kernel-cache']) {
        throw new UsageError(`${text.name}: --kernel-cache and --no-kernel-cache contradict each other`);
      }
      const defaults = defaultTransportOptions;
      const options: TransportOptions = {
        entryTimeout: parseNumberFlag(
          '--entry-timeout',
          values['entry-timeout'],
          defaults.entryTimeout,
          OptionLimits.timeoutSeconds,
        ),
        attrTimeout: parseNumberFlag(
          '--attr-timeout',
          values['attr-timeout'],
          defaults.attrTimeout,
          OptionLimits.timeoutSeconds,
        ),
        negativeTimeout: parseNumberFlag(
          '--negative-timeout',
          values['negative-timeout'],
          defaults.negativeTimeout,
          OptionLimits.timeoutSeconds,
        ),
        kernelCache: values['no-kernel-cache'] ? false : values['kernel-cache'] ? true : defaults.kernelCache,
        autoCache: values['auto-cache'] ?? defaults.autoCache,
        maxRead: parseSizeFlag('--max-read', values['max-read'], defaults.maxRead, OptionLimits.maxReadBytes),
        directIo: values['direct-io'] ?? defaults.directIo,
        threads: parseIntegerFlag('--threads', values.threads, defaults.threads, OptionLimits.threads),
        cloneFd: parseEitherFlag(
          ['--clone-fd', '--shared-fd'],
          [values['clone-fd'], values['shared-fd']],
          defaults.cloneFd,
        ),
        kernelPassthrough: values['kernel-passthrough'] ?? defaults.kernelPassthrough,
        fsname: defaults.fsname,
      };
      const transport = checkTransportName(values.transport ?? 'devfuse');
      const devices = 'device' in values ? (values.device as string[] | undefined) : undefined;
      const backend: BackendSpec = {
        kind,
        source: resolve(positionals[0]!),
        ...(devices?.length ? { devices: devices.map((device) => resolve(device)) } : {}),
      };
      const request: DaemonRequest = {
        backend,
        mountpoint: resolve(positionals[1]!),
        transport,
        options,
        factsFile: values['facts-file'] ? resolve(values['facts-file']) : null,
      };
      return serve(request, argv, values.background ?? false);
    }
  }

  /** Serves a checked request here, or detached (--background) by the same command line. */
  async function serve(request: DaemonRequest, argv: string[], background: boolean): Promise<number> {
    requireRoot(text.name);
    // A serving thread boots while the daemon's own modules load (a cold start's largest part).
    if (!background) await prestartTransport(request.transport, request.options);
    const { checkDaemonRequest, runDaemon, startInBackground } = await import('../../fuse/daemon.js');
    const mountpoint = checkDaemonRequest(text.name, request.backend, request.mountpoint);
    if (background) {
      releaseSignals();
      const pid = await startInBackground([text.name, ...argv], mountpoint);
      process.stdout.write(`${pid}\n`);
      return 0;
    }
    return runDaemon({ ...request, mountpoint });
  }
}

export const command: Command = daemonCommand('erofs');
