import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { scanCompose } from '../../../src/drivers/memory/compose-scan.js';
import { isLoopbackV4 } from '../../../src/lab/address.js';
import { makeEmulatorTls } from './cert.js';
import { goBool, parseForm } from './forms.js';
import { NOT_A_MANAGER, deployToSwarm, seedSwarm, swarmQuery, volumeStore } from './swarm.js';
import type { EmulatedSwarm, SwarmNodeSeed } from './swarm.js';

/**
 * PORTAINER CE 2.x EMULATOR (test tree only). Portainer cannot run here; this HTTPS server on 127.0.0.1
 * follows the documented API for exactly the endpoints Phoenix uses, from Portainer CE's swagger annotations
 * and handlers (api/http/handler/{system,users,auth,endpoints,stacks}, api/adminmonitor, pkg/libhttp/error;
 * docs.portainer.io "Add an environment via the Portainer API") and, behind `/api/endpoints/{id}/docker`, the
 * Docker Engine API (VolumeList, VolumeCreate, ContainerList, SwarmInspect):
 *
 *   GET  /api/status, /api/system/status          {Version, InstanceID}                      public
 *   GET  /api/users/admin/check                    204 admin exists | 404 none                public
 *   POST /api/users/admin/init  {Username,Password} 200 | 409 exists | 400 weak password       public
 *   POST /api/auth              {Username,Password} 200 {jwt} | 422 "Invalid credentials"      public
 *   GET  /api/endpoints[?name=]   POST /api/endpoints (form fields, never JSON)   GET /api/endpoints/{id}
 *   GET  /api/stacks?filters={"EndpointID":N}      GET /api/stacks/{id}    GET /api/stacks/{id}/file
 *   POST /api/stacks/create/standalone/string?endpointId=N  {name, stackFileContent, env}
 *   POST /api/stacks/create/swarm/string?endpointId=N       {name, swarmID, stackFileContent, env}
 *   PUT  /api/stacks/{id}?endpointId=N                      {stackFileContent, env, prune, pullImage}
 *   GET  /api/endpoints/{id}/docker/volumes[?filters={"name":[..]}]   POST .../docker/volumes/create
 *   GET  /api/endpoints/{id}/docker/containers/json?all=1&filters={"label":[..]}   GET .../docker/swarm
 *   GET  .../docker/nodes, .../docker/services?filters=.., .../docker/tasks?filters=..  (swarm.ts)
 *
 * Errors have Portainer's shape `{"message": "...", "details": "..."}` (details = capitalised message when
 * the handler passed no error), Docker's proxied errors `{"message": "..."}`. Authentication: JWT
 * (`Authorization: Bearer`, opaque random tokens here — signatures are not emulated) or `X-API-Key`.
 * The admin initialisation window: with no admin `initWindowMs` after start, every /api call but /api/status
 * answers 303 + `redirect-reason: AdminInitTimeout` (adminmonitor.WithRedirect).
 * JSON bodies are decoded like Go's encoding/json: field names match case-insensitively, unknown fields are
 * ignored, a wrong type is 400 "Invalid request payload".
 * A compose deploy is emulated: services come from the file (compose-scan), an external volume must exist on
 * the environment (`external volume "X" not found`), services listed in `failingServices` exit. A failed
 * deploy is not transactional: containers already started stay, and a failed update keeps the new file
 * (Portainer before the rollback of 2.19; set `rollbackFailedUpdates` for the newer behaviour). The compose
 * error text is modelled on compose's output, not copied from one version.
 * Agents are not emulated: an agent URL is "reachable" unless listed in `unreachableAgents`, or, with
 * `probeAgent`, when the probe says so (the lab's process pings a real listener: main.ts).
 * Not emulated either: users other than the admin, teams, resource controls, edge, Kubernetes, git stacks.
 * For a process that outlives one test (main.ts), the state can be loaded and handed to `onChange` after each
 * request that may change it, as Portainer keeps it in /data; the admin's password is then kept as a salted
 * scrypt hash only.
 */

export interface LoggedRequest {
  readonly method: string;
  /** Path and query string (nothing secret goes in a query here). */
  readonly path: string;
  readonly contentType?: string;
  /** Field names of a form or top-level keys of a JSON body — never values. */
  readonly bodyKeys: readonly string[];
  readonly auth: 'none' | 'jwt' | 'api-key';
  status: number;
}

export type Fault =
  | {
      readonly kind: 'status';
      readonly method?: string;
      readonly path: string | RegExp;
      readonly status: number;
      readonly message: string;
      readonly details?: string;
      times?: number;
    }
  | {
      readonly kind: 'slow';
      readonly method?: string;
      readonly path: string | RegExp;
      readonly ms: number;
      times?: number;
    }
  | { readonly kind: 'reset'; readonly method?: string; readonly path: string | RegExp; times?: number };

