import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import type { WorldSpace } from './world.js';

/**
 * What the emulated nginx loads from /etc/nginx/conf.d/*.conf, modelled on the real one (lab-facts.md):
 * every ssl_certificate and ssl_certificate_key file is read when the configuration is loaded (test,
 * start, reload), a missing file or a key that does not belong to its certificate fails the load, and a
 * reload that fails to load leaves the running server on what it served before.
 */

export const NGINX_CONF = '/etc/nginx/nginx.conf';
const CONF_D = /^\/etc\/nginx\/conf\.d\/[^/]+\.conf$/;

export type NginxLoad =
  | { readonly ok: true; readonly served: Record<string, string> }
  | { readonly ok: false; readonly error: string };

export function loadNginx(space: WorldSpace): NginxLoad {
  const served: Record<string, string> = {};
  for (const [path, file] of Object.entries(space.files)) {
    if (!CONF_D.test(path)) continue;
    const text = Buffer.from(file.content, 'base64').toString('utf8');
    for (const block of serverBlocks(text)) {
      const cert = directive(block, 'ssl_certificate');
      const key = directive(block, 'ssl_certificate_key');
      if (!cert || !key) continue;
      const certPem = readText(space, cert);
      const keyPem = readText(space, key);
      if (certPem === undefined) return failed(cannotLoad('certificate', cert));
      if (keyPem === undefined) return failed(cannotLoad('certificate key', key));
      if (!pairMatches(keyPem, certPem))
        return failed(
          `nginx: [emerg] SSL_CTX_use_PrivateKey("${key}") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)`,
        );
      for (const name of (directive(block, 'server_name') ?? '').split(/\s+/).filter(Boolean))
        served[name.toLowerCase()] = certPem;
    }
  }
  return { ok: true, served };
}

function failed(error: string): NginxLoad {
  return { ok: false, error: `${error}\nnginx: configuration file ${NGINX_CONF} test failed\n` };
}

function cannotLoad(what: string, path: string): string {
  return `nginx: [emerg] cannot load ${what} "${path}": BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory)`;
}

/** The top-level `server { ... }` blocks; nginx's grammar is not modelled beyond balanced braces. */
function serverBlocks(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*server\s*\{/gm)) {
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < text.length; i++) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}' && --depth === 0) {
        out.push(text.slice(m.index, i + 1));
        break;
      }
    }
  }
  return out;
}

function directive(block: string, name: string): string | undefined {
  return new RegExp(`^\\s*${name}\\s+([^;]+);`, 'm').exec(block)?.[1]?.trim();
}

function readText(space: WorldSpace, path: string): string | undefined {
  const f = space.files[path];
  return f ? Buffer.from(f.content, 'base64').toString('utf8') : undefined;
}

function pairMatches(keyPem: string, certPem: string): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    return fromKey.equals(fromCert);
  } catch {
    return false;
  }
}
