import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceeded, DriverError } from '../../errors.js';
import type { PveApi } from './client.js';
import { AgentCommandFailed, PveProtocolError } from './errors.js';
import { seg } from './form.js';
import { parseAgentExecStatus, parseAgentFileRead, parseAgentPid } from './parse.js';
import type { CallOptions } from './resources.js';

/**
 * The QEMU guest agent through the API (VMs only; LXC exec/push are not in the API).
 *
 * exec: `POST .../agent/exec` (argv as the `command` array — never a shell string) answers a pid; then
 * `GET .../agent/exec-status?pid=` is polled until `exited`. The exit code is always looked at:
 * `agentExec` returns it, `agentExecChecked` throws AgentCommandFailed unless it is 0.
 *
 * file-write: `POST .../agent/file-write` takes `content` of at most 61440 characters and has no append
 * or offset: each call replaces the file. Phoenix sends base64 itself (`encode=0`, so binary content is
 * exact) in chunks of 45 KiB (46080 bytes → exactly 61440 base64 characters). A file of one chunk is one
 * call. A larger file is written as: first chunk to the target path; each further chunk to one temp part
 * file beside it (`<path>.phoenix-part`), appended to the target with `dd if=<part> of=<path>
 * oflag=append conv=notrunc` through agent exec (argv, no shell); then the part is removed and the
 * target's `sha256sum` is compared with the content's. Any failure removes the part and throws; the target
 * may then hold a prefix, so callers write to a staging path and rename (the driver's writeFile contract).
 *
 * file-read: `GET .../agent/file-read?file=&decode=0` gives base64 (exact bytes); while `truncated`, the
 * next piece is read from `offset` (parameters of the API description of PVE 9).
 */

export interface AgentExecResult {
  readonly exitCode: number;
  /** Set when the process was killed by a signal (exitCode is then 128 + signal). */
  readonly signal?: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
}

export interface AgentVm {
  readonly node: string;
  readonly vmid: number;
}

export interface AgentExecOptions extends CallOptions {
  /** Passed as `input-data` (stdin of the command); at most 65536 characters. */
  readonly input?: string;
}

/** Bytes per file-write call: 46080 bytes → 61440 base64 characters, the API's maxLength of `content`. */
export const FILE_WRITE_CHUNK_BYTES = 45 * 1024;
const FILE_WRITE_MAX_CONTENT = 61440;

const agentPath = (vm: AgentVm, leaf: string) => `/nodes/${seg(vm.node)}/qemu/${seg(vm.vmid)}/agent/${leaf}`;

function checkPath(path: string): void {
  if (!path.startsWith('/') || /[\0\n\r]/.test(path))
    throw new TypeError(`invalid guest path ${JSON.stringify(path)}`);
}

export async function agentExec(
  client: PveApi,
  vm: AgentVm,
  argv: readonly string[],
  opts: AgentExecOptions = {},
): Promise<AgentExecResult> {
  if (argv.length === 0 || argv[0] === '') throw new TypeError('agent exec needs a program');
  if (opts.input !== undefined && opts.input.length > 65536)
    throw new TypeError('agent exec input-data is limited to 65536 characters');
  const signalOpt = opts.signal ? { signal: opts.signal } : {};
  // The exec itself is not retried: it may have started the command.
  const pid = parseAgentPid(
    await client.post(
      agentPath(vm, 'exec'),
      { command: argv, 'input-data': opts.input },
      { ...signalOpt, retry: false },
    ),
  );
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  let interval = opts.pollMs ?? 100;
  for (;;) {
    const st = parseAgentExecStatus(await client.get(agentPath(vm, 'exec-status'), { pid }, signalOpt));
    if (st.exited) {
      if (st.exitcode === undefined && st.signal === undefined) {
        throw new PveProtocolError(
          `VM ${vm.vmid}: agent says pid ${pid} exited without an exit code or signal`,
        );
      }
      return {
        exitCode: st.exitcode ?? 128 + st.signal!,
        ...(st.signal !== undefined ? { signal: st.signal } : {}),
        stdout: st.outData,
        stderr: st.errData,
        stdoutTruncated: st.outTruncated,
        stderrTruncated: st.errTruncated,
      };
    }
    const left = deadline - Date.now();
    if (left <= 0)
      throw new DeadlineExceeded(`guest agent command ${argv[0]} (pid ${pid}) in VM ${vm.vmid}`, timeoutMs);
    await sleep(Math.min(interval, left), undefined, opts.signal ? { signal: opts.signal } : undefined);
    interval = Math.min(opts.maxPollMs ?? 1000, Math.ceil(interval * 1.5));
  }
}

/** agentExec, and a non-zero exit code (or a signal) is an AgentCommandFailed error. */
export async function agentExecChecked(
  client: PveApi,
  vm: AgentVm,
  argv: readonly string[],
  opts: AgentExecOptions = {},
): Promise<AgentExecResult> {
  const result = await agentExec(client, vm, argv, opts);
  if (result.exitCode !== 0 || result.signal !== undefined) {
    throw new AgentCommandFailed(vm.vmid, argv, result.exitCode, result.signal, result.stderr);
  }
  return result;
}

