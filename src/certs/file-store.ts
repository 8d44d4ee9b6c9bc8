import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificateStore, StoredCertificate } from './store.js';

/**
 * Phoenix's own copy of each certificate, under `<dir>/<name>/`.
 *
 * The source of truth is `bundle.json` (0600): key, certificate, chain and issuer in one file, replaced
 * atomically, so a crash can never pair a new key with an old certificate. `key.pem` (0600), `cert.pem`,
 * `chain.pem` and `meta.json` (0644) are copies for operators, written after the bundle; `load` never
 * reads them, and the next `save` rewrites them if a crash left them stale.
 */

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const PRIVATE = 0o600;
const PUBLIC = 0o644;
const DIRECTORY = 0o700;

interface Bundle extends StoredCertificate {
  readonly version: 1;
}

export class FileCertificateStore implements CertificateStore {
  constructor(readonly dir: string) {}

  async load(name: string): Promise<StoredCertificate | undefined> {
    const path = join(this.dirFor(name), 'bundle.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const data = JSON.parse(text) as Partial<Bundle>;
    const fields = [data.keyPem, data.certPem, data.chainPem, data.issuer];
    if (data.version !== 1 || fields.some((f) => typeof f !== 'string')) {
      throw new Error(
        `${path}: not a Phoenix certificate bundle (version 1 with keyPem, certPem, chainPem, issuer)`,
      );
    }
    const { keyPem, certPem, chainPem, issuer } = data as Bundle;
    return { keyPem, certPem, chainPem, issuer };
  }

  async save(name: string, cert: StoredCertificate): Promise<void> {
    const dir = this.dirFor(name);
    await mkdir(this.dir, { recursive: true, mode: DIRECTORY });
    await mkdir(dir, { recursive: true, mode: DIRECTORY });
    // mkdir leaves an existing directory as it was; a looser one would expose the key's name and bundle.
    if (((await stat(dir)).mode & 0o777) !== DIRECTORY) await chmod(dir, DIRECTORY);
    const bundle: Bundle = {
      version: 1,
      keyPem: cert.keyPem,
      certPem: cert.certPem,
      chainPem: cert.chainPem,
      issuer: cert.issuer,
    };
    await writeAtomically(join(dir, 'bundle.json'), `${JSON.stringify(bundle, null, 2)}\n`, PRIVATE);
    await syncDirectory(dir);
    // Copies for operators: never read back, so they need no fsync of their own (a crash leaves them stale
    // until the next save rewrites them; the bundle above is already durable).
    await Promise.all([
      writeAtomically(join(dir, 'key.pem'), cert.keyPem, PRIVATE, false),
      writeAtomically(join(dir, 'cert.pem'), cert.certPem, PUBLIC, false),
      writeAtomically(join(dir, 'chain.pem'), cert.chainPem, PUBLIC, false),
      writeAtomically(
        join(dir, 'meta.json'),
        `${JSON.stringify({ issuer: cert.issuer }, null, 2)}\n`,
        PUBLIC,
        false,
      ),
    ]);
  }

  /** Names become directory names: only safe characters, never a path. */
  private dirFor(name: string): string {
    if (!NAME.test(name) || name.includes('..')) {
      throw new Error(
        `invalid certificate name "${name}": use letters, digits, ".", "_" and "-" (starting with a letter or digit, no "..")`,
      );
    }
    return join(this.dir, name);
  }
}

/**
 * Temp file in the same directory, created exclusively with the final mode (so a key is never readable by
 * others, not even for an instant), fsync, rename over the target.
 */
async function writeAtomically(target: string, content: string, mode: number, durable = true): Promise<void> {
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      // The umask may have narrowed the mode further; set it exactly before any content is written.
      await handle.chmod(mode);
      await handle.writeFile(content);
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
