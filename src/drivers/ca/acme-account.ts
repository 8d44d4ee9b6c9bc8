import { createPrivateKey, generateKeyPair, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { DriverError } from '../errors.js';

/**
 * The ACME account key: one ECDSA P-256 key per account, in a 0600 PKCS#8 PEM file that is created on first
 * use and reused afterwards (the CA knows the account by this key). The key never appears in a message.
 */

const generate = promisify(generateKeyPair);

export async function loadOrCreateAccountKey(path: string): Promise<string> {
  const existing = await readAccountKey(path);
  if (existing !== undefined) return existing;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const { privateKey } = await generate('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, privateKey, { mode: 0o600, flag: 'wx' });
    // link(), unlike rename(), never replaces a key another process created meanwhile: whoever comes
    // second uses the first one's key, so both talk to the CA as the same account.
    await link(tmp, path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } catch (err) {
    throw new DriverError(
      `cannot create the ACME account key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'write failed'}`,
    );
  } finally {
    await rm(tmp, { force: true });
  }
  const created = await readAccountKey(path);
  if (created === undefined) throw new DriverError(`the ACME account key ${path} vanished after creation`);
  return created;
}

async function readAccountKey(path: string): Promise<string | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DriverError(
      `cannot read the ACME account key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'stat failed'}`,
    );
  }
  if ((mode & 0o077) !== 0) {
    throw new DriverError(
      `refusing the ACME account key ${path}: mode ${(mode & 0o777).toString(8).padStart(4, '0')} lets others read it (chmod 600)`,
      false,
      'config',
    );
  }
  const pem = await readFile(path, 'utf8');
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa') throw new Error('type');
  } catch {
    throw new DriverError(
      `the ACME account key ${path} is not an EC or RSA private key in PEM`,
      false,
      'config',
    );
  }
  return pem;
}
