import { z } from 'zod';
import { MAX_READERS } from '../workloads/readers.js';

/**
 * The job file (`fusebench run --job FILE`, YAML or JSON): what a run measures, written down so
 * a release can be measured again the same way. FUSE parameters given as a list expand into a
 * sweep: one run, and one result file, per combination. Published as jobs/job.schema.json
 * (generated from this schema: test/job.test.ts checks the committed file is current).
 */

/** A byte size: a number, or a string like 32k, 128k, 1m (binary units). */
const size = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+[kKmMgG]?$/, 'a size like 4096, 32k, 128k or 1m'),
]);

/** A value, or a list of values to sweep over (each list needs at least one). */
function sweep<T extends z.ZodType>(value: T) {
  return z.union([value, z.array(value).min(1)]);
}

/**
 * A FUSE daemon fusebench does not know, given as a command: `{image}`, `{tree}` and
 * `{mountpoint}` are replaced by the EROFS image, the source tree and the mount point. It must
 * stay in the foreground and mount at {mountpoint}; it gets the lifecycle of the built-in peers.
 */
export const externalSetupSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._+-]*$/, 'lower-case letters, digits and . _ + - only')
      .describe('setup name, as results and reports show it'),
    command: z
      .array(z.string())
      .min(1)
      .describe('program and arguments, each a separate string; {image}, {tree}, {mountpoint} are replaced'),
    description: z.string().optional(),
  })
  .strict();
export type ExternalSetupSpec = z.infer<typeof externalSetupSchema>;

export const jobSchema = z
  .object({
    $schema: z.string().optional(),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits and . _ - only')
      .describe('names the result files: NAME-POINT.json'),
    description: z.string().optional(),
    profile: z.string().optional().describe('run profile giving the defaults (quick, tiny, full)'),
    setups: z.array(z.string()).min(1).optional().describe('built-in setups and names of external ones'),
    external: z.array(externalSetupSchema).optional(),
    workloads: z.array(z.string()).min(1).optional(),
    readers: z
      .union([
        z.number().int().min(1).max(MAX_READERS),
        z.array(z.number().int().min(1).max(MAX_READERS)).min(1),
      ])
      .optional()
      .describe(
        'reader processes for every read and metadata workload; a list gives one cell per count in the same run (the scaling curve), not a sweep of runs',
      ),
    cache: z
      .array(z.enum(['warm', 'cold']))
      .min(1)
      .optional(),
    repetitions: z.number().int().min(1).max(1000).optional(),
    warmup: z.number().int().min(0).max(100).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional(),
    driver: z.enum(['auto', 'node', 'native']).optional(),
    trace: z.boolean().optional(),
    floor: z.boolean().optional(),
    dataset: z
      .union([
        z.object({ profile: z.string() }).strict(),
        z.object({ dir: z.string() }).strict(),
        z.object({ image: z.string() }).strict(),
        z.object({ tar: z.string() }).strict(),
      ])
      .optional()
      .describe(
        'a generated profile (or debian-minbase), a directory, an EROFS image or a layer tar; paths relative to the job file',
      ),
    image: z
      .object({
        compression: z.string().optional(),
        chunk_size: size.optional(),
        pcluster_size: size.optional(),
        mkfs_args: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
    fuse: z
      .object({
        transport: sweep(z.enum(['devfuse', 'devfuse-uring', 'fuse-native'])).optional(),
        max_read: sweep(size).optional(),
        threads: sweep(z.number().int().min(1)).optional(),
        clone_fd: sweep(z.boolean()).optional(),
        entry_timeout: sweep(z.number().nonnegative()).optional(),
        attr_timeout: sweep(z.number().nonnegative()).optional(),
        negative_timeout: sweep(z.number().nonnegative()).optional(),
        kernel_cache: sweep(z.boolean()).optional(),
        auto_cache: sweep(z.boolean()).optional(),
        direct_io: sweep(z.boolean()).optional(),
        fuse_io_uring: z.boolean().optional(),
      })
      .strict()
      .optional(),
    loop_direct_io: z.boolean().optional(),
    client_cpus: z.string().optional(),
    daemon_cpus: z.string().optional(),
  })
  .strict();
export type JobFile = z.infer<typeof jobSchema>;

/** The FUSE parameters a job may sweep, in the order points are named. */
export const sweepParameters = [
  'transport',
  'max_read',
  'threads',
  'clone_fd',
  'entry_timeout',
  'attr_timeout',
  'negative_timeout',
  'kernel_cache',
  'auto_cache',
  'direct_io',
] as const;
export type SweepParameter = (typeof sweepParameters)[number];

/** The JSON Schema published beside the example jobs. */
export function jobJsonSchema(): unknown {
  return z.toJSONSchema(jobSchema, { io: 'input' });
}
