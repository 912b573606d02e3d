import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { defaultOutputDataset, didText, userScope } from '../catalog/did.ts';
import { type FieldIssue, ValidationError } from '../errors.ts';
import { PayloadSchema, ResourcesSchema, type TaskSpec, TaskSpecSchema } from '../tasks/task-spec.ts';

/**
 * A meta-task (JEDI parent tasks, DAGMan, WMAgent TaskChain): named nodes, each a task or a merge
 * step, and edges that pass a parent's output dataset to its child as the child's input.
 */
export const META_TASK_SHAPES = ['chain', 'bag', 'dag'] as const;
export type MetaTaskShape = (typeof META_TASK_SHAPES)[number];

export const NodeNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a node name: lower-case letters, digits, - (at most 40)');

/** What a child may add to the input its edge gives it (the data part's dataset input options). */
export const InputsOptionsSchema = z.strictObject({
  filter: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  remoteRead: z.boolean().optional(),
  untilClosed: z.boolean().optional(),
});

/** A merge step: combines `filesPerMerge` of its parent's output files per job into one output. */
export const MergeStepSchema = z.strictObject({
  filesPerMerge: z.number().int().min(1).max(10_000),
  payload: PayloadSchema,
  outputs: z.array(z.string().min(1).max(200)).min(1).max(64),
  resources: ResourcesSchema.optional(),
});
export type MergeStep = z.infer<typeof MergeStepSchema>;

export const MetaTaskNodeSchema = z
  .strictObject({
    name: NodeNameSchema,
    /** A task spec without `name` (the task is named `<meta-task name>.<node>`); checked as a task spec. */
    task: z.record(z.string(), z.unknown()).optional(),
    /** Merged into the input the node's edge gives it. */
    inputsOptions: InputsOptionsSchema.optional(),
    merge: MergeStepSchema.optional(),
  })
  .refine((n) => (n.task === undefined) !== (n.merge === undefined), {
    message: 'give task or merge, exactly one',
  });
export type MetaTaskNode = z.infer<typeof MetaTaskNodeSchema>;

export const EDGE_CONDITIONS = ['done', 'partial'] as const;
export type EdgeCondition = (typeof EDGE_CONDITIONS)[number];

export const MetaTaskEdgeSchema = z.strictObject({
  from: NodeNameSchema,
  to: NodeNameSchema,
  /** done: the parent ended done; partial: done, or partial with ≥ minFraction of its jobs finished. */
  when: z.enum(EDGE_CONDITIONS).default('done'),
  minFraction: z.number().gt(0).max(1).optional(),
});
export type MetaTaskEdge = z.infer<typeof MetaTaskEdgeSchema>;

export const MAX_META_TASK_NODES = 100;

export const MetaTaskSpecSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(80)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, . _ - (start with a letter or digit)'),
  shape: z.enum(META_TASK_SHAPES).default('dag'),
  nodes: z.array(MetaTaskNodeSchema).min(1).max(MAX_META_TASK_NODES),
  edges: z
    .array(MetaTaskEdgeSchema)
    .max(MAX_META_TASK_NODES * 4)
    .optional(),
});
export type MetaTaskSpec = z.infer<typeof MetaTaskSpecSchema>;
export type MetaTaskSpecInput = z.input<typeof MetaTaskSpecSchema>;

/** A zod path as the meta-task's fields are named in errors: `nodes[2].task.payload`. */
export function fieldOf(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let field = prefix;
  for (const part of path) {
    if (typeof part === 'number') field += `[${part}]`;
    else field += field === '' ? String(part) : `.${String(part)}`;
  }
  return field === '' ? '(root)' : field;
}

/** The task's name of a node: `<meta-task name>.<node>`. */
export function nodeTaskName(metaTaskName: string, node: string): string {
  return `${metaTaskName}.${node}`;
}

/** The dataset a merge node's outputs are registered in: `<scope>:<meta-task name>.<node>.merged`. */
export function mergedDataset(scope: string, metaTaskName: string, node: string): string {
  return `${scope}:${metaTaskName}.${node}.merged`;
}

/**
 * The edges of the spec as the shape says: a chain's follow node order (giving edges is an
 * error), a bag has none (likewise), a DAG's are given. Defaults filled (`when: done`).
 */
export function edgesOf(spec: MetaTaskSpec): MetaTaskEdge[] {
  if (spec.shape === 'chain') {
    return spec.nodes.slice(1).map((node, i) => ({
      from: (spec.nodes[i] as MetaTaskNode).name,
      to: node.name,
      when: 'done' as const,
    }));
  }
  return spec.edges ?? [];
}

/** Parents of each node, in edge order. */
export function parentsOf(
  nodes: readonly string[],
  edges: readonly MetaTaskEdge[],
): Map<string, MetaTaskEdge[]> {
  const parents = new Map<string, MetaTaskEdge[]>(nodes.map((n) => [n, []]));
  for (const edge of edges) parents.get(edge.to)?.push(edge);
  return parents;
}

/**
 * Node names in topological order (Kahn's, ties by spec order), or the nodes of a cycle when
 * there is one.
 */
