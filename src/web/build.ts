/**
 * The self-contained page of `wgcam web`: page.html with the model inside (base64) and
 * page.ts bundled by esbuild, together with every engine module it imports and every WGSL
 * kernel file, into one inline script. Its Content Security Policy allows that one script
 * (by hash) and no connection of any kind, so the page cannot send a photo anywhere.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { escapeHtml } from '../util/html.ts';

const WGSL_DIR = new URL('../kernels/wgsl/', import.meta.url);

/** `import sources from 'wgcam:wgsl-sources'`: every kernel file, by name. */
const wgslSources: Plugin = {
  name: 'wgcam-wgsl-sources',
  setup(b) {
    b.onResolve({ filter: /^wgcam:wgsl-sources$/ }, (args) => ({ path: args.path, namespace: 'wgcam' }));
    b.onLoad({ filter: /.*/, namespace: 'wgcam' }, () => {
      const files = readdirSync(WGSL_DIR).filter((f) => f.endsWith('.wgsl'));
      const table = Object.fromEntries(files.map((f) => [f.slice(0, -'.wgsl'.length), readFileSync(new URL(f, WGSL_DIR), 'utf8')]));
      return { contents: `export default ${JSON.stringify(table)};`, loader: 'js' };
    });
  },
};

/** A Node module reached from the page is a bug in the engine's layering, not something to polyfill. */
const noNodeModules: Plugin = {
  name: 'wgcam-no-node-modules',
  setup(b) {
    b.onResolve({ filter: /^(node:|webgpu$|sharp$|esbuild$)/ }, (args) => ({
      errors: [{ text: `${args.importer} imports ${args.path}, which a browser does not have` }],
    }));
  },
};

let script: Promise<string> | null = null;

/** page.ts and everything it imports as one ES module (built once per process). */
export function pageScript(): Promise<string> {
  script ??= build({
    entryPoints: [fileURLToPath(new URL('page.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [wgslSources, noNodeModules],
  }).then((r) => r.outputFiles[0].text);
  return script;
}

export function contentSecurityPolicy(inlineScript: string): string {
  const hash = createHash('sha256').update(inlineScript, 'utf8').digest('base64');
  return [`default-src 'none'`, `script-src 'sha256-${hash}'`, `style-src 'unsafe-inline'`, `connect-src 'none'`, `form-action 'none'`, `base-uri 'none'`].join('; ');
}

/** JSON inside a <script> element: no "<" can end it early. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

/**
 * The whole page for one model file (already validated by the caller); `config` is what an
 * imported model needs besides its bytes (the preprocessing and class names the command was given).
 */
export async function buildPage(modelBytes: Uint8Array, modelName: string, config: object = {}): Promise<{ html: string; csp: string }> {
  const code = await pageScript();
  // An inline script ends at the first "</script": esbuild escapes it in strings; make sure.
  if (/<\/script/i.test(code)) throw new Error('the page script contains "</script" and cannot be inlined');
  const csp = contentSecurityPolicy(code);
  const template = readFileSync(new URL('page.html', import.meta.url), 'utf8');
  const values: Record<string, string> = {
    CSP: csp,
    TITLE: escapeHtml(modelName),
    MODEL_NAME: escapeHtml(modelName),
    CONFIG_JSON: scriptJson(config),
    MODEL_BASE64: Buffer.from(modelBytes.buffer, modelBytes.byteOffset, modelBytes.byteLength).toString('base64'),
    SCRIPT: code,
  };
  // One pass: what is put in is never read again as a placeholder.
  return { html: template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key]), csp };
}
