/**
 * Request parameters as the Proxmox API takes them (pure). Writes carry an
 * `application/x-www-form-urlencoded` body, reads a query string; booleans are 1/0 (the API's boolean
 * type), arrays are repeated keys (`command=ls&command=-l`, how the API's `array` parameters such as the
 * guest agent's `command` are sent), undefined values are left out.
 */

export type PveParamValue = string | number | boolean | readonly string[] | undefined;
export type PveParams = Readonly<Record<string, PveParamValue>>;

export function encodeForm(params: PveParams | undefined): string {
  const out = new URLSearchParams();
  if (params === undefined) return '';
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const item of value as readonly string[]) out.append(key, item);
    } else if (typeof value === 'boolean') {
      out.append(key, value ? '1' : '0');
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new TypeError(`parameter ${key} is not a finite number`);
      out.append(key, String(value));
    } else {
      out.append(key, value as string);
    }
  }
  return out.toString();
}

/** One path segment (node name, UPID, disk): percent-encoded, so "/" or "?" in a value cannot change the route. */
export function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}