export function topologicalOrder(
  nodes: readonly string[],
  edges: readonly Pick<MetaTaskEdge, 'from' | 'to'>[],
): { order: string[] } | { cycle: string[] } {
  const indegree = new Map(nodes.map((n) => [n, 0]));
  const children = new Map<string, string[]>(nodes.map((n) => [n, []]));
  for (const e of edges) {
    indegree.set(e.to, (indegree.get(e.to) ?? 0) + 1);
    children.get(e.from)?.push(e.to);
  }
  const order: string[] = [];
  const ready = nodes.filter((n) => indegree.get(n) === 0);
  while (ready.length > 0) {
    const node = ready.shift() as string;
    order.push(node);
    for (const child of children.get(node) ?? []) {
      const left = (indegree.get(child) ?? 0) - 1;
      indegree.set(child, left);
      if (left === 0) ready.push(child);
    }
  }
  if (order.length === nodes.length) return { order };
  return {
    cycle: findCycle(
      nodes.filter((n) => !order.includes(n)),
      children,
    ),
  };
}

/** One cycle among the nodes left over by Kahn's algorithm (each of them is on or below one). */
function findCycle(left: string[], children: Map<string, string[]>): string[] {
  const remaining = new Set(left);
  const start = left[0] as string;
  const path: string[] = [];
  const seen = new Map<string, number>();
  let node = start;
  while (!seen.has(node)) {
    seen.set(node, path.length);
    path.push(node);
    node = (children.get(node) ?? []).find((c) => remaining.has(c)) as string;
  }
  return [...path.slice(seen.get(node)), node];
}

/** A validated meta-task: the spec, its edges (defaults filled), and each node's task spec. */
export interface ValidMetaTask {
  spec: MetaTaskSpec;
  edges: MetaTaskEdge[];
  /** Node names in topological order. */
  order: string[];
}

/**
 * Checks everything a meta-task needs before anything is written: the spec's fields, the
 * shape's rules, unknown and duplicate nodes, cycles, merge nodes' single parent, and each
 * node's task spec as its task would be submitted (fields prefixed `nodes[i].task`). A node with
 * several parents must not read data (its input would have to be formed from several datasets,
 * which is refused): several parents order a generation node only.
 */
export function validateMetaTaskSpec(value: unknown, owner: string): ValidMetaTask {
  const parsed = MetaTaskSpecSchema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(
      'invalid meta-task spec',
      parsed.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => ({ field: fieldOf([...i.path, k]), message: 'unknown field' }))
          : [{ field: fieldOf(i.path), message: i.message }],
      ),
    );
  }
  const spec = parsed.data;
  const issues: FieldIssue[] = [];
  if (spec.shape !== 'dag' && spec.edges !== undefined && spec.edges.length > 0) {
    issues.push({
      field: 'edges',
      message:
        spec.shape === 'chain'
          ? 'a chain takes its edges from the order of its nodes; give none (or use shape: dag)'
          : 'a bag has no edges; give none (or use shape: dag)',
    });
  }
  const names = spec.nodes.map((n) => n.name);
  spec.nodes.forEach((node, i) => {
    if (names.indexOf(node.name) !== i)
      issues.push({ field: `nodes[${i}].name`, message: `duplicate node name ${node.name}` });
  });
  const edges = edgesOf(spec);
  const known = new Set(names);
  edges.forEach((edge, i) => {
    for (const end of ['from', 'to'] as const) {
      if (!known.has(edge[end]))
        issues.push({ field: `edges[${i}].${end}`, message: `no node named ${edge[end]}` });
    }
    if (edge.from === edge.to)
      issues.push({ field: `edges[${i}]`, message: `an edge from ${edge.from} to itself is a cycle` });
    if (edge.when === 'done' && edge.minFraction !== undefined)
      issues.push({ field: `edges[${i}].minFraction`, message: 'only with when: partial' });
    if (edge.when === 'partial' && edge.minFraction === undefined)
      issues.push({
        field: `edges[${i}].minFraction`,
        message: 'when: partial needs minFraction (0 < f ≤ 1)',
      });
    const first = edges.findIndex((e) => e.from === edge.from && e.to === edge.to);
    if (first !== i) issues.push({ field: `edges[${i}]`, message: `the same edge as edges[${first}]` });
  });
  if (issues.length > 0) throw new ValidationError('invalid meta-task spec', issues);

  const sorted = topologicalOrder(names, edges);
  if ('cycle' in sorted) {
    throw new ValidationError('invalid meta-task spec', [
      { field: 'edges', message: `a cycle: ${sorted.cycle.join(' → ')}` },
    ]);
  }
  const parents = parentsOf(names, edges);
  const scope = userScope(owner);
  spec.nodes.forEach((node, i) => {
    const from = (parents.get(node.name) ?? []).map((e) => e.from);
    if (node.merge !== undefined && from.length !== 1) {
      issues.push({
        field: `nodes[${i}].merge`,
        message: `a merge step merges one parent's outputs; it has ${from.length} parents`,
      });
      return;
    }
    if (node.merge !== undefined) return;
    const reads = from.length > 0 && (node.task as Record<string, unknown>).events === undefined;
    if (reads && from.length > 1) {
      issues.push({
        field: `nodes[${i}].task`,
        message: `a node reads one parent's output dataset; ${node.name} has ${from.length} parents (${from.join(', ')}): keep one, or put a merge step before it (a node with events may have several)`,
      });
      return;
    }
    if (reads && (node.task as Record<string, unknown>).inputs !== undefined) {
      issues.push({
        field: `nodes[${i}].task.inputs`,
        message: `its edge from ${from[0]} gives the input (the parent's output dataset); use inputsOptions for filter, remoteRead, untilClosed`,
      });
      return;
    }
    if (!reads && node.inputsOptions !== undefined) {
      issues.push({
        field: `nodes[${i}].inputsOptions`,
        message: 'only for a node that reads its parent’s outputs',
      });
      return;
    }
    if ((node.task as Record<string, unknown>).name !== undefined) {
      issues.push({
        field: `nodes[${i}].task.name`,
        message: `a node's task is named <meta-task name>.<node> (${nodeTaskName(spec.name, node.name)}); give none`,
      });
      return;
    }
    const parentSpec = reads
      ? nodeTaskSpecUnchecked(spec, spec.nodes.find((n) => n.name === from[0]) as MetaTaskNode, scope)
      : undefined;
    const input = parentSpec === undefined ? undefined : (parentSpec.outputDataset as string);
    const result = TaskSpecSchema.safeParse(rawNodeTask(spec, node, scope, input));
    if (!result.success) {
      for (const issue of result.error.issues) {
        if (issue.code === 'unrecognized_keys')
          for (const k of issue.keys)
            issues.push({ field: fieldOf([...issue.path, k], `nodes[${i}].task`), message: 'unknown field' });
        else issues.push({ field: fieldOf(issue.path, `nodes[${i}].task`), message: issue.message });
      }
    }
  });
  if (issues.length > 0) throw new ValidationError('invalid meta-task spec', issues);
  return { spec, edges, order: sorted.order };
}

