// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} placeholders are literal text in task specs
import { describe, expect, it } from 'vitest';
import {
  type PayloadContext,
  PLACEHOLDERS,
  resolvePayload,
  substitute,
  unknownPlaceholders,
} from '#core/tasks/substitute.ts';
import { parseTaskSpec } from '#core/tasks/task-spec.ts';

const eventsCtx: PayloadContext = {
  taskId: 't-000001',
  jobId: 't-000001.7',
  jobIndex: 7,
  attempt: 2,
  firstEvent: 700,
  nEvents: 100,
  workDir: '/scratch/gluon/t-000001.7',
};

const filesCtx: PayloadContext = {
  taskId: 't-000002',
  jobId: 't-000002.0',
  jobIndex: 0,
  attempt: 1,
  inputFiles: ['a.root', 'b.root', 'c.root'],
  workDir: '/w',
};

describe('substitute', () => {
  it('fills every known placeholder', () => {
    expect(
      substitute(
        '${taskId}|${jobId}|${jobIndex}|${attempt}|${firstEvent}|${nEvents}|${inputFiles}|${workDir}',
        eventsCtx,
      ),
    ).toBe('t-000001|t-000001.7|7|2|700|100||/scratch/gluon/t-000001.7');
  });

  it('joins input files with commas', () => {
    expect(substitute('--in=${inputFiles}', filesCtx)).toBe('--in=a.root,b.root,c.root');
  });

  it('fills missing event parameters with empty strings', () => {
    expect(substitute('[${firstEvent}][${nEvents}]', filesCtx)).toBe('[][]');
  });

  it('fills a placeholder used more than once', () => {
    expect(substitute('${jobIndex}-${jobIndex}', eventsCtx)).toBe('7-7');
  });

  it('leaves unknown placeholders and plain dollars alone', () => {
    expect(substitute('${foo} $HOME $jobIndex', eventsCtx)).toBe('${foo} $HOME $jobIndex');
  });

  it('leaves placeholders named after Object.prototype members alone', () => {
    // `name in v` sees inherited members; today this inserts the text of a function (see the report).
    expect(substitute('${toString}', eventsCtx)).toBe('${toString}');
  });
});

describe('resolvePayload', () => {
  const payload = parseTaskSpec({
    name: 'x',
    payload: {
      command: '${workDir}/run.sh',
      args: ['--first', '${firstEvent}', '--n', '${nEvents}', '--seed=${jobIndex}'],
      env: { OUT: 'out-${jobIndex}-${attempt}.root', PLAIN: 'value' },
    },
    events: 10,
    split: { eventsPerJob: 1 },
  }).payload;

  it('fills the command and arguments', () => {
    const resolved = resolvePayload(payload, eventsCtx);
    expect(resolved.command).toBe('/scratch/gluon/t-000001.7/run.sh');
    expect(resolved.args).toEqual(['--first', '700', '--n', '100', '--seed=7']);
  });

  it('sets a GLUON_* variable for every placeholder', () => {
    const { env } = resolvePayload(payload, eventsCtx);
    expect(env).toMatchObject({
      GLUON_TASK_ID: 't-000001',
      GLUON_JOB_ID: 't-000001.7',
      GLUON_JOB_INDEX: '7',
      GLUON_ATTEMPT: '2',
      GLUON_FIRST_EVENT: '700',
      GLUON_N_EVENTS: '100',
      GLUON_INPUT_FILES: '',
      GLUON_WORK_DIR: '/scratch/gluon/t-000001.7',
    });
    for (const variable of Object.values(PLACEHOLDERS)) expect(env).toHaveProperty(variable);
  });

  it('joins input files with commas in GLUON_INPUT_FILES', () => {
    const { env } = resolvePayload(payload, filesCtx);
    expect(env.GLUON_INPUT_FILES).toBe('a.root,b.root,c.root');
    expect(env.GLUON_FIRST_EVENT).toBe('');
  });

  it('fills placeholders in the payload env values', () => {
    const { env } = resolvePayload(payload, eventsCtx);
    expect(env.OUT).toBe('out-7-2.root');
    expect(env.PLAIN).toBe('value');
  });

  it('sets nothing but the GLUON_* variables and the payload env', () => {
    const { env } = resolvePayload(payload, eventsCtx);
    expect(Object.keys(env).sort()).toEqual([...Object.values(PLACEHOLDERS), 'OUT', 'PLAIN'].sort());
  });
});

describe('unknownPlaceholders', () => {
  it('returns nothing when every placeholder is known', () => {
    expect(unknownPlaceholders('${taskId} ${inputFiles} $HOME')).toEqual([]);
  });

  it('returns every unknown placeholder in order', () => {
    expect(unknownPlaceholders('${foo} ${jobIndex} ${bar} ${}')).toEqual(['foo', 'bar', '']);
  });

  it('returns names that substitute would not fill', () => {
    expect(unknownPlaceholders('${job-index} ${JOBINDEX}')).toEqual(['job-index', 'JOBINDEX']);
  });

  it('returns names of Object.prototype members', () => {
    expect(unknownPlaceholders('${constructor} ${toString} ${__proto__}')).toEqual([
      'constructor',
      'toString',
      '__proto__',
    ]);
  });
});
