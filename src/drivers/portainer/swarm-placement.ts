import { isMap, isScalar, isSeq, parseDocument } from 'yaml';

/**
 * Docker Swarm placement constraints, pure: parsing and matching with swarmkit's rules
 * (manager/constraint: `key==value` / `key!=value`, keys and values compared case-insensitively except the
 * label name, a missing label compares as ""), the scheduler's readiness filter (availability `active`,
 * state `ready`), and adding constraints to every service of a compose file.
 */

export interface SwarmNode {
  readonly id: string;
  readonly hostname: string;
  readonly role: 'manager' | 'worker';
  /** `active`, `pause` or `drain`. */
  readonly availability: string;
  /** `ready`, `down`, `unknown` or `disconnected`. */
  readonly state: string;
  /** Spec.Labels (`docker node update --label-add`): `node.labels.<k>`. */
  readonly labels: Readonly<Record<string, string>>;
  /** The daemon's own labels: `engine.labels.<k>`. */
  readonly engineLabels: Readonly<Record<string, string>>;
}

export interface PlacementConstraint {
  readonly text: string;
  readonly key: string;
  readonly operator: '==' | '!=';
  readonly value: string;
}

// swarmkit's patterns: a value must not contain anything that could become an operator later.
const KEY = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;
const NODE_LABELS = 'node.labels.';
const ENGINE_LABELS = 'engine.labels.';
const PLAIN_KEYS = new Set(['node.id', 'node.hostname', 'node.role']);
// Keys Docker knows but the node list Phoenix reads does not carry: refused rather than guessed.
const UNSUPPORTED_KEYS = new Set(['node.platform.os', 'node.platform.arch', 'node.ip']);

/** Throws an Error quoting the constraint when Docker would refuse it or Phoenix cannot evaluate it. */
export function parseConstraint(text: string): PlacementConstraint {
  const operator = text.includes('==') ? '==' : text.includes('!=') ? '!=' : undefined;
  const bad = (why: string) => new Error(`placement constraint ${JSON.stringify(text)}: ${why}`);
  if (operator === undefined) throw bad('expected one operator from ==, !=');
  const at = text.indexOf(operator);
  const key = text.slice(0, at).trim();
  const value = text.slice(at + operator.length).trim();
  if (!KEY.test(key)) throw bad(`key ${JSON.stringify(key)} is invalid`);
  if (!VALUE.test(value)) throw bad(`value ${JSON.stringify(value)} is invalid`);
  const lower = key.toLowerCase();
  if (UNSUPPORTED_KEYS.has(lower)) {
    throw bad(
      `${lower} is not supported by Phoenix's node matcher; label the nodes and use node.labels.<name>`,
    );
  }
  const labelled = [NODE_LABELS, ENGINE_LABELS].some((p) => lower.startsWith(p) && key.length > p.length);
  if (!PLAIN_KEYS.has(lower) && !labelled) {
    throw bad(
      `unknown key ${JSON.stringify(key)} (node.id, node.hostname, node.role, node.labels.<name>, engine.labels.<name>)`,
    );
  }
  return { text, key, operator, value };
}

function attribute(c: PlacementConstraint, node: SwarmNode): string {
  const lower = c.key.toLowerCase();
  if (lower === 'node.id') return node.id;
  if (lower === 'node.hostname') return node.hostname;
  if (lower === 'node.role') return node.role;
  // The label name keeps its case: Docker compares it exactly.
  if (lower.startsWith(NODE_LABELS)) return node.labels[c.key.slice(NODE_LABELS.length)] ?? '';
  return node.engineLabels[c.key.slice(ENGINE_LABELS.length)] ?? '';
}

export function constraintHolds(c: PlacementConstraint, node: SwarmNode): boolean {
  const equal = attribute(c, node).toLowerCase() === c.value.toLowerCase();
  return c.operator === '==' ? equal : !equal;
}

/** Nodes a task with these constraints can be scheduled on: ready, active, every constraint holds. */
export function eligibleNodes(nodes: readonly SwarmNode[], constraints: readonly string[]): SwarmNode[] {
  const parsed = constraints.map(parseConstraint);
  return nodes.filter(
    (n) => n.availability === 'active' && n.state === 'ready' && parsed.every((c) => constraintHolds(c, n)),
  );
}

/** `node.role == manager` and `node.role==manager` are one constraint. */
function sameConstraint(a: string, b: string): boolean {
  const canonical = (t: string) => {
    try {
      const c = parseConstraint(t);
      return `${c.key.toLowerCase()}${c.operator}${c.value.toLowerCase()}`;
    } catch {
      return t.trim();
    }
  };
  return canonical(a) === canonical(b);
}

/**
 * Every service gets `deploy.placement.constraints` = its own + the given ones not already there, in order.
 * The document is edited in place (comments, key order, anchors survive); a file that needs no change is
 * returned as is, so the result is stable when applied twice.
 */
export function injectPlacement(compose: string, constraints: readonly string[]): string {
  constraints.forEach(parseConstraint);
  const wanted = constraints.filter((c, i) => constraints.findIndex((d) => sameConstraint(c, d)) === i);
  const doc = parseDocument(compose);
  if (doc.errors.length > 0) throw new Error(`the compose file is not valid YAML: ${doc.errors[0]!.message}`);
  const services = doc.get('services', true);
  if (!isMap(services)) throw new Error('the compose file has no services mapping');
  const path = ['deploy', 'placement', 'constraints'];
  let changed = false;
  for (const pair of services.items) {
    const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
    const service = pair.value;
    if (!isMap(service)) throw new Error(`service ${name} is not a mapping`);
    const existing = service.getIn(path, true);
    if (existing !== undefined && !isSeq(existing)) {
      throw new Error(`service ${name}: deploy.placement.constraints is not a list`);
    }
    const have = existing ? existing.items.map((i) => String(isScalar(i) ? i.value : i)) : [];
    const missing = wanted.filter((c) => !have.some((h) => sameConstraint(h, c)));
    if (missing.length === 0) continue;
    changed = true;
    if (existing) for (const c of missing) existing.add(doc.createNode(c));
    else {
      try {
        service.setIn(path, doc.createNode(missing));
      } catch {
        throw new Error(`service ${name}: deploy or deploy.placement is not a mapping`);
      }
    }
  }
  // lineWidth 0: no folding of long scalars, so only the constraint lines differ from the file as written.
  return changed ? doc.toString({ lineWidth: 0 }) : compose;
}
