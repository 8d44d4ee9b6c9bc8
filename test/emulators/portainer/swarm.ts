import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { scanCompose } from '../../../src/drivers/memory/compose-scan.js';
import type { EmulatedVolume } from './server.js';

/**
 * The swarm side of the Portainer emulator: Docker Engine API NodeList, ServiceList and TaskList behind
 * `/api/endpoints/{id}/docker`, per-node volumes reached with the agent's `X-PortainerAgent-Target` header,
 * and `docker stack deploy` for swarm stacks. Scheduling follows swarmkit, reduced to one replica per service
 * put on the FIRST eligible node (swarmkit spreads; tests want to know where a task lands):
 *
 * - eligible: availability `active`, state `ready`, every placement constraint holds (manager/constraint:
 *   `key==value` / `key!=value`, case-insensitive but for label names, a missing label compares as "");
 *   none → task `pending`, Err "no suitable node (scheduling constraints not satisfied on N nodes; M nodes not
 *   available for new tasks)" as the scheduler's filters explain it;
 * - an external volume the service mounts that does not exist on the chosen node → task `rejected`, Err in
 *   the daemon's words for a missing volume; a stack's own named volume is created on the node instead.
 *
 * Deliberately independent of src/drivers/portainer/swarm-placement.ts: the emulator plays Docker's part and
 * should not share a bug with the driver it checks. Everything here is plain JSON (the state is persisted).
 */

export interface SwarmNodeSeed {
  readonly hostname: string;
  readonly role: 'manager' | 'worker';
  readonly labels?: Record<string, string>;
  readonly engineLabels?: Record<string, string>;
  /** Default `active`. */
  readonly availability?: 'active' | 'pause' | 'drain';
  /** Default `ready`. */
  readonly state?: 'ready' | 'down' | 'unknown' | 'disconnected';
}

export interface EmulatedSwarmNode {
  ID: string;
  hostname: string;
  role: 'manager' | 'worker';
  labels: Record<string, string>;
  engineLabels: Record<string, string>;
  availability: string;
  state: string;
  /** Volumes of the node; the agent's own node keeps them in the endpoint's map instead. */
  volumes: Record<string, EmulatedVolume>;
}

export interface EmulatedSwarmService {
  ID: string;
  /** `<stack>_<service>`. */
  Name: string;
  stack: string;
  image: string;
  constraints: string[];
  /** Definition + constraints: a deploy replaces the task only when it changed. */
  hash: string;
}

export interface EmulatedTask {
  ID: string;
  ServiceID: string;
  NodeID: string;
  DesiredState: 'running' | 'shutdown';
  State: 'pending' | 'rejected' | 'running' | 'shutdown';
  Err?: string;
  Timestamp: string;
}

export interface EmulatedSwarm {
  /** The manager the agent runs on: proxied calls without a target header land there. */
  agentNode: string;
  nodes: EmulatedSwarmNode[];
  services: EmulatedSwarmService[];
  tasks: EmulatedTask[];
}

export const NOT_A_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

const swarmId = () => randomBytes(13).toString('hex').slice(0, 25);

export function seedSwarm(seeds: readonly SwarmNodeSeed[]): EmulatedSwarm {
  const manager = seeds.find((s) => s.role === 'manager');
  if (manager === undefined) throw new Error('an emulated swarm needs a manager node');
  if (new Set(seeds.map((s) => s.hostname)).size !== seeds.length) throw new Error('node hostnames repeat');
  return {
    agentNode: manager.hostname,
    nodes: seeds.map((s) => ({
      ID: swarmId(),
      hostname: s.hostname,
      role: s.role,
      labels: { ...s.labels },
      engineLabels: { ...s.engineLabels },
      availability: s.availability ?? 'active',
      state: s.state ?? 'ready',
      volumes: {},
    })),
    services: [],
    tasks: [],
  };
}

export interface VolumeStore {
  get(name: string): EmulatedVolume | undefined;
  set(name: string, volume: EmulatedVolume): void;
  values(): Iterable<EmulatedVolume>;
}

/**
 * Where a proxied volume call runs: the targeted node, or the agent's node (the endpoint's own map) when
 * there is no target or no swarm. undefined: the target is not a node of the swarm.
 */
export function volumeStore(
  swarm: EmulatedSwarm | undefined,
  agentVolumes: Map<string, EmulatedVolume>,
  target: string | undefined,
): VolumeStore | undefined {
  if (swarm === undefined || target === undefined || target === swarm.agentNode) return agentVolumes;
  const node = swarm.nodes.find((n) => n.hostname === target);
  if (node === undefined) return undefined;
  return {
    get: (name) => node.volumes[name],
    set: (name, volume) => void (node.volumes[name] = volume),
    values: () => Object.values(node.volumes),
  };
}

// ---- placement constraints (swarmkit manager/constraint) -------------------------------------------------

interface Constraint {
  key: string;
  eq: boolean;
  value: string;
}

