import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DidSchema } from '../catalog/did.ts';
import { DatasetInputFields, type ResolvedFile, type ResolvedInputs } from '../catalog/task-inputs.ts';
import { fieldIssues, ValidationError } from '../errors.ts';
import { ArchSchema, SiteIdSchema, SiteTagSchema } from '../sites/site-id.ts';
import { unknownPlaceholders } from './substitute.ts';

const FileNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._-]+$/, 'a plain file name (letters, digits, . _ -), no directories')
  .refine((n) => n !== '.' && n !== '..', 'not . or ..');

export const PayloadSchema = z.strictObject({
  /** Executable run by the pilot (resolved through PATH, or a path inside the job's work directory). */
  command: z.string().min(1).max(1024),
  args: z.array(z.string().max(4096)).max(256).default([]),
  env: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'),
      z.string().max(4096),
    )
    .default({}),
  /**
   * Files copied into the job's work directory before the payload starts. On submission the CLI
   * uploads local files and replaces each entry by its object key and checksum.
   */
  sandbox: z
    .array(
      z.strictObject({
        name: FileNameSchema,
        key: z.string().min(1).max(1024),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 hex digits'),
        bytes: z.number().int().nonnegative(),
      }),
    )
    .max(32)
    .default([]),
});

export const ResourcesSchema = z.strictObject({
  cores: z.number().int().min(1).max(256).default(1),
  memoryMB: z.number().int().min(16).max(1_048_576).default(2000),
  walltimeSec: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .default(3600),
  diskMB: z.number().int().min(1).max(10_000_000).default(1000),
  /** GPUs per job; left out: 0. Brokerage sends the jobs only to sites whose slots have as many. */
  gpus: z.number().int().min(0).max(64).optional(),
  /** The CPU architecture the payload needs (`x86_64`, `aarch64`); left out: any site's. */
  arch: ArchSchema.optional(),
  /** What the job needs of a site beyond resources (`cvmfs`, `apptainer`): every one in the site's tags. */
  tags: z.array(SiteTagSchema).max(16).optional(),
});

export const InputFileSchema = z.union([
  z.string().min(1).max(1024),
  z.strictObject({
    name: z.string().min(1).max(1024),
    events: z.number().int().nonnegative().optional(),
    bytes: z.number().int().nonnegative().optional(),
    /** Adler-32 of the file as 8 lower-case hex digits; the pilot verifies it after stage-in. */
    adler32: z
      .string()
      .regex(/^[0-9a-f]{8}$/, '8 lower-case hex digits')
      .optional(),
  }),
]);

/** Scout jobs a scouted task runs first, unless its spec says (PanDA runs a few too). */
export const DEFAULT_SCOUTS = 3;
export const MAX_SCOUTS = 10;
/** Events per scout job of a scouted generation task whose spec gives no eventsPerJob. */
export const DEFAULT_SCOUT_EVENTS = 100;
/** Memory asked for after the scouts: their peak RSS plus this much (percent), unless the spec says. */
export const DEFAULT_MEMORY_MARGIN_PERCENT = 20;

export const SplitSchema = z
  .strictObject({
    /** Events per job; with targetWalltimeSec, per scout job (default DEFAULT_SCOUT_EVENTS). */
    eventsPerJob: z.number().int().min(1).optional(),
    /** Input files per job; with targetWalltimeSec, per scout job (default 1). */
    filesPerJob: z.number().int().min(1).optional(),
    /**
     * Dynamic splitting (PanDA's scouts, CRAB's automatic splitting): a few scout jobs run first;
     * from their usage the rest of the task is cut into jobs of about this walltime, asking for
     * the scouts' peak memory plus a margin.
     */
    targetWalltimeSec: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .optional(),
    /** Scout jobs (default DEFAULT_SCOUTS, or fewer when the task has fewer jobs' worth). */
    scouts: z.number().int().min(1).max(MAX_SCOUTS).optional(),
    /** Added to the scouts' peak RSS for the memory asked for (default DEFAULT_MEMORY_MARGIN_PERCENT). */
    memoryMarginPercent: z.number().int().min(0).max(200).optional(),
  })
  .refine((s) => !(s.eventsPerJob !== undefined && s.filesPerJob !== undefined), {
    message: 'give eventsPerJob or filesPerJob, not both',
  });

