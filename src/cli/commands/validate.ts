import { analyse } from '../../analyse.js';
import { diagnosticJson, formatDiagnostic, plural } from '../diagnostics.js';
import { EXIT } from '../exit-codes.js';
import { styleFor } from '../style.js';

export interface ValidateOptions {
  configDir: string;
  json?: boolean;
  quiet?: boolean;
}

export async function validateCommand(opts: ValidateOptions): Promise<number> {
  const { inventory, graph, diagnostics } = await analyse(opts.configDir);
  const errors = diagnostics.errorCount;
  const warnings = diagnostics.warningCount;
  const summary = {
    configDir: opts.configDir,
    target: inventory?.target ?? null,
    guests: inventory?.guests.size ?? 0,
    certificates: inventory?.certificates.length ?? 0,
    stacks: inventory?.stacks.size ?? 0,
    resources: graph?.nodes.size ?? 0,
  };
  if (opts.json) {
    process.stdout.write(
      JSON.stringify(
        { ok: errors === 0, errors, warnings, summary, diagnostics: diagnostics.items.map(diagnosticJson) },
        null,
        2,
      ) + '\n',
    );
    return errors ? EXIT.invalid : EXIT.ok;
  }
  const err = styleFor(process.stderr);
  for (const d of diagnostics.items) {
    if (opts.quiet && d.severity === 'warning') continue;
    process.stderr.write(formatDiagnostic(d, err) + '\n');
  }
  const out = styleFor(process.stdout);
  const counts = `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
  if (errors) {
    process.stderr.write(`${err.red('invalid')}: ${opts.configDir}: ${counts}\n`);
    return EXIT.invalid;
  }
  process.stdout.write(
    `${out.green('valid')}: ${opts.configDir} (target ${summary.target}): ${plural(summary.guests, 'guest')}, ` +
      `${plural(summary.certificates, 'certificate')}, ${plural(summary.stacks, 'stack')}, ${plural(summary.resources, 'resource')}; ${counts}\n`,
  );
  return EXIT.ok;
}