function parseConstraint(text: string): Constraint {
  const op = ['==', '!='].find((o) => text.includes(o));
  if (op === undefined) throw new Error('constraint expected one operator from ==, !=');
  const at = text.indexOf(op);
  const key = text.slice(0, at).trim();
  const value = text.slice(at + op.length).trim();
  if (!/^[a-z_][a-z0-9\-_.]+$/i.test(key)) throw new Error(`key '${key}' is invalid`);
  if (!/^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i.test(value)) throw new Error(`value '${value}' is invalid`);
  return { key, eq: op === '==', value };
}

function holds(c: Constraint, n: EmulatedSwarmNode): boolean {
  const key = c.key.toLowerCase();
  let actual: string | undefined;
  if (key === 'node.id') actual = n.ID;
  else if (key === 'node.hostname') actual = n.hostname;
  else if (key === 'node.role') actual = n.role;
  else if (key === 'node.platform.os') actual = 'linux';
  else if (key === 'node.platform.arch') actual = 'x86_64';
  else if (key.startsWith('node.labels.')) actual = n.labels[c.key.slice('node.labels.'.length)] ?? '';
  else if (key.startsWith('engine.labels.'))
    actual = n.engineLabels[c.key.slice('engine.labels.'.length)] ?? '';
  else return false; // swarmkit: a key it does not know matches no node
  return (actual.toLowerCase() === c.value.toLowerCase()) === c.eq;
}

// ---- docker stack deploy ----------------------------------------------------------------------------------

/** `docker stack deploy` of one stack: create/update its services and (re)schedule changed ones. */
export async function deployToSwarm(
  swarm: EmulatedSwarm,
  agentVolumes: Map<string, EmulatedVolume>,
  stack: string,
  file: string,
  env: ReadonlyArray<{ name: string; value: string }>,
  prune: boolean,
): Promise<void> {
  const scanned = await scanCompose(stack, file, Object.fromEntries(env.map((p) => [p.name, p.value])));
  const raw = parse(file) as {
    services?: Record<string, { image?: unknown; deploy?: { placement?: { constraints?: unknown } } }>;
  };
  const wanted = scanned.services.map((s) => {
    const def = raw.services?.[s.name];
    const listed = def?.deploy?.placement?.constraints;
    const constraints = Array.isArray(listed) ? listed.map(String) : [];
    for (const c of constraints) {
      try {
        parseConstraint(c);
      } catch (err) {
        throw new Error(
          `failed to create service ${stack}_${s.name}: Error response from daemon: rpc error: ` +
            `code = InvalidArgument desc = ${(err as Error).message}`,
        );
      }
    }
    const image = typeof def?.image === 'string' ? def.image : '';
    return { scanned: s, image, constraints, hash: `${s.configHash}/${constraints.join('\n')}` };
  });
  const now = new Date().toISOString();
  for (const w of wanted) {
    const name = `${stack}_${w.scanned.name}`;
    let service = swarm.services.find((s) => s.Name === name);
    if (service?.hash === w.hash) continue;
    if (service === undefined) {
      service = { ID: swarmId(), Name: name, stack, image: w.image, constraints: [], hash: '' };
      swarm.services.push(service);
    }
    Object.assign(service, { constraints: w.constraints, hash: w.hash, image: w.image });
    for (const t of swarm.tasks.filter((t) => t.ServiceID === service.ID && t.DesiredState === 'running')) {
      // A task that never ran keeps its state (and its error); a running one is stopped.
      Object.assign(t, {
        DesiredState: 'shutdown',
        Timestamp: now,
        ...(t.State === 'running' ? { State: 'shutdown' } : {}),
      });
    }
    const mounts = w.scanned.volumes.map((key) => scanned.volumes.find((v) => v.key === key)!);
    swarm.tasks.push({
      ID: swarmId(),
      ServiceID: service.ID,
      ...schedule(swarm, agentVolumes, stack, w.constraints, mounts),
      DesiredState: 'running',
      Timestamp: now,
    });
  }
  if (prune) {
    const kept = new Set(wanted.map((w) => `${stack}_${w.scanned.name}`));
    const gone = new Set(
      swarm.services.filter((s) => s.stack === stack && !kept.has(s.Name)).map((s) => s.ID),
    );
    swarm.services = swarm.services.filter((s) => !gone.has(s.ID));
    swarm.tasks = swarm.tasks.filter((t) => !gone.has(t.ServiceID));
  }
}

