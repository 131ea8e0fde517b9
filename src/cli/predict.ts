/** wgcam predict model.bin IMAGE|FOLDER... [--json|--csv] */
import { expandInputs } from '../cam/run.ts';
import { openGpu } from '../gpu/dawn.ts';
import { ranked } from '../eval/predictor.ts';
import { isOnnxPath, openClassifier } from '../eval/open-classifier.ts';
import { PREPROCESS_HELP, PREPROCESS_OPTIONS, preprocessOptions } from './preprocess-options.ts';
import { catchStops, STOP_EXIT_CODE } from '../util/stop.ts';
import { printable } from '../util/terminal.ts';
import { int, memoryLimit, parse, run, UsageError } from './main.ts';

const HELP = `
Usage: wgcam predict MODEL IMAGE|FOLDER... [options]      (or: npm run predict -- ...)

Prints each image's most likely classes and their probabilities; writes no files. Folders
are searched for images (Kaggle's unlabelled test1/ included), in batches on the GPU. MODEL is
a wgcam model (model.bin) or an ONNX classifier (MODEL.onnx: a ResNet, VGG, MobileNet, ...).

Options:
  --top K              classes per image (default 3; --json/--csv list every class)
  --json               one JSON document: [{"image", "predictions": [{"class", "probability"}]}]
  --csv                CSV: image,predicted,probability, then one column per class
  --batch N            images per forward pass at most (default 64)
  --max-memory SIZE    the memory cap for the model's estimate (default: half of this machine's)
${PREPROCESS_HELP}
  -h, --help           this help
`;

/**
 * One CSV cell. Text that a spreadsheet would run as a formula (starting with =, +, -, @, a
 * tab or a carriage return: a class name from a model file, a file name) gets a leading '.
 */
const csvText = (s: string) => csvField(/^[=+\-@\t\r]/.test(s) ? `'${s}` : s);
const csvField = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

run(async () => {
  const { values: v, positionals } = parse(
    process.argv.slice(2),
    { top: { type: 'string' }, json: { type: 'boolean' }, csv: { type: 'boolean' }, batch: { type: 'string' }, 'max-memory': { type: 'string' }, ...PREPROCESS_OPTIONS },
    HELP,
  );
  const [modelPath, ...inputs] = positionals;
  if (!modelPath || inputs.length === 0) throw new UsageError('usage: wgcam predict MODEL IMAGE|FOLDER... (see --help)');
  if (v.json && v.csv) throw new UsageError('--json and --csv: pick one');
  const top = int('top', v.top, 3);
  const batch = int('batch', v.batch, 64);
  const onnx = isOnnxPath(modelPath);
  const pre = preprocessOptions(v, onnx);
  const warn = (s: string) => process.stderr.write(`wgcam: ${printable(s)}\n`);
  const { files, unreadable } = expandInputs(inputs);
  let failed = unreadable.length;
  for (const u of unreadable) warn(`${u.path}: ${u.reason}`);
  const { stop, release } = catchStops(() => warn('interrupted: stopping after the current batch'));
  const gpu = await openGpu();
  const rows: { image: string; probs: Float32Array }[] = [];
  let classes: string[] = [];
  try {
    const model = await openClassifier(gpu, modelPath, { ...pre, maxBatch: batch, limit: memoryLimit(v['max-memory']), warn, photos: files.length });
    classes = model.classes;
    if (model.preprocessing) warn(`${modelPath}: preprocessing ${model.preprocessing}`);
    if (v.csv) process.stdout.write(['image', 'predicted', 'probability', ...classes].map(csvText).join(',') + '\n');
    for (let b = 0; b < files.length && !stop.requested; b += batch) {
      const chunk = files.slice(b, b + batch);
      const prepared = await Promise.allSettled(chunk.map((f) => model.prepare(f)));
      const ok = chunk.filter((_, i) => prepared[i].status === 'fulfilled');
      const inputs = prepared.flatMap((r) => {
        if (r.status === 'fulfilled') return [r.value];
        failed++;
        warn((r.reason as Error).message);
        return [];
      });
      if (!ok.length) continue;
      const probs = await model.probabilities(inputs);
      ok.forEach((image, n) => {
        const order = ranked(probs, n, classes.length);
        const row = probs.slice(n * classes.length, (n + 1) * classes.length);
        if (v.json) rows.push({ image, probs: row });
        else if (v.csv) process.stdout.write([csvText(image), csvText(classes[order[0]]), ...Array.from([row[order[0]], ...row], String)].join(',') + '\n');
        else process.stdout.write(printable(`${image}  ${order.slice(0, top).map((j) => `${classes[j]} ${(100 * row[j]).toFixed(1)}%`).join('  ')}`) + '\n');
      });
    }
    model.dispose();
  } finally {
    gpu.destroy();
    release();
  }
  if (v.json) {
    const doc = rows.map((r) => ({ image: r.image, predictions: ranked(r.probs, 0, classes.length).map((j) => ({ class: classes[j], probability: r.probs[j] })) }));
    process.stdout.write(JSON.stringify(doc, null, 1) + '\n');
  }
  if (stop.requested) return STOP_EXIT_CODE[stop.reason!];
  return failed ? 1 : 0;
});