export const MAX_JOBS_PER_TASK = 1_000_000;
/** 10M-event tasks in ranges of 1 event stay inside this (PanDA's largest event-service tasks). */
export const MAX_RANGES_PER_TASK = 10_000_000;

/**
 * The merge of an event-service task: a job run by a pilot like any other, over the outputs of
 * up to `rangesPerJob` finished ranges (staged in as `r<rangeIndex>.<output>`, listed in
 * ${inputFiles}); it writes the task's output file. Placeholders as in the payload.
 */
export const MergeSchema = z.strictObject({
  command: z.string().min(1).max(1024),
  args: z.array(z.string().max(4096)).max(256).default([]),
  env: PayloadSchema.shape.env,
  rangesPerJob: z.number().int().min(1).max(10_000).default(1000),
});

/**
 * Event service (PanDA's): the task's events are cut into ranges that `consumers` ordinary jobs
 * take from the task's own range queue, several at a time, storing each range's output at once.
 */
export const EventServiceSchema = z.strictObject({
  /** Events per range. */
  rangeSize: z.number().int().min(1).max(1e9),
  /** Event-service jobs running at once; a lost or stopped one is replaced while ranges remain. */
  consumers: z.number().int().min(1).max(10_000).default(2),
  /** Payload failures a range may have before it is fatal. */
  maxRangeAttempts: z.number().int().min(1).max(10).default(3),
  /** `process-per-range`: the payload runs once per range; `stream`: one payload process is fed ranges. */
  mode: z.enum(['process-per-range', 'stream']).default('process-per-range'),
  /** Ranges per queue message (and so per receive of one message). */
  rangesPerMessage: z.number().int().min(1).max(100).default(10),
  /** A consumer whose payload failed on this many ranges in a row stops, instead of burning the queue. */
  stopAfterFailures: z.number().int().min(1).max(100).default(3),
  merge: MergeSchema.optional(),
});

