/** npm run cam -- model.bin IMAGE|FOLDER... [options] */
import { runCam, type CamJob } from '../cam/run.ts';
import { runImportedCam } from '../cam/imported.ts';
import { isOnnxPath } from '../eval/open-classifier.ts';
import { PREPROCESS_HELP, PREPROCESS_OPTIONS, preprocessOptions } from './preprocess-options.ts';
import { COLORMAPS, type ColormapName } from '../cam/colormap.ts';
import { CAM_MODES, type CamMode } from '../kernels/cam.ts';
import { isOwnKey } from '../util/arrays.ts';
import { GRADIENT_METHODS, type GradientMethod } from '../kernels/gradcam.ts';
import { FUSE_MODES, type FuseMode } from '../cam/fuse.ts';
import { int, memoryLimit, num, parse, run, UsageError } from './main.ts';
import { catchStops, STOP_EXIT_CODE, stopWords } from '../util/stop.ts';

const HELP = `
Usage: wgcam cam MODEL IMAGE|FOLDER... [options]      (or: npm run cam -- ...)

MODEL is a wgcam model (model.bin) or an ONNX classifier (MODEL.onnx); for an ONNX file,
--layer takes a step number, node or output name as 'wgcam info MODEL' lists them (default:
the last output that is a map larger than 1x1) and the preprocessing options below apply.

Prints each image's top classes and writes, into --out:
  NAME.cam.png      the class activation map (u8, at the feature map's resolution)
  NAME.overlay.png  the map, coloured and upsampled (aligned by receptive fields), over the photo
  NAME.json         with --json: predictions, map statistics, box, raw map

Options:
  --out DIR            output folder (default: cam-out)
  --method NAME        cam (default: the class weights times the last conv layer's features),
                       or weighted by the gradient of the target: gradcam | gradcam++ |
                       xgradcam | layercam | hirescam; or scorecam (each channel weighted by the
                       target's score on the input masked by it); all drawn as relu(map) / max
  --layer L            the conv layer the other methods read (1-based, or convL as in the
                       model file; default the last); several (--layer 1,2,3) are fused
  --fuse F             how several layers' maps combine on the finest one's grid:
                       max (default) | mean | product
  --flip               also explain each photo mirrored left-right and average the maps
  --mode M             contrast (default): predicted class minus the --contrast class(es),
                       divided by max |value|, clipped to 0..1;
                       class: one class's map (--class, default the predicted), min-max normalized;
                       raw: one class's unnormalized map, shown as clip(value / --raw-max, 0, 1)
  --contrast C         runner-up (default) | mean (the mean of all other classes)
  --class NAME         the class for --mode class/raw (name or index)
  --raw-max X          raw mode: the value drawn at full intensity (default 1)
  --all-classes        with the cam method: also put every class's raw map into the JSON
  --colormap NAME      jet (default) | turbo | gray
  --alpha X            overlay opacity of the map, 0..1 (default 0.5)
  --box                draw and print the CAM box (pixels >= 20% of max, largest component)
  --box-threshold X    the share of the map's max the box keeps (default 0.2)
  --json               write NAME.json
  --report             write index.html, a gallery of all results
  --eval-boxes FILE    score localization against {"image.jpg": [x0,y0,x1,y1], ...}:
                       pointing game, box accuracy (IoU >= 0.5), MaxBoxAcc and
                       MaxBoxAccV2 (docs/cam-methods.md)
  --metrics            faithfulness of the maps: Average Drop, Increase in Confidence,
                       Deletion and Insertion AUC (per image in NAME.json with --json)
  --batch N            images per forward pass (default 16; fewer where the memory
                       estimate needs it)
  --max-memory SIZE    refuse a model estimated to need more memory than SIZE for one
                       image, e.g. 8G (default: half of this machine's memory; also
                       WGCAM_MAX_MEMORY)
  --overwrite          replace existing output files
  --shard K/N          explain only the K-th of N parts of the inputs (a stable split by name:
                       run N machines, or a Kubernetes Indexed Job / Slurm array, into one
                       --out; then 'wgcam gallery OUT')
  --resume             skip inputs whose outputs are all in --out already, never rewriting
                       them; explain the rest (after a stop, or to add photos)
${PREPROCESS_HELP}
  -h, --help           this help
`;

/** --shard K/N: 1 <= K <= N. */
function shardOf(v: string | undefined): { k: number; n: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d{1,7})\/(\d{1,7})$/.exec(v);
  const [k, n] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (!(k >= 1 && k <= n)) throw new UsageError(`--shard ${v}: K/N with 1 <= K <= N, e.g. --shard 3/8`);
  return { k, n };
}

