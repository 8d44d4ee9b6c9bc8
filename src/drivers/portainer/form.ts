import { randomBytes } from 'node:crypto';

/**
 * Request bodies for Portainer's form endpoints (`POST /api/endpoints` reads every field with Go's
 * `r.FormValue`, and files with `r.FormFile`): `application/x-www-form-urlencoded` when there are only
 * text fields, `multipart/form-data` (RFC 7578) when a file part is needed (TLSCACertFile). A JSON body is
 * not a form: Portainer reads no field from it and answers 400 "invalid environment name" — the original
 * implementation's failure.
 */

export interface EncodedBody {
  readonly contentType: string;
  readonly body: Buffer;
}

export interface FormFile {
  readonly filename: string;
  readonly content: string;
}

export type FormFields = ReadonlyArray<readonly [string, string]>;

/** `application/x-www-form-urlencoded` as the WHATWG URL standard serialises it (spaces as '+'). */
export function urlEncodedForm(fields: FormFields): EncodedBody {
  const params = new URLSearchParams();
  for (const [name, value] of fields) params.append(name, value);
  return {
    contentType: 'application/x-www-form-urlencoded',
    body: Buffer.from(params.toString(), 'utf8'),
  };
}

const SAFE_TOKEN = /^[A-Za-z0-9._-]+$/;

/** `multipart/form-data` with text fields first, then file parts; names and filenames are plain tokens. */
export function multipartForm(
  fields: FormFields,
  files: ReadonlyArray<readonly [string, FormFile]>,
  boundary = `phoenix-${randomBytes(12).toString('hex')}`,
): EncodedBody {
  const parts: Buffer[] = [];
  const check = (token: string, what: string) => {
    if (!SAFE_TOKEN.test(token))
      throw new Error(`multipart ${what} ${JSON.stringify(token)} is not a plain token`);
  };
  for (const [name, value] of fields) {
    check(name, 'field name');
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
        'utf8',
      ),
    );
  }
  for (const [name, file] of files) {
    check(name, 'field name');
    check(file.filename, 'file name');
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${file.filename}"\r\n` +
          `Content-Type: application/octet-stream\r\n\r\n${file.content}\r\n`,
        'utf8',
      ),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`, 'utf8'));
  const values = [...fields.map(([, v]) => v), ...files.map(([, f]) => f.content)];
  if (values.some((v) => v.includes(boundary))) throw new Error('multipart boundary occurs inside a part');
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(parts) };
}