export const TaskSpecSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, . _ - (start with a letter or digit)'),
    payload: PayloadSchema,
    /** Generation tasks: the number of events to generate. */
    events: z.number().int().min(1).max(1e12).optional(),
    /**
     * Processing tasks: the input files (`files`), or a catalog dataset (`dataset`, with its
     * options), one job per `filesPerJob` of them.
     */
    inputs: z
      .strictObject({
        files: z.array(InputFileSchema).min(1).max(MAX_JOBS_PER_TASK).optional(),
        ...DatasetInputFields,
      })
      .optional(),
    split: SplitSchema.default({}),
    resources: ResourcesSchema.default({ cores: 1, memoryMB: 2000, walltimeSec: 3600, diskMB: 1000 }),
    priority: z.number().int().min(0).max(1000).default(500),
    maxAttempts: z.number().int().min(1).max(10).default(3),
    /**
     * What the task may spend on paid (cloud) sites, USD: once its attempts there cost this much
     * (with what its jobs in flight will cost), dispatch sends its jobs to free sites only.
     */
    budget: z.strictObject({ usd: z.number().positive('must be more than 0').max(10_000_000) }).optional(),
    /**
     * Automatic retry with more resources is decided by the retry rules (`retry-memory`,
     * `retry-walltime`; by default a memory (1102) or walltime (1101) kill, × 1.5). A factor given
     * here is the task's own and wins over the rule's (1 = do not raise); left out, the rule's applies.
     */
    retry: z
      .strictObject({
        memoryFactor: z.number().min(1).max(4).optional(),
        walltimeFactor: z.number().min(1).max(4).optional(),
      })
      .default({}),
    outputs: z.array(FileNameSchema).max(64).default([]),
    /**
     * The catalog dataset (`scope:name`) the outputs of the task's finished jobs are registered in;
     * left out: `user.<owner>:<name>.output` (defaultOutputDataset).
     */
    outputDataset: DidSchema.optional(),
    sites: z
      .strictObject({
        allow: z.array(SiteIdSchema).max(100).optional(),
        deny: z.array(SiteIdSchema).max(100).default([]),
      })
      .default({ deny: [] }),
    eventService: EventServiceSchema.optional(),
    /**
     * A site's test task (HammerCloud's): submitted by site health, never by users; brokerage
     * sends it to its site while the site is in `test`, where no other task goes.
     */
    siteTest: z.literal(true).optional(),
  })
  .superRefine((spec, ctx) => {
    const hasEvents = spec.events !== undefined;
    const hasFiles = spec.inputs !== undefined;
    if (hasEvents === hasFiles) {
      ctx.addIssue({
        code: 'custom',
        path: hasEvents ? ['inputs'] : ['events'],
        message:
          'give either events (generation) or inputs (processing: inputs.files or inputs.dataset), exactly one',
      });
      return;
    }
    if (spec.inputs !== undefined) refineInputs(spec, spec.inputs, ctx);
    if (hasEvents && spec.split.filesPerJob !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['split', 'filesPerJob'],
        message: 'only for tasks with inputs',
      });
    }
    if (spec.eventService !== undefined) refineEventService(spec, spec.eventService, ctx);
    else refineSplit(spec, ctx);
    const texts: Array<[PropertyKey[], string]> = [
      [['payload', 'command'], spec.payload.command],
      ...spec.payload.args.map((a, i): [PropertyKey[], string] => [['payload', 'args', i], a]),
      ...Object.entries(spec.payload.env).map(([k, v]): [PropertyKey[], string] => [
        ['payload', 'env', k],
        v,
      ]),
    ];
    for (const [path, text] of texts) {
      const unknown = unknownPlaceholders(text);
      if (unknown.length > 0) {
        ctx.addIssue({ code: 'custom', path, message: `unknown placeholder \${${unknown.join('}, ${')}}` });
      }
    }
    const allow = spec.sites.allow;
    if (allow !== undefined) {
      const both = allow.filter((s) => spec.sites.deny.includes(s));
      if (both.length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['sites'],
          message: `sites both allowed and denied: ${both.join(', ')}`,
        });
      }
    }
  });

type SplitSpec = z.infer<typeof SplitSchema>;
const SCOUT_FIELDS = ['targetWalltimeSec', 'scouts', 'memoryMarginPercent'] as const;

/** The split of a task without event service. */
function refineSplit(
  spec: {
    events?: number | undefined;
    inputs?: { files?: unknown[] | undefined } | undefined;
    split: SplitSpec;
    resources: { walltimeSec: number };
  },
  ctx: z.RefinementCtx,
): void {
  const hasEvents = spec.events !== undefined;
  const hasFiles = spec.inputs !== undefined;
  if (spec.split.targetWalltimeSec !== undefined) {
    refineScouts(spec, spec.split.targetWalltimeSec, ctx);
  } else {
    for (const field of SCOUT_FIELDS) {
      if (spec.split[field] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['split', field],
          message: 'only with split.targetWalltimeSec (dynamic splitting by scout jobs)',
        });
      }
    }
  }
  if (hasEvents && spec.split.eventsPerJob === undefined && spec.split.targetWalltimeSec === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['split', 'eventsPerJob'],
      message: 'required when events is given',
    });
  }
  if (hasFiles && spec.split.eventsPerJob !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['split', 'eventsPerJob'],
      message: 'only for generation tasks (events); use filesPerJob',
    });
  }
  // A scouted task's eventsPerJob is its scouts' size: the rest is sized within the bound later.
  if (
    spec.events !== undefined &&
    spec.split.eventsPerJob !== undefined &&
    spec.split.targetWalltimeSec === undefined
  ) {
    const jobs = Math.ceil(spec.events / spec.split.eventsPerJob);
    if (jobs > MAX_JOBS_PER_TASK) {
      ctx.addIssue({
        code: 'custom',
        path: ['split', 'eventsPerJob'],
        message: `gives ${jobs} jobs; at most ${MAX_JOBS_PER_TASK} per task`,
      });
    }
  }
}

