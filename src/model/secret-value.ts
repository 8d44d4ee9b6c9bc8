import { readFile, stat } from 'node:fs/promises';

/**
 * The value of a secret reference, read at use and never kept longer than the caller needs: `file:/path`
 * (first line, trailing newline dropped; a file readable by others is refused) or `env:NAME`. A plaintext
 * value (accepted by validation with a warning) is returned as it is. Errors name the reference, never the value.
 */
export async function readSecret(value: string, what: string): Promise<string> {
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    const got = process.env[name];
    if (!got) throw new Error(`${what}: environment variable ${name} is not set`);
    return got;
  }
  if (!value.startsWith('file:')) return value;
  const path = value.slice(5);
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch (e) {
    throw new Error(`${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (mode & 0o077) throw new Error(`${what}: ${path} is mode ${mode.toString(8)}; secrets must be 0600`);
  const text = (await readFile(path, 'utf8')).split('\n')[0]!.trimEnd();
  if (!text) throw new Error(`${what}: ${path} is empty`);
  return text;
}