async function writeOne(client: PveApi, vm: AgentVm, file: string, bytes: Uint8Array, opts: CallOptions) {
  const content = Buffer.from(bytes).toString('base64');
  if (content.length > FILE_WRITE_MAX_CONTENT) throw new TypeError('file-write chunk too large');
  await client.post(
    agentPath(vm, 'file-write'),
    { file, content, encode: false },
    opts.signal ? { signal: opts.signal } : {},
  );
}

/** Splits content into file-write chunks (pure). An empty file is one empty chunk. */
export function fileWriteChunks(content: Uint8Array, chunkBytes = FILE_WRITE_CHUNK_BYTES): Uint8Array[] {
  if (chunkBytes <= 0 || chunkBytes > FILE_WRITE_CHUNK_BYTES)
    throw new RangeError(`chunk size must be 1..${FILE_WRITE_CHUNK_BYTES}`);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < content.length; at += chunkBytes) chunks.push(content.subarray(at, at + chunkBytes));
  return chunks.length > 0 ? chunks : [new Uint8Array(0)];
}

/** Writes `content` to `path` in the VM (replacing it), chunked as described above; verifies large files by SHA-256. */
export async function agentWriteFile(
  client: PveApi,
  vm: AgentVm,
  path: string,
  content: Uint8Array,
  opts: CallOptions & { readonly chunkBytes?: number } = {},
): Promise<{ readonly calls: number }> {
  checkPath(path);
  const chunks = fileWriteChunks(content, opts.chunkBytes);
  await writeOne(client, vm, path, chunks[0]!, opts);
  if (chunks.length === 1) return { calls: 1 };
  const part = `${path}.phoenix-part`;
  let calls = 1;
  try {
    for (const chunk of chunks.slice(1)) {
      await writeOne(client, vm, part, chunk, opts);
      await agentExecChecked(
        client,
        vm,
        ['dd', `if=${part}`, `of=${path}`, 'bs=65536', 'oflag=append', 'conv=notrunc', 'status=none'],
        opts,
      );
      calls += 2;
    }
  } finally {
    await agentExec(client, vm, ['rm', '-f', '--', part], opts).catch(() => undefined);
  }
  const sum = await agentExecChecked(client, vm, ['sha256sum', '--', path], opts);
  const expected = createHash('sha256').update(content).digest('hex');
  const got = /^\\?([0-9a-f]{64})\s/.exec(sum.stdout)?.[1];
  if (got !== expected) {
    throw new PveProtocolError(
      `VM ${vm.vmid}: ${path} has SHA-256 ${got ?? '(unreadable)'} after writing, expected ${expected}`,
    );
  }
  return { calls: calls + 2 };
}

/** Reads a whole file from the VM (exact bytes), following `truncated` with `offset`. */
export async function agentReadFile(
  client: PveApi,
  vm: AgentVm,
  path: string,
  opts: CallOptions & { readonly maxBytes?: number } = {},
): Promise<Buffer> {
  checkPath(path);
  const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  const pieces: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const piece = parseAgentFileRead(
      await client.get(
        agentPath(vm, 'file-read'),
        { file: path, decode: false, ...(offset > 0 ? { offset } : {}) },
        opts.signal ? { signal: opts.signal } : {},
      ),
    );
    pieces.push(piece.bytes);
    offset += piece.bytes.length;
    if (offset > maxBytes)
      throw new PveProtocolError(`VM ${vm.vmid}: ${path} is larger than ${maxBytes} bytes`);
    if (!piece.truncated) return Buffer.concat(pieces);
    if (piece.bytes.length === 0)
      throw new PveProtocolError(`VM ${vm.vmid}: file-read of ${path} is truncated but returned nothing`);
  }
}

/**
 * Waits until the VM's guest agent answers a ping: after a start the agent comes up with the OS, and
 * every file or exec call before that fails. Bounded by `timeoutMs`; the last error is in the message.
 */
export async function waitForAgent(
  client: PveApi,
  vm: AgentVm,
  opts: { readonly timeoutMs?: number; readonly pollMs?: number; readonly signal?: AbortSignal } = {},
): Promise<void> {
  const until = Date.now() + (opts.timeoutMs ?? 180_000);
  let last = '';
  for (let wait = opts.pollMs ?? 500; ; wait = Math.min(wait * 2, 5_000)) {
    try {
      await client.post(`/nodes/${seg(vm.node)}/qemu/${vm.vmid}/agent/ping`, undefined, { retry: false });
      return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() + wait > until || opts.signal?.aborted)
      throw new DriverError(`the guest agent of VM ${vm.vmid} did not answer in time: ${last}`, true);
    await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : undefined);
  }
}
