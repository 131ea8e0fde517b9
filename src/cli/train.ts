/** npm run train -- --data DIR [options] */
import { DEFAULT_ARCH } from '../nn/model.ts';
import { CONV_KERNEL_MODES, train, type ConvKernelsMode, type TrainOptions } from '../train/trainer.ts';
import { int, memoryLimit, optionalInt, optionalNum, parse, run, UsageError } from './main.ts';
import { catchStops, STOP_EXIT_CODE, stopWords } from '../util/stop.ts';
import { Progress } from '../util/progress.ts';
import { printable } from '../util/terminal.ts';
import { watchCallback } from '../cam/watch.ts';
import { listAdapters } from '../gpu/dawn.ts';
import { trainTransfer } from '../train/transfer.ts';
import { preprocessOptions } from './preprocess-options.ts';

const HELP = `
Usage: wgcam train --data DIR [options]      (or: npm run train -- ...)

Trains a CAM-ready CNN (3x3 valid convs + ReLU, 2x2 max-pools, global average pooling,
one dense layer) on the GPU and writes checkpoints and model.bin into --out.
Ctrl-C (or SIGTERM) finishes the current step and saves interrupted.bin; --resume continues.

Data layouts (detected): Kaggle Dogs vs. Cats (DIR/train/cat.0.jpg ...), one folder per
class (DIR/<class>/*.jpg), or IDX files (train-images-idx3-ubyte[.gz] + labels).

Options:
  --data DIR           the data folder (required)
  --out DIR            output folder (default: runs/latest), locked while the run lasts;
                       not inside --data
  --epochs N           epochs to train (default 10)
  --batch N            images per step (default 64)
  --lr X               learning rate (default 0.001 for adam, 0.01 for sgd)
  --optimizer NAME     adam | sgd (SGD with momentum 0.9) (default adam)
  --weight-decay X     decoupled weight decay (adam) or L2 penalty (sgd) (default 0)
  --size N             resize photos to N x N (default 224; IDX data keeps its own size)
  --arch SPEC          conv/pool blocks, e.g. ${DEFAULT_ARCH} (default); cN = conv with
                       N channels + ReLU, p = 2x2 max-pool; GAP + dense are appended;
                       without --arch, the default is shortened to fit small images
  --seed N             seed for init, split and shuffling (default 1)
  --val-split X        share of each class held out for validation (default 0.2)
  --no-flip            no random horizontal flips (augmentation is on by default)
  --classes LIST       IDX only: class subset by name or index, e.g. Sneaker,Sandal
  --conv-kernels MODE  measured (default): time the direct and Winograd convolutions at
                       each layer's shape before the first step and keep the fastest (the
                       choice goes into the checkpoints, so --resume repeats it, and into
                       ~/.cache/wgcam/conv-choices.json, so later runs on this adapter
                       reuse it: the same command gives the same model); remeasure: time
                       them again and keep the new choice; direct:
                       the direct kernels throughout; winograd2 | winograd4 |
                       winograd6: Winograd F(2x2,3x3), F(4x4,3x3) or F(6x6,3x3)
                       wherever the adapter runs it
  --cache DIR          where decoded images are cached (default DATA/.wgcam-cache, or
                       DATA/train/.wgcam-cache for the Kaggle layout)
  --resume             continue from the newest checkpoint in --out, with its settings
                       (size, batch, arch, optimizer, lr, seed, flips, val split); a flag
                       that contradicts them is refused
  --overwrite          start a fresh run in an --out that holds another run (removes its files)
  --keep N|all         epoch checkpoints to keep: the newest N (default 3) or all;
                       best.bin (the best validation accuracy) and model.bin (the
                       last epoch) are kept apart
  --watch N            after every epoch, write CAM overlays of N validation images
                       into --out/cam-epoch-NNN/
  --devices N          data-parallel training on N WebGPU devices (at most 16): the batch
                       is split evenly, gradients are summed across devices each step, one
                       model is saved (with one adapter, N logical devices share it)
  --max-memory SIZE    refuse (or split into micro-batches) a step estimated to need more
                       memory than SIZE, e.g. 8G (default: half of this machine's memory;
                       also WGCAM_MAX_MEMORY)
  --list-devices       list the WebGPU adapters Dawn offers and exit
  -h, --help           this help

Transfer learning (an ONNX classifier's layers as the frozen features of a new classifier):
  --backbone FILE.onnx the network to start from (e.g. a torchvision VGG-16 or ResNet
                       exported by torch.onnx.export, or a wgcam model exported to ONNX);
                       its features at the cut are computed once per photo (and mirror
                       image) and cached beside the image cache; the epochs train the head.
                       Writes best.onnx and model.onnx: the backbone up to the cut and the
                       head, which predict, eval, cam, export and web read
  --cut NAME           the layer to cut after: a node or output name, or a step number, as
                       wgcam info FILE.onnx lists them (default: the last map larger than
                       1x1 that the class scores are computed from)
  --head SPEC          gap (default): global average pooling and one dense layer; or
                       conv:N-gap: a 3x3 convolution of N channels with ReLU first (the CAM
                       paper's VGG16-GAP head is conv:1024-gap)
  --fine-tune LAYERS   after the frozen epochs, train these convolutions of the backbone
                       with the head (batch-norm folded, its statistics frozen): last:N
                       (the last N before the cut), from:LAYER (all from that one on), or
                       LAYER,LAYER,... as wgcam info lists them
  --fine-tune-epochs N epochs of that phase (default 5), after the --epochs frozen ones
  --fine-tune-lr X     its learning rate (default a hundredth of --lr)
  --preprocess NAME    imagenet | inception | tf | unit (default) | bytes: the backbone's
                       mean and std (photos are resized to its input size, as the image
                       cache holds them)
  --mean R,G,B, --std R,G,B   the backbone's own figures instead
  (--batch defaults to 32 here; --size, --arch, --devices, --conv-kernels and --watch are
  for networks trained from scratch)
`;