/**
 * A scouted task: its target must leave the jobs room within their walltime, and it must have
 * as many jobs' worth of events (or files) at the scouts' size as it asks for scouts.
 */
function refineScouts(
  spec: {
    events?: number | undefined;
    inputs?: { files?: unknown[] | undefined } | undefined;
    split: SplitSpec;
    resources: { walltimeSec: number };
  },
  targetWalltimeSec: number,
  ctx: z.RefinementCtx,
): void {
  if (targetWalltimeSec > spec.resources.walltimeSec) {
    ctx.addIssue({
      code: 'custom',
      path: ['split', 'targetWalltimeSec'],
      message: `more than resources.walltimeSec (${spec.resources.walltimeSec} s): jobs sized to it would be killed`,
    });
  }
  const scouts = spec.split.scouts;
  // A dataset's files are counted when resolved (the resolve step checks the scouts then).
  if (scouts === undefined || (spec.events === undefined && spec.inputs?.files === undefined)) return;
  const units = spec.events ?? spec.inputs?.files?.length ?? 0;
  const perScout =
    spec.events !== undefined
      ? (spec.split.eventsPerJob ?? DEFAULT_SCOUT_EVENTS)
      : (spec.split.filesPerJob ?? 1);
  const jobs = Math.ceil(units / perScout);
  if (scouts > jobs) {
    ctx.addIssue({
      code: 'custom',
      path: ['split', 'scouts'],
      message: `more than the task's ${jobs} jobs at ${perScout} ${spec.events !== undefined ? 'events' : 'files'} per scout`,
    });
  }
}

/** The combinations an event-service task may not have, each named by its field. */
function refineEventService(
  spec: {
    events?: number | undefined;
    inputs?: { files?: Array<z.infer<typeof InputFileSchema>> | undefined } | undefined;
    split: SplitSpec;
    outputs: string[];
    payload: { command: string; args: string[]; env: Record<string, string> };
  },
  es: z.infer<typeof EventServiceSchema>,
  ctx: z.RefinementCtx,
): void {
  if (spec.split.eventsPerJob !== undefined || spec.split.filesPerJob !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['split'],
      message: 'not for event-service tasks: eventService.rangeSize cuts the events, consumers take them',
    });
  }
  for (const field of SCOUT_FIELDS) {
    if (spec.split[field] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['split', field],
        message: 'not for event-service tasks: their consumers take ranges as long as any remain',
      });
    }
  }
  if (spec.outputs.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['outputs'],
      message: 'an event-service task has exactly one output file, written once per range',
    });
  }
  let events = 0;
  if (spec.events !== undefined) {
    events = spec.events;
    if (es.rangeSize > spec.events) {
      ctx.addIssue({
        code: 'custom',
        path: ['eventService', 'rangeSize'],
        message: `larger than the task's ${spec.events} events`,
      });
    }
  } else {
    // A dataset's files are checked when resolved (every one must give its events).
    const files = spec.inputs?.files ?? [];
    files.forEach((file, i) => {
      const n = typeof file === 'string' ? undefined : file.events;
      if (n === undefined || n < 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['inputs', 'files', i, 'events'],
          message: 'required (at least 1) for event-service tasks: ranges are cut within files',
        });
      } else events += n;
    });
  }
  if (events > 0 && Math.ceil(events / es.rangeSize) > MAX_RANGES_PER_TASK) {
    ctx.addIssue({
      code: 'custom',
      path: ['eventService', 'rangeSize'],
      message: `gives more than ${MAX_RANGES_PER_TASK} ranges`,
    });
  }
  if (es.merge !== undefined) {
    const texts: Array<[PropertyKey[], string]> = [
      [['eventService', 'merge', 'command'], es.merge.command],
      ...es.merge.args.map((a, i): [PropertyKey[], string] => [['eventService', 'merge', 'args', i], a]),
    ];
    for (const [path, text] of texts) {
      const unknown = unknownPlaceholders(text);
      if (unknown.length > 0) {
        ctx.addIssue({ code: 'custom', path, message: `unknown placeholder \${${unknown.join('}, ${')}}` });
      }
    }
  }
}

