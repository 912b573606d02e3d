import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import {
  type PutSiteRequest,
  PutSiteRequestSchema,
  type SiteDetail,
  type SiteProvisioning,
} from '#core/api/sites.ts';
import { fieldIssues } from '#core/errors.ts';
import { RESOURCE_CLASSES } from '#core/jobs/resource-class.ts';
import { cloudSiteIssues } from '#core/provisioning/cloud-site-issues.ts';
import type { ProvisioningDecision } from '#core/provisioning/provisioning-decision.ts';
import { livePilots, SiteIdSchema } from '#core/sites/site.ts';
import { INFRA_KINDS, type OutcomeKind } from '#core/sites/site-outcomes.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTable, shortTime } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a whole number ≥ 0');
  return n;
}

interface PutSiteOptions extends CommonOptions {
  file?: string;
  kind?: string;
  status?: string;
  reason?: string;
  cores?: number;
  memoryMb?: number;
  walltimeSec?: number;
  diskMb?: number;
  maxPilots?: number;
  maxQueued?: number;
  tag?: string[];
}

interface SiteOptions extends CommonOptions {
  history?: boolean;
  provisioning?: boolean;
}

/** The entries whose value is given. */
function defined(entries: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined));
}

/** Rejects something that cannot be a site id before asking the API. */
function checkSiteId(siteId: string): string {
  if (!SiteIdSchema.safeParse(siteId).success) {
    throw new CliError(`${JSON.stringify(siteId)} is not a site id (lower-case letters, digits and dashes)`, {
      exitCode: 2,
    });
  }
  return siteId;
}

/** A site definition file (YAML or JSON), checked as the API checks a PUT body (exit 2 naming the fields). */
async function readSiteFile(file: string, cwd: string): Promise<Record<string, unknown>> {
  const path = resolve(cwd, file);
  let value: unknown;
  try {
    value = parseYaml(await readFile(path, 'utf8'), { prettyErrors: true });
  } catch (error) {
    throw new CliError(`cannot read site definition ${path}: ${(error as Error).message.trim()}`, {
      exitCode: 2,
    });
  }
  const parsed = PutSiteRequestSchema.safeParse(value);
  if (!parsed.success) {
    throw new CliError(`invalid site definition ${path}`, {
      exitCode: 2,
      issues: fieldIssues(parsed.error.issues),
    });
  }
  return value as Record<string, unknown>;
}

/**
 * A cloud site's provisioning checked against its slots as the API checks it (instance types that
 * fit, weights): exit 2 naming the fields before asking. A body the schema refuses is the API's to
 * answer (options may have made it so).
 */
function checkCloudSite(body: PutSiteRequest): void {
  const parsed = PutSiteRequestSchema.safeParse(body);
  if (!parsed.success) return;
  const issues = cloudSiteIssues(parsed.data);
  if (issues.length > 0) throw new CliError('invalid site definition', { exitCode: 2, issues });
}

/** `ec2 spot-first: m6i.xlarge, m5.xlarge×4; at most 20 instances, $5/h`: how a cloud site gets its pilots. */
function provisioningText(provisioning: NonNullable<SiteDetail['provisioning']>): string {
  if (provisioning.type === 'batch') {
    return (
      `batch: job queue ${provisioning.jobQueue}, job definition ${provisioning.jobDefinition}` +
      (provisioning.hourlyUsdPerPilot === undefined
        ? ''
        : `, $${provisioning.hourlyUsdPerPilot}/h per pilot`) +
      (provisioning.maxHourlyUsd === undefined ? '' : `; at most $${provisioning.maxHourlyUsd}/h`)
    );
  }
  const types = provisioning.instanceTypes
    .map(({ type, weight }) => (weight === undefined ? type : `${type}×${weight}`))
    .join(', ');
  return (
    `ec2 ${provisioning.market}: ${types}; at most ${provisioning.maxInstances} instances, ` +
    `$${provisioning.maxHourlyUsd}/h; ${provisioning.pilots === 'slot' ? 'a pilot per slot' : 'a pilot per instance'}`
  );
}

