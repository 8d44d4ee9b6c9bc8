/**
 * The accounts of a fresh Debian guest (base-passwd), for the emulators' `stat -c %U/%G`, `chown NAME` and
 * `pct push --user NAME`: what the real tools resolve through the guest's /etc/passwd and /etc/group.
 * stat prints UNKNOWN for an id without an entry, as GNU stat does.
 */
export const BASE_USERS: Readonly<Record<string, number>> = {
  root: 0,
  daemon: 1,
  'www-data': 33,
  nobody: 65534,
};
export const BASE_GROUPS: Readonly<Record<string, number>> = {
  root: 0,
  daemon: 1,
  'www-data': 33,
  nogroup: 65534,
};

export function accountName(table: Readonly<Record<string, number>>, id: number): string {
  return Object.entries(table).find(([, v]) => v === id)?.[0] ?? 'UNKNOWN';
}

export function accountId(table: Readonly<Record<string, number>>, nameOrId: string): number | undefined {
  return /^\d+$/.test(nameOrId) ? Number(nameOrId) : table[nameOrId];
}
