/** Types of dag-model.js for the unit tests (the pages use the plain module). */
export interface NodeLike {
  name: string;
  type?: 'task' | 'merge';
  state: string;
  taskId?: string;
  jobCount?: number;
  counts?: Record<string, number>;
  reason?: string;
}
export interface EdgeLike {
  from: string;
  to: string;
  when?: 'done' | 'partial';
  minFraction?: number;
}
export interface Box {
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface Line {
  from: string;
  to: string;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}
export const NODE_STATE_COLOURS: Record<string, string>;
export const FINAL_META_TASK_STATES: string[];
export const BOX: { width: number; height: number; gapX: number; gapY: number; margin: number };
export function depths(nodes: NodeLike[], edges: EdgeLike[]): Map<string, number>;
export function layers(nodes: NodeLike[], edges: EdgeLike[]): string[][];
export function topologicalOrder<N extends NodeLike>(nodes: N[], edges: EdgeLike[]): N[];
export function layout(
  nodes: NodeLike[],
  edges: EdgeLike[],
  box?: typeof BOX,
): { width: number; height: number; boxes: Box[]; lines: Line[] };
export function countsText(node: NodeLike): string;
export function edgeCondition(edge: EdgeLike): string;
export function parentsOf(view: { nodes: NodeLike[]; edges: EdgeLike[] }): Map<string, string[]>;
export function textAlternative(view: { nodes: NodeLike[]; edges: EdgeLike[] }): {
  nodes: string[];
  edges: string[];
};