type ParsedTaskSpec = z.infer<typeof TaskSpecSchema>;
/**
 * A task spec as stored and read: what the user wrote, and for a dataset task the inputs the
 * workflow resolved (`inputs.resolved`, set by the store when read, never by the user).
 */
export type TaskSpec = Omit<ParsedTaskSpec, 'inputs'> & {
  inputs?: NonNullable<ParsedTaskSpec['inputs']> & { resolved?: ResolvedInputs };
};
export type SpecInputFile = z.infer<typeof InputFileSchema> | ResolvedFile;

/** The task's input files: those the spec lists, or those resolved from its dataset so far. */
export function specFiles(spec: Pick<TaskSpec, 'inputs'>): SpecInputFile[] {
  return spec.inputs?.files ?? spec.inputs?.resolved?.files ?? [];
}

/** The spec as read: with the inputs resolved from its dataset, when there are any. */
export function withResolvedInputs(spec: TaskSpec, resolved: ResolvedInputs | undefined): TaskSpec {
  if (resolved === undefined || spec.inputs === undefined) return spec;
  return { ...spec, inputs: { ...spec.inputs, resolved } };
}

/** The spec as the user wrote it (without the inputs resolved from its dataset). */
export function withoutResolvedInputs(spec: TaskSpec): TaskSpec {
  if (spec.inputs?.resolved === undefined) return spec;
  const { resolved: _resolved, ...inputs } = spec.inputs;
  return { ...spec, inputs };
}

/** Whether the task reads a catalog dataset (its files are resolved by the workflow). */
export function readsDataset(spec: Pick<TaskSpec, 'inputs'>): boolean {
  return spec.inputs?.dataset !== undefined;
}

const DATASET_OPTIONS = ['filter', 'untilClosed', 'remoteRead', 'rule'] as const;

/** `inputs`: files or a dataset, exactly one; the dataset's options only with a dataset. */
function refineInputs(
  spec: { eventService?: unknown; split: SplitSpec },
  inputs: NonNullable<ParsedTaskSpec['inputs']>,
  ctx: z.RefinementCtx,
): void {
  if (inputs.files !== undefined && inputs.dataset !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['inputs', 'dataset'],
      message: 'not with inputs.files: give the files or a dataset, not both',
    });
  } else if (inputs.files === undefined && inputs.dataset === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['inputs', 'dataset'],
      message: 'give inputs.files (a list of files) or inputs.dataset (scope:name)',
    });
  }
  if (inputs.dataset === undefined) {
    for (const field of DATASET_OPTIONS) {
      if (inputs[field] !== undefined)
        ctx.addIssue({ code: 'custom', path: ['inputs', field], message: 'only with inputs.dataset' });
    }
    return;
  }
  // An event-service task's ranges are counted at submission, before a dataset is resolved.
  if (spec.eventService !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['inputs', 'dataset'],
      message: 'not for event-service tasks yet: give their inputs.files (with events)',
    });
  }
  if (inputs.untilClosed === true && spec.split.targetWalltimeSec !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['inputs', 'untilClosed'],
      message: 'not with split.targetWalltimeSec: scouts size a known set of files',
    });
  }
}
export type TaskSpecInput = z.input<typeof TaskSpecSchema>;
export type Resources = z.infer<typeof ResourcesSchema>;
export type Payload = z.infer<typeof PayloadSchema>;

/** Validates a task spec object; every bad field is named in the error. */
export function parseTaskSpec(value: unknown, prefix = 'spec'): TaskSpec {
  const result = TaskSpecSchema.safeParse(value);
  if (!result.success)
    throw new ValidationError('invalid task spec', fieldIssues(result.error.issues, prefix));
  return result.data;
}

/** Parses YAML or JSON text (JSON is YAML) into a validated task spec. */
export function parseTaskSpecText(text: string, source = 'spec'): TaskSpec {
  let value: unknown;
  try {
    value = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new ValidationError('invalid task spec', [{ field: source, message: (error as Error).message }]);
  }
  return parseTaskSpec(value);
}