run(async () => {
  const { values: v, positionals } = parse(
    process.argv.slice(2),
    {
      out: { type: 'string' },
      method: { type: 'string' },
      layer: { type: 'string' },
      fuse: { type: 'string' },
      flip: { type: 'boolean' },
      mode: { type: 'string' },
      contrast: { type: 'string' },
      class: { type: 'string' },
      'raw-max': { type: 'string' },
      'all-classes': { type: 'boolean' },
      colormap: { type: 'string' },
      alpha: { type: 'string' },
      box: { type: 'boolean' },
      'box-threshold': { type: 'string' },
      json: { type: 'boolean' },
      report: { type: 'boolean' },
      'eval-boxes': { type: 'string' },
      metrics: { type: 'boolean' },
      batch: { type: 'string' },
      'max-memory': { type: 'string' },
      overwrite: { type: 'boolean' },
      shard: { type: 'string' },
      resume: { type: 'boolean' },
      ...PREPROCESS_OPTIONS,
    },
    HELP,
  );
  const [model, ...inputs] = positionals;
  if (!model || inputs.length === 0) throw new UsageError('usage: wgcam cam model.bin IMAGE|FOLDER... (see --help)');
  const mode = (v.mode ?? 'contrast') as CamMode;
  if (!isOwnKey(CAM_MODES, mode)) throw new UsageError(`--mode ${mode}: use contrast, class or raw`);
  const method = v.method ?? 'cam';
  if (method !== 'cam' && method !== 'scorecam' && !isOwnKey(GRADIENT_METHODS, method)) throw new UsageError(`--method ${method}: use cam, ${Object.keys(GRADIENT_METHODS).join(', ')}, scorecam`);
  if (method !== 'cam' && mode === 'raw') throw new UsageError(`--method ${method} draws relu(map) / its max: use --mode contrast or class`);
  if (v.resume && v.overwrite) throw new UsageError('--resume keeps the outputs already there, --overwrite replaces them: pick one');
  const onnx = isOnnxPath(model);
  const preprocess = preprocessOptions(v, onnx);
  const layers = onnx ? undefined : v.layer?.split(',').map((part) => {
    const m = /^(?:conv)?(\d+)$/i.exec(part.trim());
    if (!m || Number(m[1]) < 1) throw new UsageError(`--layer ${v.layer}: conv layer numbers (1, 2, ...) or convN, separated by commas`);
    return Number(m[1]);
  });
  if (layers && new Set(layers).size !== layers.length) throw new UsageError(`--layer ${v.layer}: a layer is listed twice`);
  const fuse = (v.fuse ?? 'max') as FuseMode;
  if (!FUSE_MODES.includes(fuse)) throw new UsageError(`--fuse ${v.fuse}: use ${FUSE_MODES.join(', ')}`);
  const listed = onnx ? (v.layer?.split(',').length ?? 0) : (layers?.length ?? 0);
  if (v.fuse !== undefined && listed < 2) throw new UsageError('--fuse combines several layers: list them, --layer 2,3');
  const contrast = v.contrast ?? 'runner-up';
  if (contrast !== 'runner-up' && contrast !== 'mean') throw new UsageError(`--contrast ${contrast}: use runner-up or mean`);
  const colormap = (v.colormap ?? 'jet') as ColormapName;
  if (!COLORMAPS.includes(colormap)) throw new UsageError(`--colormap ${colormap}: use ${COLORMAPS.join(', ')}`);
  const alpha = num('alpha', v.alpha, 0.5);
  if (alpha < 0 || alpha > 1) throw new UsageError(`--alpha ${alpha}: must be in 0..1`);
  const rawScale = num('raw-max', v['raw-max'], 1);
  const boxThreshold = num('box-threshold', v['box-threshold'], 0.2);
  if (!(boxThreshold > 0 && boxThreshold <= 1)) throw new UsageError('--box-threshold must be in (0, 1]');
  if (!(rawScale > 0)) throw new UsageError('--raw-max must be > 0');
  const { stop, release } = catchStops((reason) => process.stderr.write(`wgcam: ${stopWords(reason)}: finishing the current batch\n`));
  const job: CamJob = {
    model,
    inputs,
    outDir: v.out ?? 'cam-out',
    method: method as 'cam' | GradientMethod | 'scorecam',
    layer: layers?.length === 1 ? layers[0] : undefined,
    layers: layers && layers.length > 1 ? [...layers].sort((a, b) => a - b) : undefined,
    fuse,
    flip: Boolean(v.flip),
    mode,
    contrast: contrast as CamJob['contrast'],
    className: v.class,
    rawScale,
    allClasses: Boolean(v['all-classes']),
    colormap,
    alpha,
    box: Boolean(v.box),
    boxThreshold,
    json: Boolean(v.json),
    report: Boolean(v.report),
    overwrite: Boolean(v.overwrite),
    shard: shardOf(v.shard),
    resume: Boolean(v.resume),
    batch: int('batch', v.batch, 16),
    evalBoxes: v['eval-boxes'],
    metrics: Boolean(v.metrics),
    memoryLimit: memoryLimit(v['max-memory']),
    stop,
  };
  const layerNames = onnx ? v.layer?.split(',').map((s) => s.trim()) : undefined;
  const result = await (onnx ? runImportedCam({ ...job, layerNames, preprocess }) : runCam(job)).finally(release);
  if (result.stopped) return STOP_EXIT_CODE[stop.reason!];
  return result.failed > 0 ? 1 : 0;
});
