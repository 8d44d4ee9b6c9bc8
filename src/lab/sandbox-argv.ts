import type { Credentials } from './sandbox-ids.js';

/**
 * Pure argv builders of a sandbox. Everything runs as an argv (never a shell string): the namespace holder,
 * the mounts inside its mount namespace, commands and services chrooted into the rootfs, and the launcher
 * that hands host-made listening sockets to a service.
 */

/** Absolute paths of the host tools the sandbox runs (found once; see sandbox-proc.ts). */
export interface LabTools {
  readonly unshare: string;
  readonly nsenter: string;
  readonly mount: string;
  readonly chroot: string;
  readonly perl: string;
  readonly cp: string;
  readonly sleep: string;
}

export interface Listen {
  readonly address: string;
  readonly port: number;
}

/** How a host directory appears inside the sandbox. */
export interface BindMount {
  readonly source: string;
  /** Path inside the rootfs, e.g. "usr". */
  readonly target: string;
  /** read-only bind (system trees) or recursive bind (/dev, /proc with their submounts). */
  readonly how: 'ro' | 'rbind';
}

/**
 * The namespace holder: a new user and mount namespace around `sleep infinity`. No `--fork`: unshare then
 * execs sleep in place, so the recorded pid is the holder itself and killing it cannot orphan a child that
 * keeps the namespaces alive.
 */
export function holderArgv(tools: LabTools): string[] {
  return [tools.unshare, '--user', '--mount', '--', tools.sleep, 'infinity'];
}

/**
 * A mount made by host root inside the holder's mount namespace only (no --user: host root keeps its
 * privileges over the child namespace), so the host's own view of the rootfs stays untouched.
 */
export function mountArgv(tools: LabTools, holderPid: number, rootfs: string, m: BindMount): string[] {
  const opts = m.how === 'ro' ? ['--bind', '-o', 'ro'] : ['--rbind'];
  return [
    tools.nsenter,
    '-t',
    String(holderPid),
    '--mount',
    '--',
    tools.mount,
    ...opts,
    m.source,
    `${rootfs}/${m.target}`,
  ];
}

/**
 * A command inside the sandbox: enter its user and mount namespaces as the guest's root (which has
 * CAP_SYS_CHROOT there), chroot into the rootfs, and only then drop to the user — chroot needs the
 * capability, so `nsenter --setuid` before it would fail for anyone but root. The ids are numeric so
 * nothing is resolved through the host's account databases.
 */
export function execArgv(
  tools: LabTools,
  holderPid: number,
  rootfs: string,
  creds: Credentials,
  argv: readonly string[],
): string[] {
  return [
    tools.nsenter,
    '-t',
    String(holderPid),
    '--user',
    '--mount',
    '--',
    tools.chroot,
    `--userspec=${creds.uid}:${creds.gid}`,
    `--groups=${creds.groups.join(',')}`,
    '--',
    rootfs,
    ...argv,
  ];
}

/** The environment a guest process starts with: nothing leaks from the host's environment. */
export function guestEnv(
  creds: Credentials,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: creds.home,
    USER: creds.name,
    LOGNAME: creds.name,
    ...extra,
  };
}

/**
 * Creates and binds each socket as host root (a user namespace cannot bind ports below 1024 in the host's
 * network namespace), clears close-on-exec so they survive the exec chain, announces them in nginx's
 * documented inheritance variable, and execs the argv in place (same pid). Only Perl's core Socket and
 * Fcntl modules, which perl-base ships on every Debian system.
 *
 * Mode "serve" also listens: the sockets of a service. Mode "check" only binds: for `nginx -t`, which
 * binds its listeners even to test a configuration but never accepts, so the socket must not take
 * connections. Both set SO_REUSEPORT (all from the same uid, host root), so a check can bind next to the
 * running service's socket; a foreign listener still makes the bind fail with EADDRINUSE.
 * Arguments: mode, count, then address and port per socket, then the argv to exec.
 */
export const SOCKET_LAUNCHER = `
use strict; use warnings; use Socket; use Fcntl;
my $mode = shift @ARGV; my $n = shift @ARGV; my @socks;
for (1 .. $n) {
  my $addr = shift @ARGV; my $port = shift @ARGV;
  socket(my $s, PF_INET, SOCK_STREAM, 0) or die "lab launcher: socket: $!\\n";
  setsockopt($s, SOL_SOCKET, SO_REUSEADDR, pack('i', 1)) or die "lab launcher: SO_REUSEADDR: $!\\n";
  setsockopt($s, SOL_SOCKET, SO_REUSEPORT, pack('i', 1)) or die "lab launcher: SO_REUSEPORT: $!\\n";
  my $ip = inet_aton($addr) or die "lab launcher: bad address $addr\\n";
  bind($s, pack_sockaddr_in($port, $ip)) or die "lab launcher: bind $addr:$port: $!\\n";
  if ($mode eq 'serve') { listen($s, SOMAXCONN) or die "lab launcher: listen $addr:$port: $!\\n"; }
  my $flags = fcntl($s, F_GETFD, 0) or die "lab launcher: fcntl: $!\\n";
  fcntl($s, F_SETFD, $flags & ~FD_CLOEXEC) or die "lab launcher: fcntl: $!\\n";
  push @socks, $s;
}
$ENV{NGINX} = join('', map { fileno($_) . ';' } @socks);
exec { $ARGV[0] } @ARGV or die "lab launcher: exec $ARGV[0]: $!\\n";
`;

export function launcherArgv(
  tools: LabTools,
  listen: readonly Listen[],
  argv: readonly string[],
  mode: 'serve' | 'check',
): string[] {
  const pairs = listen.flatMap((l) => [l.address, String(l.port)]);
  return [tools.perl, '-e', SOCKET_LAUNCHER, '--', mode, String(listen.length), ...pairs, ...argv];
}
