import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { runAgentCommand } from './agent-commands.js';
import type { ExecHook } from './agent-commands.js';
import { createNodeTls } from './cert.js';
import type { NodeTls } from './cert.js';
import { ClusterModel, configDigest, configFile, label, lockFile } from './model.js';
import type { EmuGuest, GuestType } from './model.js';
import { provisionClone, provisionCreate } from './provision.js';

/**
 * An emulated Proxmox VE REST API for tests — NOT Proxmox. An HTTPS server (node:https) on 127.0.0.1 with a
 * certificate made per run (a cluster root and a node certificate, like pve-root-ca.pem / pve-ssl.pem),
 * over an in-memory cluster model (model.ts).
 *
 * It follows Proxmox's published API description (pve-docs `api-viewer/apidata.js`, PVE 9.1) for these
 * endpoints, below /api2/json:
 *   POST /access/ticket · GET /cluster/resources?type=vm · GET /cluster/nextid[?vmid] · GET /nodes ·
 *   GET /nodes/{node}/tasks/{upid}/status|log ·
 *   POST /nodes/{node}/lxc|qemu (create) · GET|PUT /nodes/{node}/{type}/{vmid}/config (POST for qemu) ·
 *   DELETE /nodes/{node}/{type}/{vmid} · POST .../status/start|stop|shutdown · POST .../clone ·
 *   GET|POST .../snapshot · POST .../template · PUT .../resize ·
 *   POST /nodes/{node}/qemu/{vmid}/agent/exec · GET .../agent/exec-status · POST .../agent/file-write ·
 *   GET .../agent/file-read · POST .../agent/ping · GET /nodes/{node}/storage · GET /nodes/{node}/network[?type]
 * with the API's conventions: `{"data": ...}` answers; form-encoded bodies, query strings for GET/DELETE,
 * booleans as 1/0, arrays as repeated keys; which calls answer a UPID (a task: polled running → stopped
 * with `exitstatus` and a `[{n,t}]` log with `total`) and which are synchronous (PUT config, LXC template);
 * errors as Proxmox sends them — the message in the HTTP status line, body `{"data":null}`, plus
 * `"errors":{param: message}` with 400 "Parameter verification failed."; 401 for a missing/invalid token,
 * ticket or CSRF token (required on every non-GET with a ticket); 595 for a node that is offline; 500 with
 * "can't lock file '...' - got timeout" and "detected modified configuration - file changed by other user?
 * Try again" (digest mismatch). Message texts follow Proxmox's sources where known, but are best effort.
 *
 * Simplified: one shared state for all nodes (any node answers for the cluster); tasks take effect when
 * started and report "running" for `model.taskPolls` polls; no permissions beyond valid authentication;
 * only the config keys given are stored (no defaults filled in) except what Proxmox itself makes of disks
 * and NICs at create and clone (provision.ts); an LXC's raw lxc.* lines are kept apart (`rawLxc`, returned
 * as `lxc: [[key, value]]`, part of the digest) and written by the node stand-in (node-runner.ts), since
 * the API cannot write them; the guest agent runs the few programs of
 * agent-commands.ts (plus a test hook) on a flat in-memory filesystem.
 *
 * Faults: `model.lockTimeouts.set(vmid, n)` (next n writes to the guest fail with the lock error),
 * `model.nodes.get(n)!.status = 'offline'` (595), `model.taskFaults.push({...})` (a task that ends with an
 * error exit status and log lines), `model.nextIdOverride` (a stale/raced /cluster/nextid answer).
 * `requests` logs every request (secrets redacted) so tests can assert that no mutating request was sent.
 */

export interface LoggedRequest {
  readonly method: string;
  /** Path below /api2/json, decoded. */
  readonly path: string;
  readonly params: Readonly<Record<string, string | string[]>>;
  readonly auth: 'token' | 'ticket' | 'none';
  status: number;
}

