import { join } from 'node:path';
import type { Issuer } from '../../model/inventory.js';
import { readSecret } from '../../model/secret-value.js';
import { DriverError } from '../errors.js';
import { AcmeIssuer } from './acme.js';
import { LazyIssuer } from './lazy.js';
import { bootstrapStepCaRoot, StepCaJwkIssuer } from './step-jwk.js';
import type { IssuerDriver } from './types.js';

const TIMEOUT_MS = 15_000;

/**
 * The issuer a manifest entry names, on a real target: secrets are read when it is first used, and the
 * CA's root is pinned by its fingerprint (Phoenix verifies what it installs against that root). An ACME
 * issuer's root is fetched by that fingerprint from step-ca's /root endpoint: Phoenix's ACME CA is step-ca.
 */
export function issuerFromConfig(cfg: Issuer, name: string, stateDir: string): IssuerDriver {
  const fingerprint = cfg.root_fingerprint;
  if (!fingerprint) {
    return new LazyIssuer(name, () =>
      Promise.reject(
        new DriverError(
          `issuer "${name}" has no root_fingerprint: Phoenix pins the CA's root by it (step certificate fingerprint root_ca.crt)`,
          false,
          'config',
        ),
      ),
    );
  }
  if (cfg.type === 'step-ca-jwk') {
    return new LazyIssuer(
      name,
      async () =>
        new StepCaJwkIssuer({
          name,
          url: cfg.url,
          provisioner: cfg.provisioner,
          password: await readSecret(cfg.password, `issuer ${name} password`),
          rootFingerprint: fingerprint,
          timeoutMs: TIMEOUT_MS,
        }),
    );
  }
  return new LazyIssuer(name, async () => {
    const root = await bootstrapStepCaRoot(new URL(cfg.directory).origin, fingerprint);
    return new AcmeIssuer({
      name,
      directoryUrl: cfg.directory,
      ...(cfg.email ? { email: cfg.email } : {}),
      ...(cfg.eab
        ? { eab: { kid: cfg.eab.kid, hmacKey: await readSecret(cfg.eab.hmac_key, `issuer ${name} eab`) } }
        : {}),
      trustPem: root,
      accountKeyFile: join(stateDir, 'acme-accounts', `${name}.key`),
      rootsPem: () => Promise.resolve(root),
      timeoutMs: TIMEOUT_MS,
    });
  });
}