/** `site-health: 5 of 6 recent attempts failed …`: why the site has its status. */
function lastReason(site: Pick<SiteDetail, 'statusChange'>): string {
  const change = site.statusChange;
  return change === undefined ? '-' : `${change.by}: ${change.reason}`;
}

/** The lines of `gluon site SITE`. */
function renderSite(site: SiteDetail): string {
  const { counts } = site.outcomes;
  const infra = (Object.entries(INFRA_KINDS) as Array<[OutcomeKind, string]>)
    .filter(([kind]) => counts[kind] > 0)
    .map(([kind, words]) => `${words} ${counts[kind]}`);
  const lines = [
    `Site ${site.siteId}: ${site.status}${site.statusChange === undefined ? '' : ` since ${shortTime(site.statusChange.at)}`}`,
    `  why:       ${lastReason(site)}`,
    `  slot:      ${site.slot.cores} cores, ${site.slot.memoryMB} MB, ${site.slot.walltimeSec} s, ${site.slot.diskMB} MB disk; at most ${site.maxPilots} pilots`,
    ...(site.provisioning === undefined ? [] : [`  cloud:     ${provisioningText(site.provisioning)}`]),
    ...(site.provisioned === undefined ? [] : [`  provision: ${decisionText(site.provisioned)}`]),
    `  outcomes:  since ${shortTime(site.outcomes.from)}: ${site.outcomes.attempts} attempts, ${counts.finished} finished, ` +
      `${counts.userFailed} user failures, ${site.outcomes.infraFailures} infrastructure failures` +
      (infra.length === 0 ? '' : ` (${infra.join(', ')})`),
  ];
  const pilots = site.pilots;
  if (pilots !== undefined) {
    const live = livePilots(pilots);
    // Live pilots able to run each resource class (a pilot counts in every class it can run).
    const classes = RESOURCE_CLASSES.map((c) => `${c} ${pilots.classes?.[c] ?? 0}`).join(', ');
    lines.splice(
      3,
      0,
      `  pilots:    ${live} live (${pilots.starting} starting, ${pilots.idle} idle, ${pilots.busy} busy, ${pilots.draining} draining)` +
        (site.censusAt === undefined ? '' : ` at ${shortTime(site.censusAt)}`) +
        `; can run ${classes}`,
    );
  }
  const test = site.testTask;
  if (test !== undefined) {
    lines.push(
      `  test task: ${test.taskId} sent ${shortTime(test.sentAt)}, ${test.state ?? 'state unknown'}` +
        (test.failures > 0 ? `; ${test.failures} failed in a row` : '') +
        (test.nextAt === undefined ? '' : `; next test at ${shortTime(test.nextAt)}`),
    );
  }
  return lines.join('\n');
}

/** `at 14:02: 3 instances (8 slots, $0.41/h); Asked for …`: a cloud site's last provisioning decision. */
function decisionText(decision: ProvisioningDecision): string {
  const what = decision.type === 'ec2' ? 'instances' : 'pilot jobs';
  return (
    `at ${shortTime(decision.at)}: ${decision.pending + decision.running} ${what} ` +
    `(${decision.pending} pending, ${decision.running} running; ${decision.slots} slots, $${decision.hourlyUsd}/h); ${decision.summary}`
  );
}

/** `gluon site SITE --provisioning`: the decisions that asked for capacity or changed, oldest first. */
function renderProvisioning(provisioning: SiteProvisioning): string {
  if (provisioning.history.length === 0)
    return `site ${provisioning.siteId} has no provisioning decision recorded`;
  return renderTable(
    ['TIME', 'PENDING', 'RUNNING', 'SLOTS', '$/H', 'ASKED', 'STARTED', 'LIMITED BY', 'SUMMARY'],
    provisioning.history.map((d) => [
      shortTime(d.at),
      String(d.pending),
      String(d.running),
      String(d.slots),
      String(d.hourlyUsd),
      d.requested.map((r) => `${r.slots} ${r.market}`).join(', ') || '-',
      String(d.started),
      d.limitedBy,
      d.summary,
    ]),
  );
}