export interface PveEmulator {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly tls: NodeTls;
  readonly model: ClusterModel;
  readonly requests: LoggedRequest[];
  /** Requests that could change something (anything but GET, and but the login). */
  mutatingRequests(): LoggedRequest[];
  /** token id ("user@realm!name") → secret. */
  readonly tokens: Map<string, string>;
  /** user ("user@realm") → password. */
  readonly users: Map<string, string>;
  /** Extra guest-agent programs for a test. */
  execHook?: ExecHook;
  /** Largest piece one agent file-read returns before `truncated` (default 16 MiB, the API's count limit). */
  fileReadPieceBytes: number;
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}
const paramError = (errors: Record<string, string>) =>
  new ApiError(400, 'Parameter verification failed.', errors);

type Params = URLSearchParams;

const CONFIG_KEY = /^[a-z][a-z0-9_-]*$/;
const CREATE_ONLY = new Set([
  'node',
  'vmid',
  'ostemplate',
  'storage',
  'password',
  'ssh-public-keys',
  'start',
  'pool',
  'force',
  'unique',
  'archive',
  'restore',
]);
const SNAPNAME = /^[A-Za-z][A-Za-z0-9_-]{1,39}$/;

function one(p: Params, name: string, required: true): string;
function one(p: Params, name: string, required?: false): string | undefined;
function one(p: Params, name: string, required = false): string | undefined {
  const v = p.get(name);
  if (v === null) {
    if (required) throw paramError({ [name]: 'property is missing and it is not optional' });
    return undefined;
  }
  return v;
}
function int(p: Params, name: string, required: true, min?: number): number;
function int(p: Params, name: string, required?: false, min?: number): number | undefined;
function int(p: Params, name: string, required = false, min?: number): number | undefined {
  const v = required ? one(p, name, true) : one(p, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw paramError({ [name]: `type check ('integer') failed - got '${v}'` });
  const n = Number(v);
  if (min !== undefined && n < min) throw paramError({ [name]: `value must have a minimum value of ${min}` });
  return n;
}
function bool(p: Params, name: string, dflt: boolean): boolean {
  const v = one(p, name);
  if (v === undefined) return dflt;
  if (!/^(0|1|true|false|yes|no|on|off)$/i.test(v))
    throw paramError({ [name]: `type check ('boolean') failed - got '${v}'` });
  return /^(1|true|yes|on)$/i.test(v);
}
function vmidOf(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 100)
    throw paramError({ vmid: `invalid format - value does not look like a valid VM ID` });
  return Number(text);
}
/** "8G", "512M", "+2G" without the sign; a plain number is bytes. */
const sizeBytes = (text: string): number => {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?$/.exec(text);
  if (!m) throw new Error(`invalid size '${text}'`);
  return Math.round(Number(m[1]) * (m[2] ? 1024 ** ' KMGT'.indexOf(m[2]) : 1));
};
const formatSize = (bytes: number) =>
  bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30}G` : `${Math.ceil(bytes / 2 ** 20)}M`;

export async function startPveEmulator(options: { nodes?: string[] } = {}): Promise<PveEmulator> {
  const tls = await createNodeTls();
  const model = new ClusterModel();
  for (const n of options.nodes ?? ['pve']) model.addNode(n);
  const requests: LoggedRequest[] = [];
  const tokens = new Map<string, string>();
  const users = new Map<string, string>();
  const tickets = new Map<string, { user: string; csrf: string }>();
  const procs = model.agentProcesses;

  const emu = {
    host: '127.0.0.1' as const,
    port: 0,
    tls,
    model,
    requests,
    tokens,
    users,
    fileReadPieceBytes: 16 * 1024 * 1024,
    mutatingRequests: () => requests.filter((r) => r.method !== 'GET' && r.path !== '/access/ticket'),
    close: async () => undefined,
  } as PveEmulator;

  const same = (a: string, b: string) => {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  };

  /** → the authenticated user (token id or user), or throws 401. */
  const authenticate = (
    req: IncomingMessage,
    method: string,
    entry: { auth: LoggedRequest['auth'] },
  ): string => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      entry.auth = 'token';
      const m = /^PVEAPIToken=([^=\s]+@[^=\s!]+![^=\s]+)=(\S+)$/.exec(header);
      const secret = m ? tokens.get(m[1]!) : undefined;
      if (!m || secret === undefined || !same(secret, m[2]!)) throw new ApiError(401, 'invalid token value!');
      return m[1]!;
    }
    const cookie = /(?:^|;\s*)PVEAuthCookie=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (cookie === undefined) throw new ApiError(401, 'No ticket');
    entry.auth = 'ticket';
    const ticket = tickets.get(decodeURIComponent(cookie));
    if (!ticket) throw new ApiError(401, 'invalid PVE ticket');
    if (method !== 'GET') {
      const csrf = req.headers.csrfpreventiontoken;
      if (typeof csrf !== 'string' || !same(csrf, ticket.csrf))
        throw new ApiError(401, 'Permission denied - invalid csrf token');
    }
    return ticket.user;
  };

  const guestAt = (node: string, type: GuestType, vmid: number): EmuGuest => {
    const g = model.guests.get(vmid);
    if (!g || g.node !== node || g.type !== type)
      throw new ApiError(500, `Configuration file '${configFile(node, type, vmid)}' does not exist`);
    return g;
  };
  const lockOrFail = (g: EmuGuest) => {
    if (model.takeLockTimeout(g.vmid))
      throw new ApiError(500, `can't lock file '${lockFile(g.type, g.vmid)}' - got timeout`);
  };
  const digestOf = (g: EmuGuest) => configDigest(g.config, g.rawLxc);
  const configOf = (g: EmuGuest) => ({
    ...g.config,
    ...(g.type === 'lxc' && g.rawLxc.length ? { lxc: g.rawLxc.map(([k, v]) => [k, v]) } : {}),
    digest: digestOf(g),
  });
  const applyConfig = (g: EmuGuest, p: Params) => {
    const digest = one(p, 'digest');
    if (digest !== undefined && digest !== digestOf(g)) {
      throw new ApiError(500, 'detected modified configuration - file changed by other user? Try again');
    }
    const errors: Record<string, string> = {};
    const set: Record<string, string> = {};
    for (const [k, v] of p) {
      if (k === 'digest' || k === 'delete') continue;
      if (!CONFIG_KEY.test(k) || CREATE_ONLY.has(k))
        errors[k] = 'property is not defined in schema and the schema does not allow additional properties';
      else set[k] = v;
    }
    const del = (one(p, 'delete') ?? '').split(/[,;\s]+/).filter(Boolean);
    for (const k of del) if (k in set) errors[k] = 'unable to delete and set the same setting';
    if (Object.keys(errors).length > 0) throw paramError(errors);
    Object.assign(g.config, set);
    for (const k of del) delete g.config[k];
  };
  const isTemplate = (g: EmuGuest) => g.config.template === '1';
  const agentUsable = (g: EmuGuest) => {
    if (g.status !== 'running') throw new ApiError(500, `VM ${g.vmid} is not running`);
    if (!/^(1|enabled=1)/.test(g.config.agent ?? ''))
      throw new ApiError(500, 'No QEMU guest agent configured');
  };

  const route = (method: string, parts: string[], p: Params, user: string): unknown => {
    const [a, b, c, d, e, f, g7] = parts;
    if (a === 'cluster' && b === 'resources' && c === undefined && method === 'GET') {
      const type = one(p, 'type');
      if (type !== undefined && !['vm', 'storage', 'node', 'sdn'].includes(type))
        throw paramError({
          type: `value '${type}' does not have a value in the enumeration 'vm, storage, node, sdn'`,
        });
      const out: unknown[] = [];
      if (type === undefined || type === 'node') {
        for (const n of model.nodes.values())
          out.push({
            id: `node/${n.name}`,
            type: 'node',
            node: n.name,
            status: n.status,
            maxmem: n.maxmem,
            mem: n.mem,
          });
      }
      if (type === undefined || type === 'vm') {
        for (const gst of [...model.guests.values()].sort((x, y) => x.vmid - y.vmid)) {
          const online = model.nodes.get(gst.node)?.status === 'online';
          out.push({
            id: `${gst.type}/${gst.vmid}`,
            type: gst.type,
            vmid: gst.vmid,
            node: gst.node,
            name: gst.config[gst.type === 'lxc' ? 'hostname' : 'name'],
            status: online ? gst.status : 'unknown',
            template: isTemplate(gst) ? 1 : 0,
            maxmem: Number(gst.config.memory ?? 512) * 2 ** 20,
            mem: 0,
          });
        }
      }
      return out;
    }
    if (a === 'cluster' && b === 'nextid' && c === undefined && method === 'GET') {
      const vmid = int(p, 'vmid', false);
      if (vmid !== undefined) {
        if (model.guests.has(vmid)) throw paramError({ vmid: `VM ${vmid} already exists` });
        return String(vmid);
      }
      return String(model.nextIdOverride ?? model.nextFreeVmid());
    }
    if (a === 'nodes' && b === undefined && method === 'GET') {
      return [...model.nodes.values()].map((n) => ({
        node: n.name,
        status: n.status,
        ...(n.status === 'online' ? { maxmem: n.maxmem, mem: n.mem, maxcpu: 8, uptime: 3600 } : {}),
        ssl_fingerprint: tls.fingerprint,
      }));
    }
    if (a !== 'nodes' || b === undefined)
      throw new ApiError(501, `Method '${method} /${parts.join('/')}' not implemented`);
    const node = model.nodes.get(b);
    if (!node)
      throw new ApiError(
        500,
        `hostname lookup '${b}' failed - failed to get address info for: ${b}: Name or service not known`,
      );
    if (node.status !== 'online') throw new ApiError(595, 'No route to host');

    if (c === 'storage' && d === undefined && method === 'GET') {
      return node.storages.map((storage) => ({ storage, type: 'dir', enabled: 1, active: 1, shared: 0 }));
    }
    if (c === 'network' && d === undefined && method === 'GET') {
      const type = one(p, 'type');
      if (type !== undefined && !['bridge', 'any_bridge', 'bond', 'eth', 'vlan'].includes(type))
        throw paramError({ type: `value '${type}' does not have a value in the enumeration` });
      if (type !== undefined && type !== 'bridge' && type !== 'any_bridge') return [];
      return node.bridges.map((iface) => ({ iface, type: 'bridge', active: 1, autostart: 1 }));
    }
    if (c === 'tasks' && d !== undefined && method === 'GET') {
      const task = model.tasks.get(d);
      if (!task || task.node !== b) throw new ApiError(500, `no such task`);
      if (e === 'status') {
        const running = task.pollsLeft > 0;
        if (running) task.pollsLeft -= 1;
        return {
          upid: task.upid,
          node: task.node,
          pid: parseInt(task.upid.split(':')[2]!, 16),
          pstart: parseInt(task.upid.split(':')[3]!, 16),
          starttime: task.starttime,
          type: task.type,
          id: task.id,
          user: task.user,
          status: running ? 'running' : 'stopped',
          ...(running ? {} : { exitstatus: task.exitstatus }),
        };
      }
      if (e === 'log') {
        const start = int(p, 'start', false, 0) ?? 0;
        const limit = int(p, 'limit', false, 0) ?? 50;
        return {
          __total: task.log.length,
          data: task.log.slice(start, start + limit).map((t, i) => ({ n: start + i + 1, t })),
        };
      }
    }

    if ((c === 'lxc' || c === 'qemu') && d === undefined && method === 'POST') {
      const vmid = vmidOf(one(p, 'vmid', true));
      if (c === 'lxc') one(p, 'ostemplate', true);
      if (model.guests.has(vmid)) {
        throw new ApiError(
          500,
          `unable to create ${label(c)} ${vmid} - ${label(c)} ${vmid} already exists on node '${model.guests.get(vmid)!.node}'`,
        );
      }
      const config: Record<string, string> = {};
      for (const [k, v] of p) if (!CREATE_ONLY.has(k)) config[k] = v;
      provisionCreate(model, c, vmid, config);
      return model.startTask(b, c === 'lxc' ? 'vzcreate' : 'qmcreate', String(vmid), user, () => {
        if (model.guests.has(vmid)) throw new Error(`${label(c)} ${vmid} already exists`);
        model.addGuest({ vmid, type: c, node: b, config });
        return [c === 'lxc' ? `extracting archive '${one(p, 'ostemplate')}'` : `creating VM ${vmid}`];
      });
    }

    if ((c === 'lxc' || c === 'qemu') && d !== undefined) {
      const guest = guestAt(b, c, vmidOf(d));
      const L = label(c);
      const short = c === 'lxc' ? 'vz' : 'qm';
      const leaf = [e, f, g7].filter(Boolean).join('/');
      if (leaf === 'config' && method === 'GET') return configOf(guest);
      if (leaf === 'config' && (method === 'PUT' || (method === 'POST' && c === 'qemu'))) {
        lockOrFail(guest);
        applyConfig(guest, p);
        return method === 'PUT' ? null : model.startTask(b, 'qmconfig', d, user, () => undefined);
      }
      if (leaf === '' && method === 'DELETE') {
        lockOrFail(guest);
        return model.startTask(b, `${short}destroy`, d, user, () => {
          if (guest.status === 'running') throw new Error(`${L} ${d} is running - destroy failed`);
          model.guests.delete(guest.vmid);
          return [`destroying ${L} ${d}`];
        });
      }
      if (e === 'status' && method === 'POST' && (f === 'start' || f === 'stop' || f === 'shutdown')) {
        lockOrFail(guest);
        return model.startTask(b, `${short}${f}`, d, user, () => {
          if (f === 'start') {
            if (isTemplate(guest))
              throw new Error(`you can't start a ${c === 'lxc' ? 'CT' : 'vm'} if it's a template`);
            if (guest.status === 'running') throw new Error(`${L} ${d} already running`);
            guest.status = 'running';
          } else {
            if (guest.status !== 'running') throw new Error(`${L} ${d} not running`);
            guest.status = 'stopped';
          }
        });
      }
      if (leaf === 'clone' && method === 'POST') {
        const newid = vmidOf(one(p, 'newid', true));
        const snapname = one(p, 'snapname');
        const target = one(p, 'target') ?? b;
        if (!model.nodes.has(target)) throw paramError({ target: `no such cluster node '${target}'` });
        if (model.guests.has(newid))
          throw new ApiError(
            500,
            `unable to create ${L} ${newid} - ${L} ${newid} already exists on node '${model.guests.get(newid)!.node}'`,
          );
        if (snapname !== undefined && !guest.snapshots.some((s) => s.name === snapname))
          throw new ApiError(500, `snapshot '${snapname}' does not exist`);
        lockOrFail(guest);
        const full = bool(p, 'full', !isTemplate(guest));
        const storage = one(p, 'storage');
        if (storage !== undefined && !full)
          throw paramError({ storage: "parameter 'storage' not allowed for linked clones" });
        return model.startTask(b, `${short}clone`, d, user, () => {
          const name = one(p, c === 'lxc' ? 'hostname' : 'name');
          const config = provisionClone(model, c, guest, newid, {
            full,
            ...(name !== undefined ? { name } : {}),
            ...(storage !== undefined ? { storage } : {}),
          });
          model.addGuest({ vmid: newid, type: c, node: target, config, rawLxc: guest.rawLxc });
          return [
            `create ${bool(p, 'full', !isTemplate(guest)) ? 'full' : 'linked'} clone of ${L} ${d}${snapname ? ` (snapshot ${snapname})` : ''}`,
          ];
        });
      }
      if (leaf === 'snapshot' && method === 'GET') {
        return [
          ...guest.snapshots.map((s) => ({ ...s })),
          {
            name: 'current',
            description: 'You are here!',
            ...(guest.snapshots.length ? { parent: guest.snapshots.at(-1)!.name } : {}),
          },
        ];
      }
      if (leaf === 'snapshot' && method === 'POST') {
        const snapname = one(p, 'snapname', true);
        if (!SNAPNAME.test(snapname))
          throw paramError({ snapname: `invalid format - invalid configuration ID '${snapname}'` });
        lockOrFail(guest);
        return model.startTask(b, `${short}snapshot`, d, user, () => {
          if (guest.snapshots.some((s) => s.name === snapname))
            throw new Error(`snapshot name '${snapname}' already used`);
          const description = one(p, 'description');
          guest.snapshots.push({
            name: snapname,
            snaptime: Math.floor(Date.now() / 1000),
            ...(description !== undefined ? { description } : {}),
            ...(guest.snapshots.length ? { parent: guest.snapshots.at(-1)!.name } : {}),
          });
        });
      }
      if (leaf === 'template' && method === 'POST') {
        lockOrFail(guest);
        const convert = () => {
          if (guest.status === 'running')
            throw new Error(
              `you can't convert a ${c === 'lxc' ? 'CT' : 'VM'} to template if ${c === 'lxc' ? 'CT' : 'VM'} is running`,
            );
          guest.config.template = '1';
        };
        if (c === 'lxc') {
          try {
            convert();
          } catch (err) {
            throw new ApiError(500, (err as Error).message);
          }
          return null;
        }
        return model.startTask(b, 'qmtemplate', d, user, convert);
      }
      if (leaf === 'resize' && method === 'PUT') {
        const disk = one(p, 'disk', true);
        const size = one(p, 'size', true);
        if (!/^\+?\d+(\.\d+)?[KMGT]?$/.test(size))
          throw paramError({ size: `value does not match the regex pattern` });
        const digest = one(p, 'digest');
        if (digest !== undefined && digest !== digestOf(guest))
          throw new ApiError(500, 'detected modified configuration - file changed by other user? Try again');
        lockOrFail(guest);
        return model.startTask(b, 'resize', d, user, () => {
          const spec = guest.config[disk];
          if (spec === undefined) throw new Error(`disk '${disk}' does not exist`);
          const current = sizeBytes(/(?:^|,)size=([^,]+)/.exec(spec)?.[1] ?? '0');
          const wanted = size.startsWith('+') ? current + sizeBytes(size.slice(1)) : sizeBytes(size);
          if (wanted < current) throw new Error('shrinking disks is not supported');
          guest.config[disk] = /(?:^|,)size=/.test(spec)
            ? spec.replace(/size=[^,]+/, `size=${formatSize(wanted)}`)
            : `${spec},size=${formatSize(wanted)}`;
        });
      }
      if (c === 'qemu' && e === 'agent') {
        agentUsable(guest);
        const booting = model.agentBootPings.get(guest.vmid) ?? 0;
        if (booting > 0) {
          model.agentBootPings.set(guest.vmid, booting - 1);
          throw new ApiError(500, 'QEMU guest agent is not running');
        }
        if (f === 'ping' && method === 'POST') return null;
        if (f === 'exec' && method === 'POST') {
          const argv = p.getAll('command');
          if (argv.length === 0) throw paramError({ command: 'property is missing and it is not optional' });
          const input = one(p, 'input-data');
          if (input !== undefined && input.length > 65536)
            throw paramError({ 'input-data': 'value may only be 65536 characters long' });
          const result = emu.execHook?.(guest, argv, input) ?? runAgentCommand(guest, argv, input);
          if (!result)
            throw new ApiError(
              500,
              `Agent error: Failed to execute child process \u201c${argv[0]}\u201d (No such file or directory)`,
            );
          return { pid: model.startAgentProcess(guest.vmid, result) };
        }
        if (f === 'exec-status' && method === 'GET') {
          const pid = int(p, 'pid', true);
          const key = `${guest.vmid}:${pid}`;
          const proc = procs.get(key);
          if (!proc) throw new ApiError(500, `Agent error: Invalid parameter 'pid'`);
          if (proc.pollsLeft > 0) {
            proc.pollsLeft -= 1;
            return { exited: 0 };
          }
          procs.delete(key); // the agent forgets a process once its exit was reported
          return {
            exited: 1,
            ...(proc.exitcode !== undefined ? { exitcode: proc.exitcode } : {}),
            ...(proc.signal !== undefined ? { signal: proc.signal } : {}),
            ...(proc.out ? { 'out-data': proc.out } : {}),
            ...(proc.err ? { 'err-data': proc.err } : {}),
          };
        }
        if (f === 'file-write' && method === 'POST') {
          const file = one(p, 'file', true);
          const content = one(p, 'content', true);
          if (content.length > 61440)
            throw paramError({ content: 'value may only be 61440 characters long' });
          let bytes: Buffer;
          if (bool(p, 'encode', true)) bytes = Buffer.from(content, 'utf8');
          else {
            if (!/^[A-Za-z0-9+/]*={0,2}$/.test(content) || content.length % 4 !== 0) {
              throw new ApiError(
                500,
                "Agent error: Guest agent command failed, error was 'Invalid parameter type for 'buf-b64', expected: base64'",
              );
            }
            bytes = Buffer.from(content, 'base64');
          }
          guest.files.set(file, bytes);
          return null;
        }
        if (f === 'file-read' && method === 'GET') {
          const file = one(p, 'file', true);
          const data = guest.files.get(file);
          if (!data)
            throw new ApiError(500, `Agent error: Failed to open file '${file}': No such file or directory`);
          const offset = int(p, 'offset', false, 0) ?? 0;
          const count = Math.min(int(p, 'count', false, 1) ?? 16 * 1024 * 1024, emu.fileReadPieceBytes);
          const piece = data.subarray(offset, offset + count);
          return {
            content: bool(p, 'decode', true) ? piece.toString('utf8') : piece.toString('base64'),
            ...(offset + piece.length < data.length ? { truncated: 1 } : {}),
          };
        }
      }
    }
    throw new ApiError(501, `Method '${method} /${parts.join('/')}' not implemented`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const body = await new Promise<string>((ok) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
    });
    const write = method === 'POST' || method === 'PUT';
    if (
      write &&
      body !== '' &&
      !/^application\/x-www-form-urlencoded\b/.test(req.headers['content-type'] ?? '')
    ) {
      res
        .writeHead(415, 'Unsupported content type', { 'content-type': 'application/json' })
        .end('{"data":null}');
      return;
    }
    const p = new URLSearchParams(write ? body : url.search);
    const apiPath = url.pathname.startsWith('/api2/json/')
      ? url.pathname.slice('/api2/json'.length)
      : undefined;
    const parts = (apiPath ?? '').split('/').filter(Boolean).map(decodeURIComponent);
    const logged: Record<string, string | string[]> = {};
    for (const k of new Set(p.keys())) {
      const all = p.getAll(k);
      logged[k] = k === 'password' ? '(redacted)' : all.length > 1 ? all : all[0]!;
    }
    const entry: LoggedRequest = {
      method,
      path: `/${parts.join('/')}`,
      params: logged,
      auth: 'none',
      status: 0,
    };
    requests.push(entry);
    const send = (status: number, reason: string, payload: unknown) => {
      entry.status = status;
      // Proxmox's message goes in the status line: one line, latin-1.
      const safeReason = reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
      res
        .writeHead(status, safeReason, { 'content-type': 'application/json;charset=UTF-8' })
        .end(JSON.stringify(payload));
    };
    try {
      if (apiPath === undefined) throw new ApiError(404, 'Not Found');
      if (entry.path === '/access/ticket' && method === 'POST') {
        const username = one(p, 'username', true);
        const password = one(p, 'password', true);
        const known = users.get(username);
        if (known === undefined || !same(known, password)) throw new ApiError(401, 'authentication failure');
        const ticket = `PVE:${username}:${Math.floor(Date.now() / 1000)
          .toString(16)
          .toUpperCase()}::${randomBytes(48).toString('base64')}`;
        const csrf = `${Math.floor(Date.now() / 1000)
          .toString(16)
          .toUpperCase()}:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
        tickets.set(ticket, { user: username, csrf });
        return send(200, 'OK', { data: { username, ticket, CSRFPreventionToken: csrf, cap: {} } });
      }
      const user = authenticate(req, method, entry);
      const data = route(method, parts, p, user);
      if (typeof data === 'object' && data !== null && '__total' in data) {
        const paged = data as { __total: number; data: unknown };
        return send(200, 'OK', { data: paged.data, total: paged.__total });
      }
      return send(200, 'OK', { data: data ?? null });
    } catch (err) {
      if (err instanceof ApiError) {
        return send(
          err.status,
          err.message,
          err.errors ? { data: null, errors: err.errors } : { data: null },
        );
      }
      return send(500, err instanceof Error ? err.message : String(err), { data: null });
    }
  };

  const server = createServer({ cert: `${tls.certPem}`, key: tls.keyPem }, (req, res) => {
    handle(req, res).catch(() => res.writeHead(500, 'emulator failure').end('{"data":null}'));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  return Object.assign(emu, {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  });
}
