import { randomBytes } from 'node:crypto';
import { DriverError } from '../../errors.js';
import { CliOutputError } from './errors.js';
import { absPathArg, nodeArg, vmidArg } from './args.js';
import type { Pvesh } from './pvesh.js';
import type { Qm } from './qm.js';

/**
 * Files into and out of VMs through the QEMU guest agent, over the CLI:
 * `pvesh create /nodes/{node}/qemu/{vmid}/agent/file-write --file PATH --content B64 --encode 0` and
 * `pvesh get .../agent/file-read --file PATH --decode 0`.
 *
 * Limits (qemu-server's src/PVE/API2/Qemu/Agent.pm): `content` is at most 60 KiB (61440 characters), and each
 * file-write opens the file with mode "wb", so every call REPLACES the file: consecutive calls cannot append.
 * Content goes base64-encoded by Phoenix (`--encode 0`), since an argv cannot carry arbitrary bytes (NUL);
 * 45 KiB of data is exactly 60 KiB of base64.
 *
 * How chunks are joined: the first chunk is written to PATH; every further chunk is written to one part file
 * next to it (`PATH.phoenix-part-<random>`, replaced each time) and appended to PATH inside the guest with
 * `qm guest exec ID -- dd if=PART of=PATH oflag=append conv=notrunc bs=65536 status=none` (an argv, no shell;
 * dd is in every Linux guest); its exitcode is checked. The part file is removed at the end, also on failure.
 * PATH is therefore incomplete while the write runs: callers write to a temporary name and rename it.
 * Owner and mode are not set by the agent (files belong to the agent's user, normally root): callers chown
 * and chmod through guest exec.
 */

/** Bytes per file-write call: base64 of it is exactly 61440 characters, the API's maxLength for `content`. */
export const AGENT_WRITE_CHUNK_BYTES = 45 * 1024;

export interface AgentFileOptions {
  readonly node: string;
  /** Bytes per call; at most AGENT_WRITE_CHUNK_BYTES (smaller only for tests). */
  readonly chunkBytes?: number;
}

function agentPath(node: string, vmid: number, op: 'file-write' | 'file-read'): string {
  return `/nodes/${nodeArg(node)}/qemu/${vmidArg(vmid)}/agent/${op}`;
}

/** Writes `content` to `path` in the VM in chunks (see above). Returns the number of file-write calls made. */
export async function agentWriteFile(
  pvesh: Pvesh,
  qm: Qm,
  vmid: number,
  path: string,
  content: Uint8Array,
  opts: AgentFileOptions,
): Promise<number> {
  absPathArg(path, 'guest path');
  const chunk = opts.chunkBytes ?? AGENT_WRITE_CHUNK_BYTES;
  if (!Number.isInteger(chunk) || chunk <= 0 || chunk > AGENT_WRITE_CHUNK_BYTES) {
    throw new DriverError(`invalid agent chunk size ${chunk}`);
  }
  const api = agentPath(opts.node, vmid, 'file-write');
  const b64 = (from: number) => Buffer.from(content.subarray(from, from + chunk)).toString('base64');
  await pvesh.create(api, { file: path, content: b64(0), encode: false });
  if (content.byteLength <= chunk) return 1;

  const part = `${path}.phoenix-part-${randomBytes(6).toString('hex')}`;
  let calls = 1;
  try {
    for (let from = chunk; from < content.byteLength; from += chunk) {
      await pvesh.create(api, { file: part, content: b64(from), encode: false });
      calls++;
      await qm.guestExecChecked(vmid, [
        'dd',
        `if=${part}`,
        `of=${path}`,
        'oflag=append',
        'conv=notrunc',
        'bs=65536',
        'status=none',
      ]);
    }
  } finally {
    await qm.guestExecChecked(vmid, ['rm', '-f', '--', part]);
  }
  return calls;
}

/** Reads a whole file from the VM through the agent (at most 16 MiB, the API's limit). */
export async function agentReadFile(
  pvesh: Pvesh,
  vmid: number,
  path: string,
  opts: { node: string },
): Promise<Uint8Array> {
  absPathArg(path, 'guest path');
  const what = `agent file-read ${vmid} ${path}`;
  const r = await pvesh.get(agentPath(opts.node, vmid, 'file-read'), { file: path, decode: false });
  if (typeof r !== 'object' || r === null || typeof (r as { content?: unknown }).content !== 'string') {
    throw new CliOutputError(what, 'no "content" string');
  }
  const o = r as { content: string; truncated?: unknown };
  if (o.truncated === 1 || o.truncated === true)
    throw new CliOutputError(what, 'the file is larger than the read limit');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(o.content)) throw new CliOutputError(what, 'content is not base64');
  return new Uint8Array(Buffer.from(o.content, 'base64'));
}