export interface EmulatedEndpoint {
  Id: number;
  Name: string;
  Type: number;
  URL: string;
  GroupId: number;
  PublicURL: string;
  Status: number;
  TLSConfig: { TLS: boolean; TLSSkipVerify: boolean; TLSCACert?: string };
  /** Swarm ID when the environment's Docker is a swarm manager. */
  swarmId?: string;
  /** Its nodes, services and tasks (swarm.ts); `volumes` are those of the node the agent runs on. */
  swarm?: EmulatedSwarm;
  volumes: Map<string, EmulatedVolume>;
  containers: EmulatedContainer[];
}

export interface EmulatedContainer {
  Id: string;
  name: string;
  project: string;
  service: string;
  state: 'running' | 'exited' | 'created';
}

export interface EmulatedStack {
  Id: number;
  Name: string;
  Type: 1 | 2;
  EndpointId: number;
  SwarmId: string;
  EntryPoint: string;
  Env: Array<{ name: string; value: string }>;
  Status: 1 | 2;
  file: string;
}

export interface PortainerEmulatorOptions {
  /** Default 5 minutes, as adminmonitor.New(5*time.Minute, ...). */
  readonly initWindowMs?: number;
  /** Start with this administrator (an initialised server). */
  readonly admin?: { readonly username: string; readonly password: string };
  /** Serve this certificate (PEM, chain allowed) and key instead of generated ones; `caPem` is the caller's. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string; readonly caPem?: string };
  /** Listen address, 127/8 only (default 127.0.0.1), and port (default: any free one). */
  readonly host?: string;
  readonly port?: number;
  /** Start from this state (a restarted server whose /data kept it). */
  readonly state?: PortainerState;
  /** Gets the state after each request that may have changed it (not GET, not /api/auth); the answer waits. */
  readonly onChange?: (state: PortainerState) => Promise<void>;
  /** Whether an agent answers at `url` (tcp://host:port), asked when an agent environment is created. */
  readonly probeAgent?: (url: string) => Promise<boolean>;
}

/** A salted scrypt hash (node:crypto's parameters written out, so a later reader can verify). */
export interface PasswordHash {
  readonly salt: string;
  readonly hash: string;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export type EmulatedVolume = {
  Name: string;
  Driver: string;
  Options: Record<string, string>;
  Labels: Record<string, string>;
};

/** What a Portainer server keeps in /data, as plain JSON: never a plaintext password. */
export interface PortainerState {
  readonly format: 1;
  readonly instanceId: string;
  readonly admin?: { readonly username: string; readonly passwordHash: PasswordHash };
  readonly endpoints: ReadonlyArray<Omit<EmulatedEndpoint, 'volumes'> & { volumes: EmulatedVolume[] }>;
  readonly stacks: readonly EmulatedStack[];
}

const SCRYPT = { N: 16384, r: 8, p: 1 } as const;

function scryptAsync(password: string, salt: Buffer, h: { N: number; r: number; p: number }) {
  return new Promise<Buffer>((ok, fail) =>
    scrypt(password, salt, 32, { ...h, maxmem: 64 * 1024 * 1024 }, (e, key) => (e ? fail(e) : ok(key))),
  );
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, SCRYPT);
  return { salt: salt.toString('base64'), hash: hash.toString('base64'), ...SCRYPT };
}

async function passwordMatches(stored: PasswordHash, given: string): Promise<boolean> {
  const want = Buffer.from(stored.hash, 'base64');
  const got = await scryptAsync(given, Buffer.from(stored.salt, 'base64'), stored);
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface EndpointSeed {
  readonly name: string;
  readonly url: string;
  readonly type?: number;
  readonly swarmId?: string;
  readonly nodes?: readonly SwarmNodeSeed[];
}

export interface PortainerEmulator {
  readonly url: string;
  /** The root that issued the server's certificate: the client's only trust anchor. */
  readonly caPem: string;
  readonly log: LoggedRequest[];
  readonly faults: Fault[];
  readonly endpoints: EmulatedEndpoint[];
  readonly stacks: EmulatedStack[];
  readonly apiKeys: Set<string>;
  /** `STACK/SERVICE`: the service's containers exit when (re)deployed. */
  readonly failingServices: Set<string>;
  /** Agent URLs that do not answer: creating an environment for one fails as Portainer does (500). */
  readonly unreachableAgents: Set<string>;
  rollbackFailedUpdates: boolean;
  /** The password in clear when given or initialised in a test; a hash only when the state is persisted. */
  admin: { username: string; password?: string; passwordHash?: PasswordHash } | undefined;
  /** Instant (ms since epoch) after which an uninitialised server disables itself. */
  initDeadline: number;
  expireInitWindow(): void;
  /** Invalidates every JWT issued so far (expiry, restart with a new secret): the next call gets 401. */
  revokeTokens(): void;
  /** An environment created out of band (e.g. the local one, or a swarm manager). */
  /** With `swarmId` or `nodes`: a swarm manager (one manager node named after the endpoint by default). */
  addEndpoint(seed: EndpointSeed): EmulatedEndpoint;
  /** `node`: on that swarm node (default: the one the agent runs on). */
  addVolume(
    endpointId: number,
    name: string,
    driver?: string,
    options?: Record<string, string>,
    node?: string,
  ): void;
  /** Stop one service's containers (a crash after deploy). */
  stopService(endpointId: number, project: string, service: string): void;
  /** Requests that changed or could change state (anything but GET; /api/auth excluded). */
  mutations(): LoggedRequest[];
  /** The persistent state (admin hashed), as `onChange` gets it. */
  state(): Promise<PortainerState>;
  close(): Promise<void>;
}

const MAX_BODY = 10 * 1024 * 1024;
const PASSWORD_MIN_LENGTH = 12;

class HttpFail {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly details?: string,
    readonly docker = false,
    readonly headers: Record<string, string> = {},
  ) {}
}

