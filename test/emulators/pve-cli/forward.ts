import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { Die } from './state.js';
import type { ToolOutput } from './tool.js';
import { canonicalJson } from './tool.js';

/**
 * Forwarding mode of the `pvesh` stand-in: each call goes to the HTTPS API emulator (test/emulators/pve-api),
 * so pvesh and the REST client act on ONE emulated cluster — as the real pvesh calls the same API handlers
 * as pveproxy, in-process. Enabled by PVE_EMU_FORWARD naming a JSON file `{url, tokenId, secret, caPem}`
 * (written 0600 by install.ts; the wrappers set the variable). The token is read from that file only: it is
 * never an argument (argvs show up in `ps` and in the state's log) and never printed.
 *
 * What it prints, following pve-manager PVE/CLI/pvesh.pm and pve-common:
 * - success: the `data` as canonical one-line JSON; nothing for null.
 * - a call that answers a UPID (a task) and is not a GET: the real pvesh runs the worker in the foreground
 *   (RESTEnvironment::fork_worker in the CLI environment) and prints its output before the UPID. Emulated by
 *   polling the task until it stops, printing its log lines, then the UPID.
 * - errors, exit 255 (perl `die`): a 500 is a plain die — the message only; other codes are a
 *   PVE::Exception — "CODE MESSAGE" then "param: message" lines, and for 400 the short usage line
 *   CLIHandler appends; 595 (node offline) is how proxy_handler's SSH to that node fails: "proxy handler
 *   failed: ssh: connect to host NODE port 22: No route to host" (the real text has the node's address);
 *   501 is pvesh's own "No 'get' handler defined for 'PATH'" (exit 1).
 */

export interface ForwardTarget {
  /** https://127.0.0.1:PORT (loopback only). */
  readonly url: string;
  readonly tokenId: string;
  readonly secret: string;
  /** The emulator's CA (pve-root-ca.pem). */
  readonly caPem: string;
}

const METHOD: Record<string, string> = { get: 'GET', create: 'POST', set: 'PUT', delete: 'DELETE' };

interface Answer {
  readonly status: number;
  readonly reason: string;
  readonly body: { data?: unknown; errors?: Record<string, string> };
}

function call(target: ForwardTarget, method: string, path: string, params: URLSearchParams): Promise<Answer> {
  const url = new URL(target.url);
  if (!/^127\.\d+\.\d+\.\d+$/.test(url.hostname))
    throw new Die('pvesh stand-in: forward URL must be loopback', 2);
  const write = method === 'POST' || method === 'PUT';
  const form = params.toString();
  const apiPath = `/api2/json${path
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/')}${!write && form ? `?${form}` : ''}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: Number(url.port),
        method,
        path: apiPath,
        ca: target.caPem,
        headers: {
          authorization: `PVEAPIToken=${target.tokenId}=${target.secret}`,
          ...(write ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: Answer['body'] = {};
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'];
          } catch {
            // a non-JSON body is reported through the status line below
          }
          resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', body });
        });
      },
    );
    // The message names the emulator's address, never the token.
    req.on('error', (e) => reject(new Die(`pvesh stand-in: API emulator ${url.host}: ${e.message}`, 2)));
    req.end(write ? form : undefined);
  });
}

/** Options as pvesh's Getopt takes them: `--key value` or `--key=value`; a repeated key is an array. */
function parseOptions(rest: readonly string[]): URLSearchParams {
  const params = new URLSearchParams();
  for (let i = 0; i < rest.length; i++) {
    const m = /^--?([A-Za-z][A-Za-z0-9_-]*)(?:=(.*))?$/s.exec(rest[i]!);
    if (!m) throw new Die(`400 too many arguments\npvesh <get|set|create|delete> <api_path> [OPTIONS]`);
    const value = m[2] ?? rest[++i];
    if (value === undefined) throw new Die(`400 unable to parse option\nMissing value for option: ${m[1]}`);
    params.append(m[1]!, value);
  }
  return params;
}

export async function forwardPvesh(configPath: string, args: readonly string[]): Promise<ToolOutput> {
  const target = JSON.parse(readFileSync(configPath, 'utf8')) as ForwardTarget;
  const [cmd, rawPath, ...rest] = args;
  const method = METHOD[cmd ?? ''];
  if (!method) throw new Die(`ERROR: unknown command 'pvesh ${cmd ?? ''}'`);
  if (!rawPath) throw new Die('400 not enough arguments');
  const params = parseOptions(rest);
  if (params.get('output-format') !== 'json')
    throw new Die('pvesh stand-in: only --output-format json is emulated', 2);
  params.delete('output-format');
  const path = `/${rawPath.split('/').filter(Boolean).join('/')}`;
  const a = await call(target, method, path, params);
  if (a.status >= 200 && a.status <= 299) {
    const data = a.body.data ?? null;
    let out = '';
    if (method !== 'GET' && typeof data === 'string' && data.startsWith('UPID:'))
      out = await foregroundTask(target, data);
    return { exitCode: 0, stdout: Buffer.from(out + (data === null ? '' : canonicalJson(data))), stderr: '' };
  }
  if (a.status === 595) {
    const node = /^\/nodes\/([^/]+)/.exec(path)?.[1] ?? '?';
    throw new Die(`proxy handler failed: ssh: connect to host ${node} port 22: ${a.reason}`);
  }
  if (a.status === 501) throw new Die(`No '${cmd}' handler defined for '${rawPath}'`, 1);
  if (a.status === 500) throw new Die(a.reason);
  const errors = Object.entries(a.body.errors ?? {}).map(([k, v]) => `${k}: ${v}`);
  const usage = a.status === 400 ? [`pvesh ${cmd} <api_path> [OPTIONS] [FORMAT_OPTIONS]`] : [];
  throw new Die([`${a.status} ${a.reason}`, ...errors, ...usage].join('\n'));
}

/** Waits for the task to stop and returns its log as the foreground worker would have printed it. */
async function foregroundTask(target: ForwardTarget, upid: string): Promise<string> {
  const node = upid.split(':')[1]!;
  const base = `/nodes/${node}/tasks/${upid}`;
  for (let i = 0; ; i++) {
    const st = await call(target, 'GET', `${base}/status`, new URLSearchParams());
    if ((st.body.data as { status?: string } | undefined)?.status === 'stopped') break;
    if (i > 500) throw new Die(`pvesh stand-in: task ${upid} did not stop`, 2);
    await sleep(5);
  }
  const log = await call(target, 'GET', `${base}/log`, new URLSearchParams({ start: '0', limit: '10000' }));
  const lines = Array.isArray(log.body.data) ? (log.body.data as { t?: unknown }[]) : [];
  return lines.map((l) => `${String(l.t ?? '')}\n`).join('');
}
