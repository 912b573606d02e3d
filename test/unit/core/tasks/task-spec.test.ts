// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} placeholders are literal text in task specs
import { describe, expect, it } from 'vitest';
import { MAX_JOBS_PER_TASK, parseTaskSpec, parseTaskSpecText } from '#core/tasks/task-spec.ts';
import { fieldsOf, issuesOf } from '../validation-issues.ts';

const generation = {
  name: 'ttbar-gen',
  payload: { command: 'generate.sh', args: ['--first', '${firstEvent}', '--n', '${nEvents}'] },
  events: 1000,
  split: { eventsPerJob: 100 },
};

const processing = {
  name: 'reco.v1',
  payload: { command: 'reco', args: ['${inputFiles}'] },
  inputs: { files: ['a.root', { name: 'b.root', events: 500, bytes: 1024 }] },
  split: { filesPerJob: 1 },
};

describe('parseTaskSpec', () => {
  it('fills every default when a generation spec gives only what it must', () => {
    const spec = parseTaskSpec({
      name: 'gen',
      payload: { command: 'run' },
      events: 10,
      split: { eventsPerJob: 3 },
    });
    expect(spec).toEqual({
      name: 'gen',
      payload: { command: 'run', args: [], env: {}, sandbox: [] },
      events: 10,
      split: { eventsPerJob: 3 },
      resources: { cores: 1, memoryMB: 2000, walltimeSec: 3600, diskMB: 1000 },
      priority: 500,
      maxAttempts: 3,
      // No factor of its own: the retry rules' factors apply (1.5 by default).
      retry: {},
      outputs: [],
      sites: { deny: [] },
    });
  });

  it('keeps the placeholders of a valid generation spec as written', () => {
    const spec = parseTaskSpec(generation);
    expect(spec.payload.args).toEqual(['--first', '${firstEvent}', '--n', '${nEvents}']);
    expect(spec.inputs).toBeUndefined();
  });

  it('accepts input files given as strings and as objects', () => {
    const spec = parseTaskSpec(processing);
    expect(spec.inputs?.files).toEqual(['a.root', { name: 'b.root', events: 500, bytes: 1024 }]);
    expect(spec.split).toEqual({ filesPerJob: 1 });
    expect(spec.events).toBeUndefined();
  });

  it('accepts a processing spec without split (one file per job by default)', () => {
    const spec = parseTaskSpec({ name: 'p', payload: { command: 'x' }, inputs: { files: ['f'] } });
    expect(spec.split).toEqual({});
  });

  it('names the missing name, the bad cores and the unknown key at once', () => {
    const fields = fieldsOf(() =>
      parseTaskSpec({ ...generation, name: undefined, resources: { cores: -1 }, colour: 'blue' }),
    );
    expect(fields).toHaveLength(3);
    expect(fields).toContain('spec.name');
    expect(fields).toContain('spec.resources.cores');
    // The unknown key must be named as the field, as every other bad field is (see the report:
    // fieldIssues in core/errors.ts puts zod's unrecognized_keys issues on the parent path).
    expect(fields).toContain('spec.colour');
  });

  it('accepts the GPUs, architecture and site tags a job needs', () => {
    const spec = parseTaskSpec({
      ...generation,
      resources: { gpus: 2, arch: 'aarch64', tags: ['cvmfs', 'apptainer'] },
    });
    expect(spec.resources).toMatchObject({ gpus: 2, arch: 'aarch64', tags: ['cvmfs', 'apptainer'] });
  });

  it.each([
    [{ gpus: -1 }, 'spec.resources.gpus'],
    [{ gpus: 1.5 }, 'spec.resources.gpus'],
    [{ arch: 'X86 64' }, 'spec.resources.arch'],
    [{ tags: [''] }, 'spec.resources.tags.0'],
    [{ tags: 'cvmfs' }, 'spec.resources.tags'],
  ])('names a bad GPU count, architecture or tag (%o)', (resources, field) => {
    expect(fieldsOf(() => parseTaskSpec({ ...generation, resources }))).toEqual([field]);
  });

  it('names an unknown key in its one issue', () => {
    const issues = issuesOf(() => parseTaskSpec({ ...generation, colour: 'blue' }));
    expect(issues).toHaveLength(1);
    expect(`${issues[0]?.field} ${issues[0]?.message}`).toContain('colour');
  });

  it('puts fields under the prefix it is given', () => {
    expect(fieldsOf(() => parseTaskSpec({ ...generation, priority: 5000 }, 'body'))).toEqual([
      'body.priority',
    ]);
    expect(fieldsOf(() => parseTaskSpec({ ...generation, priority: 5000 }, ''))).toEqual(['priority']);
  });

  it('rejects a spec with both events and inputs', () => {
    const issues = issuesOf(() => parseTaskSpec({ ...generation, inputs: { files: ['a'] }, split: {} }));
    expect(issues.map((i) => i.field)).toEqual(['spec.inputs']);
    expect(issues[0]?.message).toMatch(/exactly one/);
  });

  it('rejects a spec with neither events nor inputs', () => {
    const issues = issuesOf(() => parseTaskSpec({ name: 'x', payload: { command: 'x' } }));
    expect(issues.map((i) => i.field)).toEqual(['spec.events']);
    expect(issues[0]?.message).toMatch(/exactly one/);
  });

  it('requires eventsPerJob when events is given', () => {
    const issues = issuesOf(() => parseTaskSpec({ ...generation, split: {} }));
    expect(issues).toEqual([{ field: 'spec.split.eventsPerJob', message: 'required when events is given' }]);
  });

  it('rejects filesPerJob on a generation task', () => {
    const issues = issuesOf(() => parseTaskSpec({ ...generation, split: { filesPerJob: 2 } }));
    expect(issues.map((i) => i.field)).toContain('spec.split.filesPerJob');
  });

  it('rejects eventsPerJob on a processing task', () => {
    const issues = issuesOf(() => parseTaskSpec({ ...processing, split: { eventsPerJob: 10 } }));
    expect(issues.map((i) => i.field)).toEqual(['spec.split.eventsPerJob']);
  });

  it('rejects eventsPerJob and filesPerJob together', () => {
    expect(
      fieldsOf(() => parseTaskSpec({ ...processing, split: { eventsPerJob: 1, filesPerJob: 1 } })),
    ).toContain('spec.split');
  });

  it('rejects a generation spec giving more than a million jobs', () => {
    const issues = issuesOf(() =>
      parseTaskSpec({ ...generation, events: MAX_JOBS_PER_TASK * 2 + 1, split: { eventsPerJob: 2 } }),
    );
    expect(issues.map((i) => i.field)).toEqual(['spec.split.eventsPerJob']);
    expect(issues[0]?.message).toContain(`gives ${MAX_JOBS_PER_TASK + 1} jobs`);
  });

  it('accepts a generation spec of exactly a million jobs', () => {
    const spec = parseTaskSpec({ ...generation, events: MAX_JOBS_PER_TASK * 2, split: { eventsPerJob: 2 } });
    expect(spec.events).toBe(2_000_000);
  });

  it('names the argument holding an unknown placeholder', () => {
    const issues = issuesOf(() =>
      parseTaskSpec({ ...generation, payload: { command: 'x', args: ['${nEvents}', 'out-${foo}.root'] } }),
    );
    expect(issues).toEqual([{ field: 'spec.payload.args.1', message: 'unknown placeholder ${foo}' }]);
  });

  it('names the command and env variable holding unknown placeholders', () => {
    const fields = fieldsOf(() =>
      parseTaskSpec({
        ...generation,
        payload: { command: '${bin}/run', env: { SEED: '${seed}', OK: '${jobIndex}' } },
      }),
    );
    expect(fields).toEqual(['spec.payload.command', 'spec.payload.env.SEED']);
  });

  it('rejects placeholders named after Object.prototype members', () => {
    // `'constructor' in PLACEHOLDERS` is true through the prototype chain (see the report).
    const fields = fieldsOf(() =>
      parseTaskSpec({ ...generation, payload: { command: 'x', args: ['${constructor}'] } }),
    );
    expect(fields).toEqual(['spec.payload.args.0']);
  });

  it('rejects a site both allowed and denied', () => {
    const issues = issuesOf(() =>
      parseTaskSpec({ ...generation, sites: { allow: ['cern', 'bnl'], deny: ['bnl', 'fnal'] } }),
    );
    expect(issues).toEqual([{ field: 'spec.sites', message: 'sites both allowed and denied: bnl' }]);
  });

  it('rejects outputs with a slash', () => {
    expect(fieldsOf(() => parseTaskSpec({ ...generation, outputs: ['ok.root', 'dir/out.root'] }))).toEqual([
      'spec.outputs.1',
    ]);
  });

  it('rejects outputs named . or ..', () => {
    expect(fieldsOf(() => parseTaskSpec({ ...generation, outputs: ['..'] }))).toEqual(['spec.outputs.0']);
  });

  it('rejects a value that is not an object', () => {
    expect(fieldsOf(() => parseTaskSpec('name: x'))).toEqual(['spec']);
  });
});