const capitalise = (s: string) => (s === '' ? s : s[0]!.toUpperCase() + s.slice(1));
const portainerError = (status: number, message: string, err?: string) =>
  new HttpFail(status, message, capitalise(err ?? message));
const dockerError = (status: number, message: string) => new HttpFail(status, message, undefined, true);

export async function startPortainerEmulator(
  options: PortainerEmulatorOptions = {},
): Promise<PortainerEmulator> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackV4(host)) throw new Error(`the Portainer emulator listens on 127/8 only, not ${host}`);
  const tls = options.tls
    ? { rootPem: options.tls.caPem ?? '', certPem: options.tls.certPem, keyPem: options.tls.keyPem }
    : await makeEmulatorTls();
  const loaded = options.state;
  const instanceId = loaded?.instanceId ?? randomBytes(16).toString('hex');
  const tokens = new Set<string>();
  let nextEndpoint = 1 + Math.max(0, ...(loaded?.endpoints ?? []).map((e) => e.Id));
  let nextStack = 1 + Math.max(0, ...(loaded?.stacks ?? []).map((st) => st.Id));
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const emu = {
    url: '',
    caPem: tls.rootPem,
    log: [] as LoggedRequest[],
    faults: [] as Fault[],
    endpoints: (loaded?.endpoints ?? []).map((e): EmulatedEndpoint => ({
      ...structuredClone(e),
      volumes: new Map(e.volumes.map((v) => [v.Name, v])),
    })),
    stacks: (loaded?.stacks ?? []).map((st) => structuredClone(st)),
    apiKeys: new Set<string>(),
    failingServices: new Set<string>(),
    unreachableAgents: new Set<string>(),
    rollbackFailedUpdates: false,
    admin: (options.admin
      ? { ...options.admin }
      : loaded?.admin && { ...loaded.admin }) as PortainerEmulator['admin'],
    initDeadline: Date.now() + (options.initWindowMs ?? 5 * 60_000),
    expireInitWindow() {
      emu.initDeadline = Date.now() - 1;
    },
    revokeTokens() {
      tokens.clear();
    },
    addEndpoint(seed: EndpointSeed) {
      const swarmed = seed.swarmId !== undefined || seed.nodes !== undefined;
      const endpoint: EmulatedEndpoint = {
        Id: nextEndpoint++,
        Name: seed.name,
        Type: seed.type ?? 1,
        URL: seed.url,
        GroupId: 1,
        PublicURL: '',
        Status: 1,
        TLSConfig: { TLS: false, TLSSkipVerify: false },
        ...(swarmed
          ? {
              swarmId: seed.swarmId ?? randomBytes(13).toString('hex').slice(0, 25),
              swarm: seedSwarm(seed.nodes ?? [{ hostname: seed.name, role: 'manager' }]),
            }
          : {}),
        volumes: new Map(),
        containers: [],
      };
      emu.endpoints.push(endpoint);
      return endpoint;
    },
    addVolume(
      endpointId: number,
      name: string,
      driver = 'local',
      opts: Record<string, string> = {},
      node?: string,
    ) {
      const endpoint = endpointById(endpointId);
      const store = volumeStore(endpoint.swarm, endpoint.volumes, node);
      if (!store) throw new Error(`no node ${node} in the swarm of endpoint ${endpointId}`);
      store.set(name, { Name: name, Driver: driver, Options: opts, Labels: {} });
    },
    stopService(endpointId: number, project: string, service: string) {
      for (const c of endpointById(endpointId).containers) {
        if (c.project === project && c.service === service) c.state = 'exited';
      }
    },
    mutations() {
      return emu.log.filter((r) => r.method !== 'GET' && !r.path.startsWith('/api/auth'));
    },
    async state(): Promise<PortainerState> {
      const admin = emu.admin;
      if (admin && !admin.passwordHash) admin.passwordHash = await hashPassword(admin.password ?? '');
      return {
        format: 1,
        instanceId,
        ...(admin ? { admin: { username: admin.username, passwordHash: admin.passwordHash! } } : {}),
        endpoints: emu.endpoints.map((e) => ({ ...structuredClone(e), volumes: [...e.volumes.values()] })),
        stacks: structuredClone(emu.stacks),
      };
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };

  function endpointById(id: number): EmulatedEndpoint {
    const found = emu.endpoints.find((e) => e.Id === id);
    if (!found) throw new Error(`no emulated endpoint ${id}`);
    return found;
  }

  // ---- request plumbing -------------------------------------------------------------------------------

  const readBody = (req: IncomingMessage) =>
    new Promise<Buffer>((ok, fail) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) fail(new Error('body too large'));
        else chunks.push(c);
      });
      req.on('end', () => ok(Buffer.concat(chunks)));
      req.on('error', fail);
    });

  const sleep = (ms: number) =>
    new Promise<void>((ok) => {
      const t = setTimeout(() => {
        timers.delete(t);
        ok();
      }, ms);
      timers.add(t);
    });

  function takeFault(method: string, path: string): Fault | undefined {
    const index = emu.faults.findIndex(
      (f) =>
        (f.method === undefined || f.method === method) &&
        (typeof f.path === 'string' ? path === f.path || path.startsWith(`${f.path}?`) : f.path.test(path)),
    );
    if (index < 0) return undefined;
    const fault = emu.faults[index]!;
    const left = (fault.times ?? 1) - 1;
    if (left <= 0) emu.faults.splice(index, 1);
    else fault.times = left;
    return fault;
  }

  /** Go's encoding/json into a struct: case-insensitive field names; a top-level non-object is an error. */
  function decodeJson(body: Buffer): Record<string, unknown> {
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      throw portainerError(400, 'Invalid request payload', 'invalid character in JSON body');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw portainerError(
        400,
        'Invalid request payload',
        'json: cannot unmarshal into Go value of type struct',
      );
    }
    return value as Record<string, unknown>;
  }
  const field = (obj: Record<string, unknown>, name: string): unknown => {
    const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : obj[key];
  };
  const str = (obj: Record<string, unknown>, name: string): string => {
    const v = field(obj, name);
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') {
      throw portainerError(
        400,
        'Invalid request payload',
        `json: cannot unmarshal ${typeof v} into Go struct field .${name} of type string`,
      );
    }
    return v;
  };
  const bool = (obj: Record<string, unknown>, name: string): boolean => {
    const v = field(obj, name);
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') {
      throw portainerError(
        400,
        'Invalid request payload',
        `json: cannot unmarshal ${typeof v} into Go struct field .${name} of type bool`,
      );
    }
    return v;
  };
  const pairs = (obj: Record<string, unknown>, name: string): Array<{ name: string; value: string }> => {
    const v = field(obj, name);
    if (v === undefined || v === null) return [];
    const bad = () =>
      portainerError(
        400,
        'Invalid request payload',
        `json: cannot unmarshal into Go struct field .${name} of type []portainer.Pair`,
      );
    if (!Array.isArray(v)) throw bad();
    return v.map((p: unknown) => {
      if (typeof p !== 'object' || p === null || Array.isArray(p)) throw bad();
      const o = p as Record<string, unknown>;
      return { name: str(o, 'name'), value: str(o, 'value') };
    });
  };

  // ---- authentication -------------------------------------------------------------------------------------

  function authenticate(req: IncomingMessage): 'jwt' | 'api-key' {
    const apiKey = req.headers['x-api-key'];
    const authorization = req.headers.authorization;
    if (typeof apiKey === 'string') {
      if (authorization !== undefined) {
        throw portainerError(401, 'Unauthorized', 'api key and auth header are not allowed at the same time');
      }
      if (!emu.apiKeys.has(apiKey)) throw portainerError(401, 'Unauthorized', 'Invalid API key');
      return 'api-key';
    }
    if (typeof authorization !== 'string' || !authorization.startsWith('Bearer ')) {
      throw portainerError(401, 'A valid authorization token is missing', 'Unauthorized');
    }
    if (!tokens.has(authorization.slice('Bearer '.length)))
      throw portainerError(401, 'Invalid JWT token', 'Unauthorized');
    return 'jwt';
  }

  // ---- the model's deploy -----------------------------------------------------------------------------------

  /** `docker compose up -d`: containers per service; returns the error text when something did not start. */
  async function composeUp(
    endpoint: EmulatedEndpoint,
    stack: { Name: string; Env: Array<{ name: string; value: string }> },
    file: string,
  ) {
    const env = Object.fromEntries(stack.Env.map((p) => [p.name, p.value]));
    let scanned;
    try {
      scanned = await scanCompose(stack.Name, file, env);
    } catch (err) {
      return `failed to deploy a stack: ${(err as Error).message}`;
    }
    const missing = scanned.volumes.find((v) => v.external && !endpoint.volumes.has(v.name));
    if (missing) return `failed to deploy a stack: external volume "${missing.name}" not found`;
    for (const v of scanned.volumes) {
      if (!v.external && !endpoint.volumes.has(v.name)) emu.addVolume(endpoint.Id, v.name);
    }
    // Containers of services no longer in the file are removed (--remove-orphans), the others recreated.
    endpoint.containers = endpoint.containers.filter((c) => c.project !== stack.Name);
    const failed: string[] = [];
    for (const service of scanned.services) {
      const failing = emu.failingServices.has(`${stack.Name}/${service.name}`);
      endpoint.containers.push({
        Id: randomBytes(32).toString('hex'),
        name: service.container,
        project: stack.Name,
        service: service.name,
        state: failing ? 'exited' : 'running',
      });
      if (failing) failed.push(service.container);
    }
    if (failed.length > 0) {
      return `failed to deploy a stack: compose up: container ${failed.join(', ')} exited (1): dependency failed to start`;
    }
    return undefined;
  }

  function stackJson(s: EmulatedStack) {
    return {
      Id: s.Id,
      Name: s.Name,
      Type: s.Type,
      EndpointId: s.EndpointId,
      SwarmId: s.SwarmId,
      EntryPoint: s.EntryPoint,
      Env: s.Env,
      Status: s.Status,
      ProjectPath: `/data/compose/${s.Id}`,
      ResourceControl: null,
      AutoUpdate: null,
      GitConfig: null,
    };
  }
  const endpointJson = (e: EmulatedEndpoint) => ({
    Id: e.Id,
    Name: e.Name,
    Type: e.Type,
    URL: e.URL,
    GroupId: e.GroupId,
    PublicURL: e.PublicURL,
    Status: e.Status,
    TLSConfig: e.TLSConfig,
    TagIds: [],
    Snapshots: [],
  });

  const normalise = (name: string) => name.toLowerCase().replace(/[^-_a-z0-9]+/g, '');

  function endpointFromQuery(url: URL): EmulatedEndpoint {
    const raw = url.searchParams.get('endpointId');
    const id = raw === null ? NaN : Number(raw);
    if (!Number.isInteger(id) || id < 1) {
      throw portainerError(400, 'Invalid query parameter: endpointId', 'Invalid query parameter');
    }
    const endpoint = emu.endpoints.find((e) => e.Id === id);
    if (!endpoint) {
      throw portainerError(
        404,
        'Unable to find an environment with the specified identifier inside the database',
        'Object not found inside the database',
      );
    }
    return endpoint;
  }

  // ---- routes -------------------------------------------------------------------------------------------------

  async function route(req: IncomingMessage, url: URL, body: Buffer, entry: { auth: LoggedRequest['auth'] }) {
    const method = req.method ?? 'GET';
    const path = url.pathname;

    if (method === 'GET' && (path === '/api/status' || path === '/api/system/status')) {
      return { status: 200, json: { Version: '2.21.0', InstanceID: instanceId } };
    }
    if (method === 'GET' && path === '/api/users/admin/check') {
      if (!emu.admin)
        throw portainerError(
          404,
          'No administrator account found inside the database',
          'Object not found inside the database',
        );
      return { status: 204 };
    }
    if (method === 'POST' && path === '/api/users/admin/init') {
      const payload = decodeJson(body);
      const username = str(payload, 'Username');
      const password = str(payload, 'Password');
      if (username === '' || username.includes(' ')) {
        throw portainerError(
          400,
          'Invalid request payload',
          'Invalid username. Must not contain any whitespace',
        );
      }
      if (password === '') throw portainerError(400, 'Invalid request payload', 'Invalid password');
      if (emu.admin)
        throw portainerError(
          409,
          'Unable to create administrator user',
          'An administrator user already exists',
        );
      if (password.length < PASSWORD_MIN_LENGTH)
        throw portainerError(400, 'Password does not meet the requirements');
      // A persisted server never holds the password in clear, not even in memory.
      emu.admin = options.onChange
        ? { username, passwordHash: await hashPassword(password) }
        : { username, password };
      return { status: 200, json: { Id: 1, Username: username, Role: 1 } };
    }
    if (method === 'POST' && path === '/api/auth') {
      const payload = decodeJson(body);
      const username = str(payload, 'Username');
      const password = str(payload, 'Password');
      if (username === '') throw portainerError(400, 'Invalid request payload', 'Invalid username');
      if (password === '') throw portainerError(400, 'Invalid request payload', 'Invalid password');
      const admin = emu.admin;
      const matches =
        admin !== undefined &&
        admin.username === username &&
        (admin.password !== undefined
          ? admin.password === password
          : admin.passwordHash !== undefined && (await passwordMatches(admin.passwordHash, password)));
      if (!matches) throw portainerError(422, 'Invalid credentials', 'Unauthorized');
      const jwt = [randomBytes(12), randomBytes(24), randomBytes(32)]
        .map((b) => b.toString('base64url'))
        .join('.');
      tokens.add(jwt);
      return { status: 200, json: { jwt } };
    }

    entry.auth = authenticate(req);

    // -- environments
    if (path === '/api/endpoints' && method === 'GET') {
      const name = url.searchParams.get('name');
      const list = emu.endpoints.filter((e) => !name || e.Name === name);
      return { status: 200, json: list.map(endpointJson) };
    }
    if (path === '/api/endpoints' && method === 'POST') {
      return createEndpoint(parseForm(req.headers['content-type'], body));
    }
    const endpointMatch = /^\/api\/endpoints\/(\d+)(\/docker(\/.*))?$/.exec(path);
    if (endpointMatch) {
      const endpoint = emu.endpoints.find((e) => e.Id === Number(endpointMatch[1]));
      if (!endpoint) {
        throw portainerError(
          404,
          'Unable to find an environment with the specified identifier inside the database',
          'Object not found inside the database',
        );
      }
      if (endpointMatch[2] === undefined) {
        if (method === 'GET') return { status: 200, json: endpointJson(endpoint) };
      } else {
        const target = req.headers['x-portaineragent-target'];
        return docker(method, endpointMatch[3] ?? '/', url, body, endpoint, [target].flat()[0]);
      }
    }

    // -- stacks
    if (path === '/api/stacks' && method === 'GET') {
      let endpointId: number | undefined;
      const raw = url.searchParams.get('filters');
      if (raw !== null) {
        try {
          const filters = JSON.parse(raw) as Record<string, unknown>;
          endpointId = typeof filters.EndpointID === 'number' ? filters.EndpointID : undefined;
        } catch {
          throw portainerError(400, 'Invalid query parameter: filters', 'invalid character in filters');
        }
      }
      const list = emu.stacks.filter((s) => endpointId === undefined || s.EndpointId === endpointId);
      return { status: 200, json: list.map(stackJson) };
    }
    if (
      method === 'POST' &&
      (path === '/api/stacks/create/standalone/string' || path === '/api/stacks/create/swarm/string')
    ) {
      const endpoint = endpointFromQuery(url);
      return createStack(endpoint, path.includes('/swarm/'), decodeJson(body));
    }
    const stackMatch = /^\/api\/stacks\/(\d+)(\/file)?$/.exec(path);
    if (stackMatch) {
      const stack = emu.stacks.find((s) => s.Id === Number(stackMatch[1]));
      if (!stack) {
        throw portainerError(
          404,
          'Unable to find a stack with the specified identifier inside the database',
          'Object not found inside the database',
        );
      }
      if (method === 'GET' && stackMatch[2]) return { status: 200, json: { StackFileContent: stack.file } };
      if (method === 'GET') return { status: 200, json: stackJson(stack) };
      if (method === 'PUT' && !stackMatch[2]) return updateStack(stack, url, decodeJson(body));
    }
    throw new HttpFail(404, '404 page not found', undefined, true);
  }

  async function createEndpoint(form: ReturnType<typeof parseForm>) {
    const name = form.fields.get('Name') ?? '';
    if (name === '') throw portainerError(400, 'Invalid request payload', 'invalid environment name');
    const creationType = Number(form.fields.get('EndpointCreationType') ?? '0');
    if (!Number.isInteger(creationType) || creationType < 1 || creationType > 5) {
      throw portainerError(
        400,
        'Invalid request payload',
        'invalid environment type value. Value must be one of: 1 (Docker environment), 2 (Agent environment), 3 (Azure environment), 4 (Edge Agent environment) or 5 (Local Kubernetes environment)',
      );
    }
    const useTls = goBool(form.fields.get('TLS'));
    const skipVerify = useTls && goBool(form.fields.get('TLSSkipVerify'));
    const skipClientVerify = useTls && goBool(form.fields.get('TLSSkipClientVerify'));
    if (useTls && !skipVerify && !form.files.has('TLSCACertFile')) {
      throw portainerError(
        400,
        'Invalid request payload',
        'invalid CA certificate file. Ensure that the file is uploaded correctly',
      );
    }
    if (useTls && !skipClientVerify && !form.files.has('TLSCertFile')) {
      throw portainerError(
        400,
        'Invalid request payload',
        'invalid certificate file. Ensure that the file is uploaded correctly',
      );
    }
    if (creationType !== 1 && creationType !== 2) {
      throw portainerError(500, 'Unable to create environment', 'environment type not emulated');
    }
    if (emu.endpoints.some((e) => e.Name === name)) throw portainerError(409, 'Name is not unique');
    const url = form.fields.get('URL') ?? '';
    if (creationType === 2) {
      // The agent speaks TLS only: a plain connection, or an agent that does not answer, fails the ping.
      const answers =
        useTls && !emu.unreachableAgents.has(url) && (!options.probeAgent || (await options.probeAgent(url)));
      if (!answers) {
        throw portainerError(500, 'Unable to get environment type', `failed to ping agent at ${url}`);
      }
    }
    const endpoint = emu.addEndpoint({
      name,
      url: url === '' ? 'unix:///var/run/docker.sock' : url,
      type: creationType === 2 ? 2 : 1,
    });
    endpoint.GroupId = Number(form.fields.get('GroupID') ?? '1') || 1;
    endpoint.TLSConfig = {
      TLS: useTls,
      TLSSkipVerify: skipVerify,
      ...(form.files.has('TLSCACertFile') ? { TLSCACert: `/data/tls/${endpoint.Id}/ca.pem` } : {}),
    };
    return { status: 200, json: endpointJson(endpoint) };
  }

  async function createStack(endpoint: EmulatedEndpoint, swarm: boolean, payload: Record<string, unknown>) {
    const rawName = str(payload, 'Name');
    const file = str(payload, 'StackFileContent');
    const env = pairs(payload, 'Env');
    const swarmId = swarm ? str(payload, 'SwarmID') : '';
    if (rawName === '') throw portainerError(400, 'Invalid request payload', 'Invalid stack name');
    if (swarm && swarmId === '') throw portainerError(400, 'Invalid request payload', 'Invalid Swarm ID');
    if (file === '') throw portainerError(400, 'Invalid request payload', 'Invalid stack file content');
    const name = normalise(rawName);
    if (emu.stacks.some((s) => s.EndpointId === endpoint.Id && s.Name === name)) {
      const msg = `A stack with the normalized name '${name}' already exists`;
      throw portainerError(409, msg, msg);
    }
    if (swarm && endpoint.swarmId !== swarmId) {
      throw portainerError(500, `failed to deploy a stack: swarm ${swarmId} is not the environment's swarm`);
    }
    const stack: EmulatedStack = {
      Id: nextStack++,
      Name: name,
      Type: swarm ? 1 : 2,
      EndpointId: endpoint.Id,
      SwarmId: swarmId,
      EntryPoint: 'docker-compose.yml',
      Env: env,
      Status: 1,
      file,
    };
    if (!swarm) {
      const failure = await composeUp(endpoint, stack, file);
      // The builder deploys before it saves: a failed create leaves containers but no stack record.
      if (failure !== undefined) throw portainerError(500, failure);
    } else await swarmDeploy(endpoint, stack, false);
    nextStack = Math.max(nextStack, stack.Id + 1);
    emu.stacks.push(stack);
    return { status: 200, json: stackJson(stack) };
  }

  async function updateStack(stack: EmulatedStack, url: URL, payload: Record<string, unknown>) {
    const endpoint = endpointFromQuery(url);
    const file = str(payload, 'StackFileContent');
    const env = pairs(payload, 'Env');
    const prune = bool(payload, 'Prune');
    bool(payload, 'PullImage');
    if (file === '') throw portainerError(400, 'Invalid request payload', 'Invalid stack file content');
    const previous = { file: stack.file, env: stack.Env };
    stack.Env = env;
    stack.file = file;
    stack.EndpointId = endpoint.Id;
    if (stack.Type === 2) {
      const failure = await composeUp(endpoint, stack, file);
      if (failure !== undefined) {
        if (emu.rollbackFailedUpdates) {
          stack.file = previous.file;
        }
        // Env stays updated either way: the handler assigns it before deploying.
        throw portainerError(500, failure);
      }
    } else await swarmDeploy(endpoint, stack, prune);
    stack.Status = 1;
    return { status: 200, json: stackJson(stack) };
  }

  /** `docker stack deploy` succeeds whatever the tasks do; only a file Docker refuses fails it. */
  async function swarmDeploy(endpoint: EmulatedEndpoint, stack: EmulatedStack, prune: boolean) {
    if (!endpoint.swarm) throw portainerError(500, 'failed to deploy a stack: ' + NOT_A_MANAGER);
    try {
      await deployToSwarm(endpoint.swarm, endpoint.volumes, stack.Name, stack.file, stack.Env, prune);
    } catch (err) {
      throw portainerError(500, `failed to deploy a stack: ${(err as Error).message}`);
    }
  }

  function docker(
    method: string,
    enginePath: string,
    url: URL,
    body: Buffer,
    endpoint: EmulatedEndpoint,
    target: string | undefined,
  ) {
    // The agent runs a call on the node named by X-PortainerAgent-Target (standalone: ignored).
    const volumes = volumeStore(endpoint.swarm, endpoint.volumes, target);
    if (!volumes) throw dockerError(500, `agent: no node named ${target} in the cluster`);
    if (method === 'GET' && ['/nodes', '/services', '/tasks'].includes(enginePath)) {
      if (!endpoint.swarm) throw dockerError(503, NOT_A_MANAGER);
      return swarmQuery(endpoint.swarm, enginePath, url);
    }
    if (method === 'GET' && enginePath === '/volumes') {
      let names: string[] | undefined;
      const raw = url.searchParams.get('filters');
      if (raw !== null) {
        try {
          const f = JSON.parse(raw) as { name?: unknown };
          names = Array.isArray(f.name) ? f.name.map(String) : undefined;
        } catch {
          throw dockerError(400, 'invalid filter');
        }
      }
      const listed = [...volumes.values()]
        .filter((v) => !names || names.some((n) => v.Name.includes(n))) // Docker's name filter is a substring match
        .map((v) => ({ ...v, Mountpoint: `/var/lib/docker/volumes/${v.Name}/_data`, Scope: 'local' }));
      return { status: 200, json: { Volumes: listed, Warnings: [] } };
    }
    if (method === 'POST' && enginePath === '/volumes/create') {
      let payload: Record<string, unknown>;
      try {
        payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw dockerError(400, 'invalid JSON');
      }
      const name =
        typeof payload.Name === 'string' && payload.Name !== ''
          ? payload.Name
          : randomBytes(32).toString('hex');
      const driver = typeof payload.Driver === 'string' && payload.Driver !== '' ? payload.Driver : 'local';
      const existing = volumes.get(name);
      if (existing) {
        if (existing.Driver !== driver) {
          throw dockerError(
            409,
            `A volume named "${name}" already exists with the "${existing.Driver}" driver. Choose a different volume name.`,
          );
        }
        return { status: 201, json: existing }; // get-or-create: the options given are ignored
      }
      const opts = (payload.DriverOpts ?? {}) as Record<string, string>;
      const labels = (payload.Labels ?? {}) as Record<string, string>;
      volumes.set(name, { Name: name, Driver: driver, Options: { ...opts }, Labels: { ...labels } });
      return { status: 201, json: volumes.get(name) };
    }
    if (method === 'GET' && enginePath === '/containers/json') {
      const all = ['1', 'true', 'True'].includes(url.searchParams.get('all') ?? '');
      let labels: string[] = [];
      const raw = url.searchParams.get('filters');
      if (raw !== null) {
        try {
          const f = JSON.parse(raw) as { label?: unknown };
          labels = Array.isArray(f.label) ? f.label.map(String) : [];
        } catch {
          throw dockerError(400, 'invalid filter');
        }
      }
      const list = endpoint.containers
        .filter((c) => all || c.state === 'running')
        .map((c) => ({
          Id: c.Id,
          Names: [`/${c.name}`],
          State: c.state,
          Status: c.state === 'running' ? 'Up 3 seconds' : 'Exited (1) 2 seconds ago',
          Labels: { 'com.docker.compose.project': c.project, 'com.docker.compose.service': c.service },
        }))
        .filter((c) =>
          labels.every((l) => {
            const [k, v] = l.split('=', 2) as [string, string | undefined];
            const have = (c.Labels as Record<string, string>)[k];
            return v === undefined ? have !== undefined : have === v;
          }),
        );
      return { status: 200, json: list };
    }
    if (method === 'GET' && enginePath === '/swarm') {
      if (!endpoint.swarmId) {
        throw dockerError(503, NOT_A_MANAGER);
      }
      return { status: 200, json: { ID: endpoint.swarmId } };
    }
    throw dockerError(404, `page not found: ${enginePath}`);
  }

  // ---- the server ---------------------------------------------------------------------------------------------

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    const form = parseForm(req.headers['content-type'], body);
    let bodyKeys: string[] = [];
    if (form.kind !== 'none') bodyKeys = [...form.fields.keys(), ...form.files.keys()];
    else if (body.length > 0) {
      try {
        const parsed = JSON.parse(body.toString('utf8')) as unknown;
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) bodyKeys = Object.keys(parsed);
      } catch {
        bodyKeys = [];
      }
    }
    const entry: LoggedRequest = {
      method,
      path: `${url.pathname}${url.search}`,
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      bodyKeys,
      auth: 'none',
      status: 0,
    };
    emu.log.push(entry);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      if (res.destroyed) return;
      if (json === undefined) res.writeHead(status, headers).end();
      else
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(json));
    };
    let persisted = false;
    const persist = async () => {
      if (persisted || !options.onChange || method === 'GET' || url.pathname === '/api/auth') return;
      persisted = true;
      await options.onChange(await emu.state());
    };
    try {
      const fault = takeFault(method, entry.path);
      if (fault?.kind === 'reset') {
        entry.status = -1;
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'slow') await sleep(fault.ms);
      if (fault?.kind === 'status') throw portainerError(fault.status, fault.message, fault.details);
      if (
        !emu.admin &&
        Date.now() > emu.initDeadline &&
        url.pathname.startsWith('/api') &&
        url.pathname !== '/api/status'
      ) {
        throw new HttpFail(
          303,
          'Administrator initialization timeout',
          'Administrator initialization timeout',
          false,
          {
            'redirect-reason': 'AdminInitTimeout',
          },
        );
      }
      const result = await route(req, url, body, entry);
      await persist();
      send(result.status, 'json' in result ? result.json : undefined);
    } catch (err) {
      // A failed request may have changed state as well (a compose deploy is not transactional).
      await persist().catch(() => undefined);
      if (err instanceof HttpFail) {
        send(
          err.status,
          err.docker ? { message: err.message } : { message: err.message, details: err.details },
          err.headers,
        );
      } else {
        send(500, { message: 'emulator failure', details: (err as Error).message });
      }
    }
  };

  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    void handle(req, res);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, host, () => (server.off('error', fail), ok()));
  });
  const address = server.address();
  emu.url = `https://${host}:${typeof address === 'object' && address ? address.port : 0}`;
  return emu;
}