function schedule(
  swarm: EmulatedSwarm,
  agentVolumes: Map<string, EmulatedVolume>,
  stack: string,
  constraints: readonly string[],
  mounts: ReadonlyArray<{ key: string; name: string; external: boolean }>,
): Pick<EmulatedTask, 'NodeID' | 'State' | 'Err'> {
  const parsed = constraints.map(parseConstraint);
  const ready = swarm.nodes.filter((n) => n.availability === 'active' && n.state === 'ready');
  const node = ready.find((n) => parsed.every((c) => holds(c, n)));
  if (node === undefined) {
    // The scheduler's filter explanations, as `docker service ps` shows them.
    const why: string[] = [];
    const unmatched = ready.length;
    const unavailable = swarm.nodes.length - ready.length;
    if (unmatched > 0) {
      why.push(
        `scheduling constraints not satisfied on ${unmatched === 1 ? '1 node' : `${unmatched} nodes`}`,
      );
    }
    if (unavailable > 0) {
      why.push(`${unavailable === 1 ? '1 node' : `${unavailable} nodes`} not available for new tasks`);
    }
    return { NodeID: '', State: 'pending', Err: `no suitable node (${why.join('; ')})` };
  }
  const volumes = volumeStore(swarm, agentVolumes, node.hostname)!;
  for (const mount of mounts) {
    if (volumes.get(mount.name) !== undefined) continue;
    if (mount.external) {
      return {
        NodeID: node.ID,
        State: 'rejected',
        Err: `invalid mount config for type "volume": create ${mount.name}: volume not found`,
      };
    }
    // A stack's own volume is created on the node that runs the task, as the daemon does.
    volumes.set(mount.name, {
      Name: mount.name,
      Driver: 'local',
      Options: {},
      Labels: { 'com.docker.stack.namespace': stack },
    });
  }
  return { NodeID: node.ID, State: 'running' };
}

// ---- NodeList, ServiceList, TaskList -------------------------------------------------------------------------

/** Docker filters: `{"k":["v"]}` or the older `{"k":{"v":true}}`. undefined: the filter is absent. */
function filterValues(filters: Record<string, unknown>, key: string): string[] | undefined {
  const v = filters[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'object' && v !== null) return Object.keys(v);
  return [String(v)];
}

function labelMatches(labels: Record<string, string>, wanted: readonly string[]): boolean {
  return wanted.every((l) => {
    const at = l.indexOf('=');
    return at < 0 ? l in labels : labels[l.slice(0, at)] === l.slice(at + 1);
  });
}

function nodeJson(swarm: EmulatedSwarm, n: EmulatedSwarmNode) {
  return {
    ID: n.ID,
    Version: { Index: 10 },
    Spec: { Labels: n.labels, Role: n.role, Availability: n.availability },
    Description: {
      Hostname: n.hostname,
      Platform: { Architecture: 'x86_64', OS: 'linux' },
      Engine: { EngineVersion: '27.3.1', Labels: n.engineLabels },
    },
    Status: { State: n.state, Addr: '127.0.0.1' },
    ...(n.role === 'manager'
      ? { ManagerStatus: { Leader: n.hostname === swarm.agentNode, Reachability: 'reachable' } }
      : {}),
  };
}

function serviceJson(s: EmulatedSwarmService) {
  const labels = { 'com.docker.stack.namespace': s.stack, 'com.docker.stack.image': s.image };
  return {
    ID: s.ID,
    Version: { Index: 20 },
    Spec: {
      Name: s.Name,
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: { Image: s.image, Labels: { 'com.docker.stack.namespace': s.stack } },
        Placement: s.constraints.length > 0 ? { Constraints: s.constraints } : {},
      },
      Mode: { Replicated: { Replicas: 1 } },
    },
  };
}

function taskJson(t: EmulatedTask) {
  return {
    ID: t.ID,
    ServiceID: t.ServiceID,
    Slot: 1,
    ...(t.NodeID !== '' ? { NodeID: t.NodeID } : {}),
    DesiredState: t.DesiredState,
    Status: {
      Timestamp: t.Timestamp,
      State: t.State,
      Message:
        t.State === 'running' ? 'started' : t.State === 'pending' ? 'pending task scheduling' : t.State,
      ...(t.Err !== undefined ? { Err: t.Err } : {}),
    },
  };
}

/** GET /nodes, /services, /tasks of a swarm manager; a Docker `{status, json}` answer. */
export function swarmQuery(
  swarm: EmulatedSwarm,
  enginePath: string,
  url: URL,
): { status: number; json: unknown } {
  let filters: Record<string, unknown> = {};
  const raw = url.searchParams.get('filters');
  if (raw !== null) {
    try {
      filters = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return { status: 400, json: { message: 'invalid filter' } };
    }
  }
  if (enginePath === '/nodes') return { status: 200, json: swarm.nodes.map((n) => nodeJson(swarm, n)) };
  if (enginePath === '/services') {
    const labels = filterValues(filters, 'label') ?? [];
    const names = filterValues(filters, 'name');
    const list = swarm.services
      .map(serviceJson)
      .filter(
        (s) =>
          labelMatches(s.Spec.Labels, labels) && (!names || names.some((n) => s.Spec.Name.startsWith(n))),
      );
    return { status: 200, json: list };
  }
  const services = filterValues(filters, 'service');
  const desired = filterValues(filters, 'desired-state');
  if (desired?.some((d) => !['running', 'shutdown', 'accepted'].includes(d))) {
    return { status: 400, json: { message: `Invalid desired-state filter: '${desired.join(',')}'` } };
  }
  const serviceIds = services?.map((s) => swarm.services.find((x) => x.ID === s || x.Name === s)?.ID ?? s);
  const list = swarm.tasks
    .filter((t) => !serviceIds || serviceIds.includes(t.ServiceID))
    .filter((t) => !desired || desired.includes(t.DesiredState))
    .map(taskJson);
  return { status: 200, json: list };
}
