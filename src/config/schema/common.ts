import { z } from 'zod';

/** Building blocks shared by every config file schema. Patterns end up in the JSON Schemas too. */

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = `${OCTET}(\\.${OCTET}){3}`;
const PREFIX = '(3[0-2]|[12]?\\d)';

export const IPV4_RE = new RegExp(`^${IPV4}$`);
export const CIDR_RE = new RegExp(`^${IPV4}/${PREFIX}$`);

export const ipv4 = z.string().regex(IPV4_RE, { error: 'must be an IPv4 address like 10.0.0.10' });
export const cidr = z
  .string()
  .regex(CIDR_RE, { error: 'must be an IPv4 address with prefix length, like 10.0.0.10/24' });
export const ipOrCidr = z.string().regex(new RegExp(`^${IPV4}(/${PREFIX})?$`), {
  error: 'must be an IPv4 address or CIDR, like 10.0.0.0/24',
});
/** Proxmox firewall source/dest: one or more addresses or CIDRs, comma separated. */
export const addressList = z.string().regex(new RegExp(`^${IPV4}(/${PREFIX})?(,${IPV4}(/${PREFIX})?)*$`), {
  error: 'must be IPv4 addresses or CIDRs separated by commas, like 10.0.0.12 or 10.0.0.0/24',
});

const PORT = '(6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3})';
export const port = z.number().int().min(1).max(65535);
/** Proxmox firewall port spec: "22", "80,443", "8000:8010". */
export const portSpec = z.string().regex(new RegExp(`^${PORT}(:${PORT})?(,${PORT}(:${PORT})?)*$`), {
  error: 'must be ports 1-65535 separated by commas, ranges as 8000:8010, like "80,443"',
});
/** Docker-style host:container port mapping. */
export const portMapping = z
  .string()
  .regex(new RegExp(`^${PORT}:${PORT}$`), { error: 'must be "hostPort:containerPort" with ports 1-65535' });

export const macAddress = z
  .string()
  .regex(/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/, { error: 'must be a MAC address like 52:54:00:AA:BB:CC' });

/** Names that reach command lines or file names: no whitespace, no shell metacharacters. */
export const SAFE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]*$/;
export const safeName = z.string().regex(SAFE_NAME_RE, {
  error:
    'must start with a letter or digit and contain only letters, digits and . _ @ + - (no spaces or shell characters)',
});

export const DNS_NAME_RE =
  /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
export const dnsName = z
  .string()
  .regex(DNS_NAME_RE, { error: 'must be a DNS name like host.internal.example' });

/** Absolute, normalised, no `..`, no whitespace or shell characters. */
export const ABS_PATH_RE = /^\/(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._@+,:=/-]*$/;
export const absPath = z.string().regex(ABS_PATH_RE, {
  error: 'must be an absolute path without "..", "." segments, spaces or shell characters',
});
/** Relative file path inside the project (scripts, tests): no `..`, no leading slash. */
export const relPath = z.string().regex(/^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._@+,:=/-]+$/, {
  error: 'must be a relative path without ".." or shell characters',
});

/** Proxmox VMIDs are 100..999999999 and shared by containers and VMs. */
export const guestIdNumber = z.number().int().min(100).max(999_999_999);
/** The original files write guest ids sometimes as numbers, sometimes as strings. */
export const guestIdRef = z.union([
  guestIdNumber,
  z.string().regex(/^[1-9]\d{2,8}$/, { error: 'must be a guest id (a number from 100 to 999999999)' }),
]);

/** `file:/abs/path` or `env:NAME`; anything else is a plaintext secret, accepted with a warning. */
export const SECRET_REF_RE = /^(file:\/[^\s]*|env:[A-Za-z_][A-Za-z0-9_]*)$/;
export const secret = z.string().min(1).meta({
  description:
    'A secret by reference: "file:/path/to/file" (read at use, should be mode 0600) or "env:VARIABLE". A plaintext value is accepted with a warning and never printed.',
});

export const fileMode = z.string().regex(/^0?[0-7]{3}$/, { error: 'must be an octal file mode like "0640"' });

/** Durations such as "90d", "720h", "30m", "1h30m". */
export const DURATION_RE = /^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$/;
export const duration = z
  .string()
  .regex(DURATION_RE, { error: 'must be a duration like "90d", "720h" or "1h30m"' })
  .refine((s) => s.length > 0, { error: 'must not be empty' });

export function durationSeconds(s: string): number {
  const m = DURATION_RE.exec(s);
  if (!m) throw new Error(`invalid duration ${s}`);
  const n = (g: string | undefined) => (g ? Number(g.slice(0, -1)) : 0);
  return n(m[1]) * 86400 + n(m[2]) * 3600 + n(m[3]) * 60 + n(m[4]);
}

export const firewallRule = z.strictObject({
  type: z.enum(['in', 'out']),
  action: z.enum(['ACCEPT', 'DROP', 'REJECT']),
  source: addressList.optional(),
  dest: addressList.optional(),
  proto: z.enum(['tcp', 'udp', 'icmp']).optional(),
  port: portSpec.optional(),
  sport: portSpec.optional(),
  comment: z.string().optional(),
  enabled: z.boolean().optional(),
});
export type FirewallRuleConfig = z.infer<typeof firewallRule>;

export const guestFirewall = z.strictObject({
  enabled: z.boolean(),
  rules: z.array(firewallRule).optional(),
});

export const traefikService = z.strictObject({
  name: safeName,
  port,
  scheme: z
    .enum(['http', 'https'])
    .optional()
    .meta({ description: 'Backend scheme; defaults to https for 443/8443/9443, else http.' }),
  hostname: dnsName.optional().meta({ description: 'Routed name; defaults to <name>.<domain_name>.' }),
  health_path: z
    .string()
    .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, { error: 'must be a URL path starting with /' })
    .optional(),
});

export const testEntry = z.strictObject({ name: z.string(), type: z.string(), path: relPath });
export const testSuites = z.record(z.string(), z.array(testEntry));

export const schemaRef = z
  .string()
  .optional()
  .meta({ description: 'URI of the JSON Schema used to validate this document.' });
