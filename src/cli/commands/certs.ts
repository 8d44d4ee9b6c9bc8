import { Option, type Command } from 'commander';

/**
 * The `phoenix certs` group: argument parsing and help only. Each subcommand's module is imported when it
 * runs (this file loads nothing but commander, which the CLI has loaded anyway).
 */

/** What the group needs from the program: the shared option handling of src/cli/main.ts. */
export interface CertsCli {
  /** The global options (config dir, state dir, lab dir, driver) merged with a command's own. */
  engine<T extends object>(
    opts: T,
  ): T & { configDir: string; stateDir?: string; labDir?: string; driver?: 'lab' | 'proxmox' | 'memory' };
  /** Adds --json, -v, --concurrency, --per-node-limit (and --dry-run when mutating). */
  withEngineOptions(cmd: Command, mutating: boolean): Command;
  /** Runs a command and records its exit status. */
  run(fn: () => Promise<number>): () => Promise<void>;
  /** Whether the lab directory was chosen explicitly (--lab-dir or $PHOENIX_LAB_DIR). */
  labDirGiven(): boolean;
}

export function registerCertsCommands(program: Command, cli: CertsCli): void {
  const certs = program
    .command('certs')
    .description(
      'certificates: list them, renew them (the same engine, lock and proof as sync), check they are served, install the renewal timer',
    )
    .addHelpText(
      'after',
      '\nPhoenix keeps its own copy of every certificate in <state-dir>/certs; install targets are written from it.\n' +
        'A certificate is renewed when the renewal policy says so: missing, unreadable, key mismatch, names, key\n' +
        "or issuer changed, inside its renewal window (renew_window: a fraction of its lifetime), or the CA's\n" +
        'renewal information says so.',
    );

  certs
    .command('list')
    .description("every certificate next to Phoenix's stored copy; read-only, no drivers, no lock")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nFor each certificate of the configuration: its DNS names and IPs, issuer, serial, validity and days left,\n' +
        'the date it becomes due for renewal, why it is due now if it is, and where it is installed (guest:path of\n' +
        'key, cert and chain). A certificate not issued yet says so.',
    )
    .action((opts: { json?: boolean }) =>
      cli.run(async () => (await import('./certs-list.js')).certsListCommand(cli.engine(opts)))(),
    );

  cli
    .withEngineOptions(
      certs
        .command('renew')
        .description(
          'renew due certificates (or the named ones with --force), install them, reload, and verify what is served',
        )
        .argument('[names...]', 'certificate names (or cert/<name> ids); default: all')
        .option('--force', 'renew the selected certificates even when they are not due')
        .option(
          '--metrics-file <path>',
          "after the run, write Prometheus metrics to this file (node_exporter's textfile collector); default: none",
        ),
      true,
    )
    .addHelpText(
      'after',
      "\nThis is `phoenix sync` of the certificates' part of the graph: the same engine, lock, journal, output\n" +
        'and proof (a reload is done only once the live endpoint serves the new serial).\n' +
        'What runs: each selected certificate, everything that depends on it (its files, the reloads and restarts\n' +
        'they trigger, the gateway configuration that names them) and whatever that requires. Without --force a\n' +
        'certificate is re-issued only when due, so a second run renews nothing.\n' +
        'Exit status: 0 when everything succeeded and verified, 1 when something failed (or the metrics file\n' +
        'could not be written), 2 for an unknown certificate or a bad configuration (nothing changed), 130 when\n' +
        'interrupted.',
    )
    .action((names: string[], opts: object) =>
      cli.run(async () => (await import('./certs-renew.js')).certsRenewCommand(names, cli.engine(opts)))(),
    );

  certs
    .command('status')
    .description('check every certificate is issued, valid, not overdue and served live; read-only')
    .option('--json', 'print JSON')
    .option('-v, --verbose', 'also show every driver call')
    .addHelpText(
      'after',
      '\nFor every certificate: issued; readable; key matches; not expired; not past its renewal due date; as\n' +
        "configured (names, usage, key type, issuer); and every endpoint that must present it (the gateway's TLS\n" +
        'servers) serves the stored serial. A wrong serial or an endpoint that does not answer is "not served".\n' +
        'Exit status: 0 when every certificate is fine, 3 when at least one needs attention (each problem is\n' +
        'listed), 2 for a bad configuration, 1 when the check itself could not run.',
    )
    .action((opts: object) =>
      cli.run(async () => (await import('./certs-status.js')).certsStatusCommand(cli.engine(opts)))(),
    );

  certs
    .command('install-timer')
    .description('write the systemd service and timer that run `phoenix certs renew` on a schedule')
    .option('--unit-dir <dir>', 'where to write the units', '/etc/systemd/system')
    .option('--on-calendar <spec>', 'when to run (systemd.time calendar event)', 'daily')
    .option('--randomized-delay <span>', 'random delay added to each run (systemd.time time span)', '1h')
    .addOption(
      new Option('--metrics-file <path>', 'where the renewal writes its Prometheus metrics').default(
        '/var/lib/prometheus/node-exporter/phoenix_certs.prom',
      ),
    )
    .option('--no-metrics-file', 'do not write metrics')
    .option('-n, --dry-run', 'print the units; write nothing')
    .addHelpText(
      'after',
      '\nThe service runs this phoenix (node and script by absolute path) with the current --config-dir, --state-dir\n' +
        'and --driver. It never runs systemctl: it prints the command to enable the timer.\n' +
        'The units are written atomically with mode 0644; running it again rewrites them. Every value is\n' +
        'checked: paths must be absolute and free of characters systemd or a shell would interpret.',
    )
    .action(
      (opts: {
        unitDir: string;
        onCalendar: string;
        randomizedDelay: string;
        metricsFile: string | false;
        dryRun?: boolean;
      }) =>
        cli.run(async () =>
          (await import('./certs-timer.js')).certsInstallTimerCommand({
            ...cli.engine(opts),
            labDirGiven: cli.labDirGiven(),
          }),
        )(),
    );
}
