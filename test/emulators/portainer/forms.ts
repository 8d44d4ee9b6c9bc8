/**
 * Reading a request body the way Go's `http.Request.FormValue`/`FormFile` do, for the emulator's
 * `POST /api/endpoints`: url-encoded or multipart bodies give fields; anything else (JSON included) gives
 * none. Written independently of the client's encoder so the two cannot share a bug.
 */

export interface ParsedForm {
  readonly kind: 'urlencoded' | 'multipart' | 'none';
  readonly fields: Map<string, string>;
  readonly files: Map<string, { filename: string; content: string }>;
}

export function parseForm(contentType: string | undefined, body: Buffer): ParsedForm {
  const fields = new Map<string, string>();
  const files = new Map<string, { filename: string; content: string }>();
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) if (!fields.has(k)) fields.set(k, v);
    return { kind: 'urlencoded', fields, files };
  }
  if (type === 'multipart/form-data') {
    const match = /boundary=("?)([^";]+)\1/i.exec(contentType ?? '');
    if (!match) return { kind: 'none', fields, files };
    const delimiter = `--${match[2]}`;
    const text = body.toString('utf8');
    for (const raw of text.split(delimiter).slice(1)) {
      if (raw.startsWith('--')) break;
      const part = raw.replace(/^\r\n/, '').replace(/\r\n$/, '');
      const split = part.indexOf('\r\n\r\n');
      if (split < 0) continue;
      const head = part.slice(0, split);
      const content = part.slice(split + 4);
      const name = /name="([^"]*)"/i.exec(head)?.[1];
      const filename = /filename="([^"]*)"/i.exec(head)?.[1];
      if (name === undefined) continue;
      if (filename !== undefined) files.set(name, { filename, content });
      else if (!fields.has(name)) fields.set(name, content);
    }
    return { kind: 'multipart', fields, files };
  }
  return { kind: 'none', fields, files };
}

/** Go's strconv.ParseBool, which Portainer's RetrieveBooleanMultiPartFormValue uses. */
export function goBool(value: string | undefined): boolean {
  return value !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value);
}