run(async () => {
  const { values: v, positionals } = parse(
    process.argv.slice(2),
    {
      data: { type: 'string' },
      out: { type: 'string' },
      epochs: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      optimizer: { type: 'string' },
      'weight-decay': { type: 'string' },
      size: { type: 'string' },
      arch: { type: 'string' },
      seed: { type: 'string' },
      'val-split': { type: 'string' },
      'no-flip': { type: 'boolean' },
      classes: { type: 'string' },
      'conv-kernels': { type: 'string' },
      cache: { type: 'string' },
      resume: { type: 'boolean' },
      overwrite: { type: 'boolean' },
      watch: { type: 'string' },
      keep: { type: 'string' },
      devices: { type: 'string' },
      'max-memory': { type: 'string' },
      'list-devices': { type: 'boolean' },
      backbone: { type: 'string' },
      cut: { type: 'string' },
      head: { type: 'string' },
      'fine-tune': { type: 'string' },
      'fine-tune-epochs': { type: 'string' },
      'fine-tune-lr': { type: 'string' },
      preprocess: { type: 'string' },
      mean: { type: 'string' },
      std: { type: 'string' },
    },
    HELP,
  );
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (see --help)`);
  if (v['list-devices']) {
    for (const a of await listAdapters()) process.stdout.write(`${printable(a)}\n`);
    return 0;
  }
  if (!v.data) throw new UsageError('--data DIR is required (see --help)');
  const optimizer = v.optimizer;
  if (optimizer !== undefined && optimizer !== 'adam' && optimizer !== 'sgd') throw new UsageError(`--optimizer ${optimizer}: use adam or sgd`);
  const convKernels = v['conv-kernels'];
  if (convKernels !== undefined && !CONV_KERNEL_MODES.includes(convKernels as ConvKernelsMode)) throw new UsageError(`--conv-kernels ${convKernels}: use ${CONV_KERNEL_MODES.join(', ')}`);
  if (v.resume && v.overwrite) throw new UsageError('--resume and --overwrite contradict each other: continue the run in --out, or start over');
  const out = v.out ?? 'runs/latest';
  const watch = v.watch === undefined ? 0 : int('watch', v.watch, 0, 0);
  const progress = new Progress();
  // From the start (decoding a photo dump takes minutes): a signal stops at the next safe point.
  const { stop, release } = catchStops((reason) =>
    progress.log(`${stopWords(reason)}: finishing the current step and saving${reason === 'parent exited' ? '' : ' (send it again after a second to quit at once)'}`),
  );
  try {
    // What a run from scratch and a transfer run both take.
    const shared = {
      data: v.data,
      out,
      epochs: int('epochs', v.epochs, 10),
      batch: optionalInt('batch', v.batch),
      lr: optionalNum('lr', v.lr),
      optimizer: optimizer as TrainOptions['optimizer'], // checked above
      weightDecay: optionalNum('weight-decay', v['weight-decay']),
      seed: optionalInt('seed', v.seed, 0),
      valSplit: optionalNum('val-split', v['val-split']),
      resume: Boolean(v.resume),
      overwrite: Boolean(v.overwrite),
      cache: v.cache,
      classes: v.classes,
      flip: v['no-flip'] ? false : undefined,
      keep: v.keep === 'all' ? Infinity : optionalInt('keep', v.keep),
      memoryLimit: memoryLimit(v['max-memory']),
      stop,
      progress,
    };
    if (v.backbone !== undefined) {
      for (const flag of ['size', 'arch', 'devices', 'conv-kernels', 'watch'] as const) {
        if (v[flag] !== undefined) throw new UsageError(`--${flag} is for networks trained from scratch; with --backbone the backbone fixes the network and its input size`);
      }
      for (const flag of ['fine-tune-epochs', 'fine-tune-lr'] as const) {
        if (v[flag] !== undefined && v['fine-tune'] === undefined) throw new UsageError(`--${flag} goes with --fine-tune LAYERS (which convolutions of the backbone to train)`);
      }
      const result = await trainTransfer({
        ...shared,
        backbone: v.backbone,
        cut: v.cut,
        head: v.head,
        fineTune: v['fine-tune'],
        fineTuneEpochs: optionalInt('fine-tune-epochs', v['fine-tune-epochs'], 1),
        fineTuneLr: optionalNum('fine-tune-lr', v['fine-tune-lr']),
        preprocess: preprocessOptions({ preprocess: v.preprocess, mean: v.mean, std: v.std }, true),
      });
      return result.stoppedEarly ? STOP_EXIT_CODE[stop.reason ?? 'SIGINT'] : 0;
    }
    for (const flag of ['cut', 'head', 'fine-tune', 'fine-tune-epochs', 'fine-tune-lr', 'preprocess', 'mean', 'std'] as const) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag} is for transfer learning: give the network to start from with --backbone FILE.onnx`);
    }
    const result = await train({
      ...shared,
      size: optionalInt('size', v.size, 3),
      arch: v.arch,
      convKernels: convKernels as ConvKernelsMode | undefined,
      afterEpoch: watch > 0 ? watchCallback(out, watch) : undefined,
      devices: int('devices', v.devices, 1),
    });
    return result.stoppedEarly ? STOP_EXIT_CODE[stop.reason ?? 'SIGINT'] : 0;
  } finally {
    release();
  }
});
