import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { boolOption } from './options.js';
import type { EmuState, GuestType } from './state.js';
import { Die, configDigest, hostPath, loadGuest, lockConfig, metaKey } from './state.js';
import { assertAgent } from './qm.js';
import type { ToolOutput } from './tool.js';
import { canonicalJson } from './tool.js';

/**
 * `pvesh get|create|set|delete PATH [--param value ...] --output-format json` for a few API paths, with the
 * parameters and return shapes of the Proxmox VE API description (qemu-server's API2/Qemu/Agent.pm for the
 * agent file calls):
 *
 *   get    /version
 *   get    /nodes/{node}/{lxc|qemu}/{vmid}/status/current   → {vmid, name, status, type}
 *   get    /nodes/{node}/{lxc|qemu}/{vmid}/config           → config + digest
 *   set    /nodes/{node}/{lxc|qemu}/{vmid}/config           --key value ... [--digest D] [--delete a,b] → null
 *   create /nodes/{node}/qemu/{vmid}/agent/file-write       --file --content (max 61440 chars) [--encode] → null
 *   get    /nodes/{node}/qemu/{vmid}/agent/file-read        --file [--decode] → {content, bytes-read}
 *
 * Only `--output-format json` is emulated (anything else is refused, exit 2). A null result prints nothing.
 */

const CONTENT_MAX = 60 * 1024;

export async function pvesh(statePath: string, state: EmuState, args: string[]): Promise<ToolOutput> {
  const [method, path, ...rest] = args;
  if (!method || !['get', 'create', 'set', 'delete', 'ls', 'usage'].includes(method)) {
    throw new Die(`ERROR: unknown command 'pvesh ${method ?? ''}'`);
  }
  if (!path) throw new Die('400 not enough arguments');
  const params: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const k = rest[i]!;
    const v = rest[i + 1];
    if (!k.startsWith('--') || v === undefined) throw new Die(`400 unable to parse option: ${k}`);
    params[k.slice(2)] = v;
  }
  const format = params['output-format'];
  delete params['output-format'];
  if (format !== 'json') throw new Die('pvesh stand-in: only --output-format json is emulated', 2);
  const result = route(statePath, state, method, path.replace(/\/+$/, ''), params);
  return { exitCode: 0, stdout: Buffer.from(result === null ? '' : canonicalJson(result)), stderr: '' };
}

function route(
  statePath: string,
  state: EmuState,
  method: string,
  path: string,
  params: Record<string, string>,
): unknown {
  const noHandler = () => new Die(`No '${method}' handler defined for '${path.replace(/^\//, '')}'`);
  if (path === '/version' && method === 'get')
    return { release: '8.2', repoid: 'emulated', version: '8.2.4' };
  const m = /^\/nodes\/([^/]+)\/(lxc|qemu)\/(\d+)\/(.+)$/.exec(path);
  if (!m) throw noHandler();
  const [, node, kind, vmid, rest] = m as unknown as [string, string, 'lxc' | 'qemu', string, string];
  if (node !== state.node && node !== 'localhost') {
    throw new Die(
      `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`,
    );
  }
  const type: GuestType = kind;
  const guest = loadGuest(state, type, vmid);
  const key = `${method} ${rest}`;
  switch (key) {
    case 'get status/current':
      return {
        name: guest.config.hostname ?? guest.config.name,
        status: guest.status,
        type: kind,
        vmid: Number(vmid),
      };
    case 'get config':
      return { ...guest.config, digest: configDigest(guest.config) };
    case 'set config': {
      lockConfig(state, type, vmid);
      const { digest, delete: del, ...changes } = params;
      if (digest !== undefined && digest !== configDigest(guest.config)) {
        throw new Die('detected modified configuration - file changed by other user? Try again.');
      }
      for (const k of (del ?? '').split(',').filter(Boolean)) delete guest.config[k];
      Object.assign(guest.config, changes);
      return null;
    }
    case 'create agent/file-write': {
      if (type !== 'qemu') throw noHandler();
      const { file, content, encode } = params;
      if (file === undefined || content === undefined) {
        throw new Die(
          `400 Parameter verification failed.\n${file === undefined ? 'file' : 'content'}: property is missing and it is not optional`,
        );
      }
      if (content.length > CONTENT_MAX) {
        throw new Die(
          `400 Parameter verification failed.\ncontent: value may only be ${CONTENT_MAX} characters long`,
        );
      }
      assertAgent(vmid, guest);
      let data: Buffer;
      if (boolOption(encode, true)) data = Buffer.from(content, 'utf8');
      else {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(content)) {
          throw new Die(`Agent error: Guest agent command failed, error was 'Invalid parameter 'buf-b64''`);
        }
        data = Buffer.from(content, 'base64');
      }
      const target = hostPath(statePath, vmid, file);
      if (!existsSync(dirname(target))) throw new Die(`Agent error: can't open file`);
      writeFileSync(target, data); // guest-file-open mode "wb": replaces the file
      state.files[metaKey(vmid, file)] ??= { uid: 0, gid: 0, mode: 0o644 };
      return null;
    }
    case 'get agent/file-read': {
      if (type !== 'qemu') throw noHandler();
      assertAgent(vmid, guest);
      const file = params.file ?? '';
      const src = hostPath(statePath, vmid, file);
      if (!existsSync(src) || statSync(src).isDirectory()) {
        throw new Die(`Agent error: Failed to open file '${file}': No such file or directory`);
      }
      const data = readFileSync(src);
      const decode = boolOption(params.decode, true);
      return {
        'bytes-read': data.length,
        content: decode ? data.toString('latin1') : data.toString('base64'),
      };
    }
    default:
      throw noHandler();
  }
}