function renderHistory(site: SiteDetail): string {
  if (site.history.length === 0) return `site ${site.siteId} has no status change recorded`;
  return renderTable(
    ['TIME', 'FROM', 'TO', 'BY', 'REASON'],
    site.history.map((c) => [shortTime(c.at), c.from ?? '-', c.to, c.by, c.reason]),
  );
}

/** `gluon sites`, `gluon site SITE` and `gluon site-put SITE`: the information system, for operators. */
export function registerSites(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('sites')
      .description('list sites: status and why, slot resources, pilot cap')
      .addHelpText(
        'after',
        `
REASON is why the site has its status, and who set it: an operator (operator:<name>, with the
reason given to site-put) or site health (site-health), which moves a site whose recent attempts
fail for infrastructure reasons to test, and back online when its test jobs pass.
\`gluon site SITE --history\` shows every change.`,
      ),
  ).action(async (options: CommonOptions) => {
    const sites = (await clientFor(io, options).call('listSites', {})).items;
    if (options.json) printJson(io, sites);
    else if (sites.length === 0) writeLine(io.stdout, 'no sites');
    else
      writeLine(
        io.stdout,
        renderTable(
          [
            'SITE',
            'KIND',
            'STATUS',
            'CORES',
            'MEMORY MB',
            'WALLTIME S',
            'DISK MB',
            'MAX PILOTS',
            'TAGS',
            'REASON',
          ],
          sites.map((s) => [
            s.siteId,
            s.kind,
            s.status,
            String(s.slot.cores),
            String(s.slot.memoryMB),
            String(s.slot.walltimeSec),
            String(s.slot.diskMB),
            String(s.maxPilots),
            s.tags.join(',') || '-',
            lastReason(s),
          ]),
        ),
      );
    // Cloud sites: what the provisioner did last, and why.
    const cloud = sites.filter((s) => s.provisioned !== undefined);
    if (!options.json && cloud.length > 0) {
      writeLine(io.stdout, '');
      for (const s of cloud)
        if (s.provisioned !== undefined) writeLine(io.stdout, `${s.siteId} ${decisionText(s.provisioned)}`);
    }
  });

  addCommonOptions(
    program
      .command('site')
      .argument('<site>', 'site id')
      .description('one site: its status and why, its recent outcomes, its test task')
      .option('--history', 'every status change: when, from, to, by whom and why (the last 100)')
      .option(
        '--provisioning',
        "a cloud site's provisioning decisions that asked for capacity or changed (the last 50): what it had, asked, started, and what held it back",
      )
      .addHelpText(
        'after',
        `
Outcomes are the attempts that ended at the site since its last status change, within site
health's window (the last hour): finished, failed for the user's reasons, and failed for the
site's (infrastructure: stage-in, lost heartbeat, claim abandoned, work directory, and pilots
that failed their node checks). A site in test shows the test task site health sent it.

Examples:
  gluon site cern-t0
  gluon site cern-t0 --history
  gluon site cloud-a --provisioning`,
      ),
  ).action(async (siteId: string, options: SiteOptions) => {
    checkSiteId(siteId);
    if (options.provisioning) {
      const provisioning = await clientFor(io, options).call('getSiteProvisioning', { params: { siteId } });
      if (options.json) printJson(io, provisioning);
      else writeLine(io.stdout, renderProvisioning(provisioning));
      return;
    }
    const site = await clientFor(io, options).call('getSite', { params: { siteId } });
    if (options.json) printJson(io, options.history ? site.history : site);
    else writeLine(io.stdout, options.history ? renderHistory(site) : renderSite(site));
  });

  addCommonOptions(
    program
      .command('site-put')
      .argument('<site>', 'site id: lower-case letters, digits and dashes')
      .description(
        'define or update a site (needs the gluon.admin scope); creates its job queue and DLQ. ' +
          'Options not given take the defaults (1 core, 2000 MB, 24 h, 10 GB slots, 100 pilots); ' +
          'a status not given keeps the site’s (a new site is online).',
      )
      .option('-f, --file <file>', 'a site definition (YAML or JSON, as the PUT body); options override it')
      .addOption(new Option('--kind <kind>', 'what the site is').choices(['local', 'grid', 'hpc', 'cloud']))
      .addOption(
        new Option(
          '--status <status>',
          'offline stops brokerage and pilot factories; test takes only test tasks. An operator’s status wins: site health never changes an offline site, nor a test an operator set',
        ).choices(['online', 'offline', 'test']),
      )
      .option('--reason <text>', 'why the status changes (recorded in the site history)')
      .option('--cores <n>', 'cores of one slot (what one pilot offers)', positiveInt)
      .option('--memory-mb <n>', 'memory of one slot', positiveInt)
      .option('--walltime-sec <n>', 'walltime of one slot', positiveInt)
      .option('--disk-mb <n>', 'scratch disk of one slot', positiveInt)
      .option('--max-pilots <n>', 'most pilots running at the site at once', positiveInt)
      .option(
        '--max-queued <n>',
        'most jobs waiting in the site queue: dispatch tops it up to this in fair-share order (default: twice max-pilots, at least 100)',
        positiveInt,
      )
      .option('--tag <tag...>', 'tags of the site')
      .addHelpText(
        'after',
        `
A definition file can also set site health's thresholds and the site's test task:
  health: { maxInfraFailureFraction: 0.5, minAttempts: 5 }   # auto: false leaves the status to operators
  test:
    jobs: 2
    payload: { command: sh, args: [-c, 'test -s probe.dat'] }
    inputs: [{ name: inputs/probe.dat, adler32: 0a1b2c3d }]   # staged in and verified by each test job
    backoffSec: 300                                             # after a failed test (doubling, at most ×8)

A cloud site (kind: cloud) names how the provisioner gets its pilots: EC2 capacity (CreateFleet)
  provisioning:
    type: ec2
    instanceTypes: [{ type: m6i.xlarge }, { type: m5.xlarge, weight: 4 }]   # weight: slots per instance (default: what fits)
    market: spot-first          # spot | on-demand | spot-first (Spot, and On-Demand for what Spot cannot give)
    subnets: [subnet-0123456789abcdef0]
    maxInstances: 20            # instances booting or running at once
    maxHourlyUsd: 5             # what they may cost per hour together
    pilots: slot                # slot: a pilot per slot; instance: one multi-job pilot per instance
    idleExitSec: 300            # idle pilots exit; the instance then shuts down and terminates
or array jobs of pilots on an AWS Batch job queue:
  provisioning: { type: batch, jobQueue: gluon-pilots, jobDefinition: gluon-pilot, hourlyUsdPerPilot: 0.05 }
Instance types must be in the price table (README, Cloud sites), of the slot's arch, and fit a slot.
Examples: examples/sites/cloud-ec2.yaml, examples/sites/cloud-batch.yaml.

Examples:
  gluon site-put cern-t0 --status offline --reason "downtime GGUS 123456"
  gluon site-put cern-t0 --file cern-t0.yaml`,
      ),
  ).action(async (siteId: string, options: PutSiteOptions) => {
    checkSiteId(siteId);
    const fromFile = options.file === undefined ? {} : await readSiteFile(options.file, io.cwd);
    const slot = {
      ...(fromFile.slot as Record<string, unknown> | undefined),
      ...defined({
        cores: options.cores,
        memoryMB: options.memoryMb,
        walltimeSec: options.walltimeSec,
        diskMB: options.diskMb,
      }),
    };
    const body = {
      ...fromFile,
      ...defined({
        kind: options.kind,
        status: options.status,
        reason: options.reason,
        slot: Object.keys(slot).length === 0 ? undefined : slot,
        maxPilots: options.maxPilots,
        maxQueued: options.maxQueued,
        tags: options.tag,
      }),
    } as PutSiteRequest;
    checkCloudSite(body);
    const site = await clientFor(io, options).call('putSite', { params: { siteId }, body });
    if (options.json) printJson(io, site);
    else
      writeLine(
        io.stdout,
        `site ${site.siteId} is ${site.status}; job queue ${site.queueUrl ?? '(unknown)'}`,
      );
  });
}
