import { closeness, describeCloseness } from '../catalog/task-inputs.ts';
import type { TaskSpec } from '../tasks/task-spec.ts';
import {
  type BrokerageDecision,
  type DataDecision,
  MAX_RECORDED_REJECTIONS,
  type SiteRejection,
} from './brokerage-decision.ts';
import {
  DEFAULT_FILTER_OPTIONS,
  type FilterOptions,
  firstRejection,
  type SiteFacts,
  SOFT_FILTERS,
} from './site-filters.ts';
import { weighSites } from './site-weights.ts';

/**
 * Brokerage of one task: the filter chain over every site (site-filters.ts), then the weighting
 * of the survivors (site-weights.ts). Sites are looked at in site id order whatever order they
 * come in, so the same facts give the same decision.
 *
 * Hard filters reject a site that cannot run the jobs. Soft filters (no pilots allowed, queue
 * full, recent failures) run one after the other over the sites left: a soft filter that would reject every site left is
 * waived (the sites are kept, and the decision says what held against them), so a task is never
 * failed for the moment's load, only steered away from it when there is somewhere else to go.
 */
export function brokerTask(
  spec: TaskSpec,
  siteFacts: SiteFacts[],
  at: string,
  options: FilterOptions = DEFAULT_FILTER_OPTIONS,
): BrokerageDecision {
  const facts = withDataFacts(spec, siteFacts);
  const sorted = [...facts].sort((a, b) => compareIds(a.site.siteId, b.site.siteId));
  const rejected: SiteRejection[] = [];
  const waived: SiteRejection[] = [];
  let left: SiteFacts[] = [];
  for (const f of sorted) {
    const rejection = firstRejection(spec, f, options);
    if (rejection === undefined) left.push(f);
    else rejected.push({ siteId: f.site.siteId, ...rejection });
  }
  for (const link of SOFT_FILTERS) {
    const verdicts = left.map((f) => ({ f, rejection: firstRejection(spec, f, options, [link]) }));
    const softRejected = verdicts.flatMap(({ f, rejection }) =>
      rejection === undefined ? [] : [{ siteId: f.site.siteId, ...rejection }],
    );
    if (softRejected.length === 0) continue;
    if (softRejected.length === left.length) {
      waived.push(...softRejected);
      continue;
    }
    rejected.push(...softRejected);
    left = verdicts.filter((v) => v.rejection === undefined).map((v) => v.f);
  }
  rejected.sort((a, b) => compareIds(a.siteId, b.siteId));
  const omitted = rejected.length - MAX_RECORDED_REJECTIONS;
  return {
    at,
    sitesConsidered: sorted.length,
    chosen: weighSites(left),
    rejected: omitted > 0 ? rejected.slice(0, MAX_RECORDED_REJECTIONS) : rejected,
    waived,
    ...(omitted > 0 ? { rejectedOmitted: omitted } : {}),
    ...optionalData(dataDecision(sorted)),
  };
}

/**
 * Each site's data facts for a dataset task whose files are resolved (facts that carry them
 * already are kept): how many of the files have an available replica close to it.
 */
export function withDataFacts(spec: TaskSpec, facts: SiteFacts[]): SiteFacts[] {
  const resolved = spec.inputs?.resolved;
  const dataset = spec.inputs?.dataset;
  if (resolved === undefined || dataset === undefined) return facts;
  const remoteRead = spec.inputs?.remoteRead === true;
  return facts.map((f) =>
    f.data !== undefined
      ? f
      : {
          ...f,
          data: {
            dataset,
            remoteRead,
            closeness: closeness(resolved.files, resolved.endpoints, f.site.siteId),
          },
        },
  );
}

/** The record of what each site had of the task's files (sites in id order, bounded). */
function dataDecision(sorted: SiteFacts[]): DataDecision | undefined {
  const first = sorted.find((f) => f.data !== undefined)?.data;
  if (first === undefined) return undefined;
  return {
    dataset: first.dataset,
    remoteRead: first.remoteRead,
    files: first.closeness.files,
    bytes: first.closeness.bytes,
    sites: sorted.slice(0, MAX_RECORDED_REJECTIONS).flatMap((f) =>
      f.data === undefined
        ? []
        : [
            {
              siteId: f.site.siteId,
              closeFiles: f.data.closeness.closeFiles,
              closeBytes: f.data.closeness.closeBytes,
              endpoints: f.data.closeness.endpoints,
            },
          ],
    ),
  };
}

function optionalData(data: DataDecision | undefined): { data?: DataDecision } {
  return data === undefined ? {} : { data };
}

/** `gluon why`'s lines for the data: "site-a: 20/20 files at DATA-A (close); site-b: 0/20 files close, …". */
export function describeData(data: DataDecision): string {
  const lines = data.sites.map((s) =>
    describeCloseness(
      s.siteId,
      {
        files: data.files,
        bytes: data.bytes,
        closeFiles: s.closeFiles,
        closeBytes: s.closeBytes,
        endpoints: s.endpoints,
      },
      data.remoteRead,
    ),
  );
  return `Data (${data.dataset}, ${data.files} files, remote read ${data.remoteRead ? 'allowed' : 'not allowed'}): ${lines.join('; ')}.`;
}

/** Site ids in code point order: the same everywhere, and cheaper than a locale's collation. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The facts without queue depths: what a site is before its queue is looked at. */
export function sitesPassingHardFilters(spec: TaskSpec, facts: SiteFacts[]): SiteFacts[] {
  return withDataFacts(spec, facts).filter((f) => firstRejection(spec, f) === undefined);
}

/** Why no site was chosen, naming every site and its reason (the error a task fails with). */
export function describeNoSite(decision: Pick<BrokerageDecision, 'rejected' | 'rejectedOmitted'>): string {
  if (decision.rejected.length === 0) return 'no site is defined';
  const more = decision.rejectedOmitted === undefined ? '' : ` and ${decision.rejectedOmitted} more`;
  return `no site can run the jobs: ${decision.rejected.map((r) => `${r.siteId} (${r.reason})`).join(', ')}${more}`;
}
