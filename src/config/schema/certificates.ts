import { z } from 'zod';
import { absPath, duration, fileMode, guestIdRef, ipv4, safeName, secret } from './common.js';

/**
 * certificate-manifest.json. Two shapes are accepted:
 *  - the original: an array of entries with host paths and a shell `post_renewal_command`;
 *  - Phoenix's: an object with issuers, defaults and certificates that declare typed delivery.
 * Both normalise to the same inventory model.
 */

const ownerName = z.union([
  z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
    error: 'must be a user or group name like www-data, or a numeric id',
  }),
  z.number().int().min(0),
]);

export const installFile = z.strictObject({
  path: absPath.meta({ description: 'Path as seen inside the guest (or on the host for guest "host").' }),
  owner: ownerName.optional().meta({ description: 'Owner as seen inside the guest. Default root.' }),
  group: ownerName.optional().meta({ description: 'Group as seen inside the guest. Default root.' }),
  mode: fileMode.optional().meta({ description: 'Octal mode. Default 0600 for keys, 0644 otherwise.' }),
});

export const installTarget = z.strictObject({
  guest: z.union([guestIdRef, z.literal('host')]),
  key: installFile,
  cert: installFile.meta({
    description: 'The leaf certificate followed by the intermediates (what TLS servers serve).',
  }),
  chain: installFile
    .optional()
    .meta({ description: 'The issuing chain up to the root (a CA bundle for clients).' }),
});

export const followUp = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('reload-service'),
    guest: z.union([guestIdRef, z.literal('host')]),
    service: safeName,
  }),
  z.strictObject({ type: z.literal('restart-container'), guest: guestIdRef, container: safeName }),
  z.strictObject({ type: z.literal('none') }),
]);

export const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;

export const certificateEntry = z.strictObject({
  // --- Phoenix fields ---
  name: safeName.optional().meta({ description: 'Stable id of the certificate; defaults to common_name.' }),
  common_name: z.string().min(1).max(64),
  sans: z
    .array(z.string().min(1))
    .optional()
    .meta({ description: 'DNS names (IP addresses here are read as IP SANs).' }),
  ip_sans: z.array(ipv4).optional(),
  usage: z.enum(['server', 'client']).optional(),
  key_type: z.enum(KEY_TYPES).optional(),
  lifetime: duration.optional(),
  renew_window: z.number().gt(0).lt(1).optional().meta({
    description: 'Renew when less than this fraction of the lifetime remains. Default 1/3.',
  }),
  issuer: safeName.optional(),
  install: z.array(installTarget).optional(),
  follow_up: z.union([followUp, z.array(followUp)]).optional(),
  requires: z
    .array(
      z
        .string()
        .regex(/^[a-z-]+\/\S+$/, { error: 'must be a resource id like stack/1001:portainer_service' }),
    )
    .optional(),
  // --- original fields ---
  cert_path: absPath.optional(),
  key_path: absPath.optional(),
  owner: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/, { error: 'must be "user:group"' })
    .optional(),
  permissions: fileMode.optional(),
  post_renewal_command: z.string().optional(),
  guest_id: guestIdRef.optional(),
  guest_type: z.enum(['lxc', 'vm']).optional(),
  include_ca: z.boolean().optional(),
  cert_type: z.enum(['server', 'client']).optional(),
});
export type CertificateEntry = z.infer<typeof certificateEntry>;

const stepCaJwkIssuer = z.strictObject({
  type: z.literal('step-ca-jwk'),
  url: z.url().meta({ description: 'Base URL of step-ca, like https://ca.internal.example:9000' }),
  provisioner: safeName,
  password: secret.meta({ description: 'Provisioner password (decrypts the JWK), by reference.' }),
  root_fingerprint: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, { error: 'must be a SHA-256 fingerprint (64 hex digits)' })
    .optional(),
  guest: guestIdRef.optional().meta({ description: 'The guest that runs the CA; certificates wait for it.' }),
});

const acmeIssuer = z.strictObject({
  type: z.literal('acme'),
  directory: z.url(),
  email: z.email().optional(),
  root_fingerprint: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/)
    .optional(),
  eab: z.strictObject({ kid: z.string().min(1), hmac_key: secret }).optional(),
  challenge: z.enum(['http-01']).optional(),
  guest: guestIdRef.optional(),
});

export const issuer = z.discriminatedUnion('type', [stepCaJwkIssuer, acmeIssuer]);
export type IssuerConfig = z.infer<typeof issuer>;

export const certificateDefaults = z.strictObject({
  issuer: safeName.optional(),
  key_type: z.enum(KEY_TYPES).optional(),
  lifetime: duration.optional(),
  renew_window: z.number().gt(0).lt(1).optional(),
});

export const certificateManifest = z
  .union([
    z.array(certificateEntry),
    z.strictObject({
      $schema: z.string().optional(),
      issuers: z.record(safeName, issuer).optional(),
      defaults: certificateDefaults.optional(),
      certificates: z.array(certificateEntry),
    }),
  ])
  .meta({ title: 'Phoenix certificate manifest', description: 'certificate-manifest.json' });
export type CertificateManifest = z.infer<typeof certificateManifest>;