describe('parseTaskSpec, event service', () => {
  const esGeneration = {
    name: 'zmumu-es',
    payload: { command: 'generate', args: ['--first', '${firstEvent}', '--n', '${nEvents}'] },
    events: 1000,
    outputs: ['events.root'],
    eventService: { rangeSize: 10 },
  };
  const esProcessing = {
    name: 'reco-es',
    payload: { command: 'reco' },
    inputs: {
      files: [
        { name: 'a.root', events: 500 },
        { name: 'b.root', events: 20 },
      ],
    },
    outputs: ['reco.root'],
    eventService: { rangeSize: 100 },
  };

  it('accepts a generation task and fills the event-service defaults', () => {
    const spec = parseTaskSpec(esGeneration);
    expect(spec.eventService).toEqual({
      rangeSize: 10,
      consumers: 2,
      maxRangeAttempts: 3,
      mode: 'process-per-range',
      rangesPerMessage: 10,
      stopAfterFailures: 3,
    });
    expect(spec.split).toEqual({});
  });

  it('accepts a processing task whose files all give their events', () => {
    const spec = parseTaskSpec({
      ...esProcessing,
      eventService: { rangeSize: 100, consumers: 8, mode: 'stream' },
    });
    expect(spec.eventService).toMatchObject({
      rangeSize: 100,
      consumers: 8,
      mode: 'stream',
      rangesPerMessage: 10,
    });
  });

  it('rejects a range larger than the events of a generation task', () => {
    const issues = issuesOf(() => parseTaskSpec({ ...esGeneration, events: 5 }));
    expect(issues).toEqual([
      { field: 'spec.eventService.rangeSize', message: "larger than the task's 5 events" },
    ]);
  });

  it('names each input file without events', () => {
    const files = [
      'a.root',
      { name: 'b.root', events: 20 },
      { name: 'c.root' },
      { name: 'd.root', events: 0 },
    ];
    expect(fieldsOf(() => parseTaskSpec({ ...esProcessing, inputs: { files } }))).toEqual([
      'spec.inputs.files.0.events',
      'spec.inputs.files.2.events',
      'spec.inputs.files.3.events',
    ]);
  });

  it('rejects a split, which ranges replace', () => {
    expect(fieldsOf(() => parseTaskSpec({ ...esGeneration, split: { eventsPerJob: 100 } }))).toEqual([
      'spec.split',
    ]);
    expect(fieldsOf(() => parseTaskSpec({ ...esProcessing, split: { filesPerJob: 1 } }))).toEqual([
      'spec.split',
    ]);
  });

  it('requires exactly one output', () => {
    expect(fieldsOf(() => parseTaskSpec({ ...esGeneration, outputs: [] }))).toEqual(['spec.outputs']);
    expect(fieldsOf(() => parseTaskSpec({ ...esGeneration, outputs: ['a.root', 'b.root'] }))).toEqual([
      'spec.outputs',
    ]);
  });
});

