import { LabError, labDown, labReset, labStatus, labUp } from '../../lab/lab.js';
import { sandboxUnsupported } from '../../lab/sandbox.js';
import { EXIT } from '../exit-codes.js';

export type LabAction = 'up' | 'down' | 'status' | 'reset';

export interface LabCommandOptions {
  readonly labDir: string;
  /** Needed by `up`; `status` uses it for names when given. */
  readonly configDir?: string;
  /** `status --json`: the same facts as JSON. */
  readonly json?: boolean;
}

/** `phoenix lab up | down | status | reset`. */
export async function labCommand(action: LabAction, opts: LabCommandOptions): Promise<number> {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  try {
    switch (action) {
      case 'up': {
        const why = sandboxUnsupported();
        if (why) throw new LabError(`the lab cannot run here: ${why}`);
        if (!opts.configDir) throw new LabError('lab up needs a configuration (--config-dir)');
        await labUp(opts.labDir, opts.configDir, print);
        return EXIT.ok;
      }
      case 'down': {
        const { stillAlive } = await labDown(opts.labDir, print);
        return stillAlive.length ? EXIT.failed : EXIT.ok;
      }
      case 'status':
        await labStatus(opts.labDir, opts.configDir, print, { json: opts.json === true });
        return EXIT.ok;
      case 'reset':
        await labReset(opts.labDir, print);
        return EXIT.ok;
    }
  } catch (e) {
    process.stderr.write(`phoenix lab ${action}: ${(e as Error).message}\n`);
    return e instanceof LabError ? EXIT.invalid : EXIT.failed;
  }
}
