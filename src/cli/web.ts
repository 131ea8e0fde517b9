/** wgcam web MODEL [--port N | --out DIR]: a wgcam model or an ONNX classifier explaining photos in a web page (src/web/). */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { refuseToReplace, whyNotAFolder } from '../io/input-path.ts';
import { isOnnxPath } from '../eval/open-classifier.ts';
import { loadImportedModel } from '../graph/imported-files.ts';
import { describePreprocessing } from '../graph/imported-model.ts';
import { loadModelFile } from '../io/model-file.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';
import { catchStops, STOP_EXIT_CODE, stopWords, type StopReason } from '../util/stop.ts';
import { printable } from '../util/terminal.ts';
import { buildPage } from '../web/build.ts';
import { int, parse, run, UsageError } from './main.ts';
import { PREPROCESS_HELP, PREPROCESS_OPTIONS, preprocessOptions } from './preprocess-options.ts';

const HELP = `
Usage: wgcam web MODEL [options]      (or: npm run web -- ...)

Serves a page that explains photos with MODEL in your browser: a wgcam model (model.bin) or an
ONNX classifier (MODEL.onnx). Drop photos on it to see the predicted class and the map, with the
method, layer and class picked on the page (cam, gradcam, gradcam++, xgradcam, layercam,
hirescam, scorecam). The page runs wgcam's own kernels on the browser's WebGPU, or on its CPU
where there is none, and sends nothing anywhere: photos stay in the browser. Other models
(.bin, .onnx) can be dropped on the page too.

Options:
  --port N             the port (default 8080; 0 picks a free one)
  --host ADDRESS       the address to listen on (default 127.0.0.1: this machine only)
  --out DIR            write the page to DIR/index.html instead (the model inside); open it from disk
  --overwrite          with --out: replace DIR/index.html
  -h, --help           this help

${PREPROCESS_HELP}
`;

/** The page carries the model as base64: a larger model makes a page no browser opens well. */
const MAX_MODEL_BYTES = 256 * 2 ** 20;

run(async () => {
  const { values: v, positionals } = parse(
    process.argv.slice(2),
    { port: { type: 'string' }, host: { type: 'string' }, out: { type: 'string' }, overwrite: { type: 'boolean' }, ...PREPROCESS_OPTIONS },
    HELP,
  );
  const [modelPath, ...extra] = positionals;
  if (!modelPath || extra.length) throw new UsageError('usage: wgcam web MODEL [--port N | --out DIR] (see --help)');
  if (v.out !== undefined && (v.port !== undefined || v.host !== undefined)) throw new UsageError('--out writes a file and serves nothing: leave out --port and --host');
  if (v.overwrite && v.out === undefined) throw new UsageError('--overwrite goes with --out');
  const port = int('port', v.port, 8080, 0);
  if (port > 65535) throw new UsageError(`--port ${port}: must be 0..65535`);
  const page = v.out === undefined ? undefined : join(v.out, 'index.html');
  if (page) refuseToReplace([page]);
  const onnx = isOnnxPath(modelPath);
  const pre = preprocessOptions(v, onnx);
  // The model is read and checked here first, so that a file the page could not run is one line in the terminal.
  let about: string;
  let config = {};
  if (onnx) {
    const model = loadImportedModel(modelPath, { ...pre, limit: defaultMemoryLimit() });
    const { labels: labelsFile, ...preprocess } = pre;
    config = { preprocess, ...(labelsFile === undefined ? {} : { labels: model.classes }) };
    about = `ONNX, ${model.classes.length} classes; preprocessing ${describePreprocessing(model.pre)}`;
  } else {
    const { arch, classes } = loadModelFile(modelPath).meta;
    about = `${arch.blocks}, ${classes.length} classes`;
  }
  const bytes = readFileSync(modelPath);
  if (bytes.length > MAX_MODEL_BYTES) throw new Error(`${modelPath}: ${bytes.length} bytes is too large to carry in a web page (at most ${MAX_MODEL_BYTES})`);
  const { html, csp } = await buildPage(bytes, basename(modelPath), config);

  if (v.out !== undefined && page) {
    if (existsSync(v.out)) {
      const why = whyNotAFolder(v.out);
      if (why) throw new Error(`--out ${v.out}: ${why}`);
    } else mkdirSync(v.out, { recursive: true });
    if (existsSync(page) && !v.overwrite) throw new Error(`${page} already exists; pass --overwrite to replace it`);
    writeFileAtomic(page, html);
    process.stdout.write(printable(`${page}: the page for ${modelPath} (${about}); open it in a browser`) + '\n');
    return 0;
  }

  const host = v.host ?? '127.0.0.1';
  // Caught before the address is announced: a stop the moment after it still closes cleanly.
  const stopped = new Promise<StopReason>((resolve) => catchStops(resolve));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/' || path === '/index.html') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : html);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: this server has one page, /\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new Error(`port ${port} on ${host} is in use; pick another with --port (0 picks a free one)`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new Error(`--host ${host}: not an address of this machine`));
      else if (e.code === 'EACCES') reject(new Error(`port ${port}: permission denied (ports below 1024 need root)`));
      else reject(e);
    });
    server.listen(port, host, resolve);
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  const shown = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(printable(`serving ${modelPath} (${about}) at http://${shown}:${actual}/  (Ctrl-C to stop)`) + '\n');
  const reason = await stopped;
  process.stdout.write(`stopped (${stopWords(reason)})\n`);
  server.close();
  server.closeAllConnections();
  return STOP_EXIT_CODE[reason];
});
