// Lints a theme (or theme app extension) with Shopify's own theme-check, the one the CLI and the theme editor use.
//
//   node tools/theme-check.mjs [root] [config]
//
// root defaults to extensions/loyalty-theme; config to root/.theme-check.yml (which extends
// theme-check:theme-app-extension). Prints one line per offence and then "N offenses"; exits 1 when there is any,
// whatever its severity, so a warning cannot slip through CI unnoticed.
import path from 'node:path';
import os from 'node:os';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Pinned and offline: theme-check would otherwise fetch Shopify's newest Liquid docs from GitHub into ~/.cache at
// every run, so the verdict could change without a commit. An empty private cache and a docs "download" root that
// does not exist make it use the docs bundled in the version package-lock.json pins.
const scratch = mkdtempSync(path.join(os.tmpdir(), 'theme-check-'));
process.env.XDG_CACHE_HOME = scratch;
process.env.SHOPIFY_TLD_ROOT = path.join(scratch, 'no-download');
const { default: themeCheck } = await import('@shopify/theme-check-node');

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.argv[2] ?? path.join(here, '..', 'extensions', 'loyalty-theme'));
const defaultConfig = path.join(root, '.theme-check.yml');
const config = process.argv[3] ? path.resolve(process.argv[3]) : existsSync(defaultConfig) ? defaultConfig : undefined;

if (!existsSync(root)) {
  console.error(`theme-check: ${root} does not exist`);
  rmSync(scratch, { recursive: true, force: true });
  process.exit(2);
}

const severities = ['error', 'warning', 'info'];
let offenses;
try {
  offenses = await themeCheck.check(root, config);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
offenses.sort((a, b) => a.uri.localeCompare(b.uri) || a.start.index - b.start.index);
for (const o of offenses) {
  const file = path.relative(root, fileURLToPath(o.uri));
  console.log(`${file}:${o.start.line} ${o.check} [${severities[o.severity] ?? o.severity}] ${o.message}`);
}
console.log(`${offenses.length} offenses`);
process.exit(offenses.length === 0 ? 0 : 1);