describe('parseTaskSpecText', () => {
  it('parses a YAML spec', () => {
    const spec = parseTaskSpecText(
      [
        'name: ttbar-gen',
        'payload:',
        '  command: generate.sh',
        '  args: ["--n", "${nEvents}"]',
        'events: 1000',
        'split:',
        '  eventsPerJob: 100',
        'resources:',
        '  cores: 4',
      ].join('\n'),
      'task.yaml',
    );
    expect(spec.name).toBe('ttbar-gen');
    expect(spec.events).toBe(1000);
    expect(spec.resources).toEqual({ cores: 4, memoryMB: 2000, walltimeSec: 3600, diskMB: 1000 });
  });

  it('parses a JSON spec', () => {
    const spec = parseTaskSpecText(JSON.stringify(processing), 'task.json');
    expect(spec.inputs?.files).toHaveLength(2);
    expect(spec.maxAttempts).toBe(3);
  });

  it('names the source when the text is not YAML', () => {
    const issues = issuesOf(() => parseTaskSpecText('name: [unclosed\npayload: {', 'task.yaml'));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.field).toBe('task.yaml');
    expect(issues[0]?.message).not.toBe('');
  });

  it('names the bad fields of a well-formed YAML spec', () => {
    const fields = fieldsOf(() =>
      parseTaskSpecText('name: x\npayload:\n  command: run\nevents: 0\n', 'task.yaml'),
    );
    expect(fields).toContain('spec.events');
  });
});

