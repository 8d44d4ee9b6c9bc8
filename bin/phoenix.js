#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (prepare) or `npm run build`.
import('../dist/src/cli/main.js').then(
  (cli) => cli.main(process.argv),
  (err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write(
        'phoenix: not built yet; run `npm ci` (or `npm run build`) in the checkout first\n',
      );
      process.exit(70);
    }
    throw err;
  },
);