/**
 * The raw task spec of a node (before the task spec schema fills defaults): the node's task with
 * its name, its output dataset (the node's task's default, or for a merge step its `.merged`
 * dataset) and, for a node reading its parent, `inputs: {dataset: <the parent's output dataset>}`.
 */
function rawNodeTask(
  spec: MetaTaskSpec,
  node: MetaTaskNode,
  scope: string,
  inputDataset: string | undefined,
): Record<string, unknown> {
  const name = nodeTaskName(spec.name, node.name);
  const input =
    inputDataset === undefined ? {} : { inputs: { dataset: inputDataset, ...(node.inputsOptions ?? {}) } };
  if (node.merge !== undefined) {
    return {
      name,
      payload: node.merge.payload,
      outputs: node.merge.outputs,
      ...(node.merge.resources === undefined ? {} : { resources: node.merge.resources }),
      split: { filesPerJob: node.merge.filesPerMerge },
      outputDataset: mergedDataset(scope, spec.name, node.name),
      ...input,
    };
  }
  const task = node.task as Record<string, unknown>;
  return {
    ...task,
    name,
    outputDataset: (task.outputDataset as string | undefined) ?? didText(defaultOutputDataset(scope, name)),
    ...input,
  };
}

/** A node's output dataset and raw spec without the parent's (used to name its child's input). */
function nodeTaskSpecUnchecked(
  spec: MetaTaskSpec,
  node: MetaTaskNode,
  scope: string,
): Record<string, unknown> {
  return rawNodeTask(spec, node, scope, undefined);
}

/** The output dataset of a node's task (`scope:name`). */
export function nodeOutputDataset(spec: MetaTaskSpec, node: string, owner: string): string {
  const found = spec.nodes.find((n) => n.name === node);
  if (found === undefined) throw new RangeError(`no node ${node}`);
  return nodeTaskSpecUnchecked(spec, found, userScope(owner)).outputDataset as string;
}

/**
 * The task spec a node is submitted with (validated when the meta-task was, so a failure here is
 * a bug): for a child reading its parent, the parent's output dataset as input.
 */
export function nodeTaskSpec(
  spec: MetaTaskSpec,
  edges: readonly MetaTaskEdge[],
  node: string,
  owner: string,
): TaskSpec {
  const found = spec.nodes.find((n) => n.name === node);
  if (found === undefined) throw new RangeError(`no node ${node}`);
  const from = edges.filter((e) => e.to === node).map((e) => e.from);
  const reads =
    from.length === 1 &&
    (found.merge !== undefined || (found.task as Record<string, unknown>).events === undefined);
  const input = reads ? nodeOutputDataset(spec, from[0] as string, owner) : undefined;
  return TaskSpecSchema.parse(rawNodeTask(spec, found, userScope(owner), input));
}

/** Parses YAML or JSON text (JSON is YAML) into a meta-task spec object, not yet validated. */
export function parseMetaTaskText(text: string, source = 'spec'): unknown {
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new ValidationError('invalid meta-task spec', [
      { field: source, message: (error as Error).message },
    ]);
  }
}