describe('parseTaskSpec, scouts (split.targetWalltimeSec)', () => {
  const scouted = {
    name: 'gen-scouted',
    payload: { command: 'generate' },
    events: 10_000,
    split: { targetWalltimeSec: 600 },
  };

  it('accepts a scouted generation task without eventsPerJob, and a scouted processing task', () => {
    expect(parseTaskSpec(scouted).split).toEqual({ targetWalltimeSec: 600 });
    const files = { ...processing, split: { filesPerJob: 2, targetWalltimeSec: 900, scouts: 1 } };
    expect(parseTaskSpec(files).split).toEqual({ filesPerJob: 2, targetWalltimeSec: 900, scouts: 1 });
    const all = { targetWalltimeSec: 600, eventsPerJob: 50, scouts: 10, memoryMarginPercent: 0 };
    expect(parseTaskSpec({ ...scouted, split: all }).split).toEqual(all);
  });

  it.each([
    [{ targetWalltimeSec: 0 }, 'spec.split.targetWalltimeSec'],
    [{ targetWalltimeSec: 8 * 24 * 3600 }, 'spec.split.targetWalltimeSec'],
    [{ targetWalltimeSec: 60.5 }, 'spec.split.targetWalltimeSec'],
    [{ targetWalltimeSec: 600, scouts: 0 }, 'spec.split.scouts'],
    [{ targetWalltimeSec: 600, scouts: 11 }, 'spec.split.scouts'],
    [{ targetWalltimeSec: 600, memoryMarginPercent: -1 }, 'spec.split.memoryMarginPercent'],
    [{ targetWalltimeSec: 600, memoryMarginPercent: 201 }, 'spec.split.memoryMarginPercent'],
    [{ eventsPerJob: 10, scouts: 3 }, 'spec.split.scouts'],
    [{ eventsPerJob: 10, memoryMarginPercent: 20 }, 'spec.split.memoryMarginPercent'],
  ])('names a bad scouting field (%o)', (split, field) => {
    // (A target over 7 days is named twice: out of range, and over the jobs' walltime.)
    expect([...new Set(fieldsOf(() => parseTaskSpec({ ...scouted, split })))]).toEqual([field]);
  });

  it('refuses scouts or a margin without a target, saying what they need', () => {
    const issues = issuesOf(() => parseTaskSpec({ ...scouted, split: { eventsPerJob: 10, scouts: 2 } }));
    expect(issues).toEqual([
      {
        field: 'spec.split.scouts',
        message: 'only with split.targetWalltimeSec (dynamic splitting by scout jobs)',
      },
    ]);
  });

  it('refuses a target longer than the walltime the jobs ask for', () => {
    const issues = issuesOf(() =>
      parseTaskSpec({ ...scouted, resources: { walltimeSec: 300 }, split: { targetWalltimeSec: 600 } }),
    );
    expect(issues).toEqual([
      {
        field: 'spec.split.targetWalltimeSec',
        message: 'more than resources.walltimeSec (300 s): jobs sized to it would be killed',
      },
    ]);
  });

  it('refuses more scouts than the task has jobs at the scouts’ size', () => {
    const few = { ...scouted, events: 250, split: { targetWalltimeSec: 600, scouts: 4 } };
    expect(issuesOf(() => parseTaskSpec(few))).toEqual([
      { field: 'spec.split.scouts', message: "more than the task's 3 jobs at 100 events per scout" },
    ]);
    // Exactly as many is fine: the scouts are the whole task.
    expect(parseTaskSpec({ ...few, split: { targetWalltimeSec: 600, scouts: 3 } }).split.scouts).toBe(3);
    const files = { ...processing, split: { targetWalltimeSec: 600, scouts: 3 } };
    expect(fieldsOf(() => parseTaskSpec(files))).toEqual(['spec.split.scouts']);
  });

  it('accepts a scouted task of more events than a million scout-sized jobs would hold', () => {
    const huge = { ...scouted, events: 1e12, split: { targetWalltimeSec: 600, eventsPerJob: 100 } };
    expect(parseTaskSpec(huge).events).toBe(1e12);
  });

  it('refuses scouting fields on an event-service task, each by name', () => {
    const es = {
      ...scouted,
      outputs: ['events.root'],
      eventService: { rangeSize: 10 },
      split: { targetWalltimeSec: 600, scouts: 2 },
    };
    expect(fieldsOf(() => parseTaskSpec(es))).toEqual(['spec.split.targetWalltimeSec', 'spec.split.scouts']);
  });
});
