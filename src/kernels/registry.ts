/** Every kernel, in one list: the tests and the bench both iterate over it. */
import type { AnyKernel } from './kernel.ts';
import { channelSum, conv2dForward, conv2dGradInput, conv2dGradWeight, conv2dReluMaxPool } from './conv2d.ts';
import { addInto, relu, reluBackward } from './elementwise.ts';
import { gap, gapBackward, maxPool2, maxPool2Backward, maxPool2BackwardArgmax, maxPool2ReluArgmax } from './pooling.ts';
import { dense, denseGradInput, denseGradParams } from './dense.ts';
import { softmax, softmaxXent } from './loss.ts';
import { adam, sgd } from './optim.ts';
import { imagesToTensor } from './images.ts';
import { cam, camTargets, camUpsample } from './cam.ts';
import { gradCam } from './gradcam.ts';
import { maskImages } from './mask.ts';
import { multiplyAddPeak } from './peak.ts';
import { conv2dGeneral, conv2dGeneralGradInput, conv2dGeneralGradWeight } from './conv-general.ts';
import { broadcastBinary, channelAffine, copyBlocks, pool2d, pool2dBackward, reduceToShape, transpose, unary, unaryBackward } from './graph-ops.ts';

export const kernels: readonly AnyKernel[] = [
  conv2dForward,
  conv2dReluMaxPool,
  conv2dGradInput,
  conv2dGradWeight,
  channelSum,
  relu,
  reluBackward,
  addInto,
  maxPool2,
  maxPool2Backward,
  maxPool2ReluArgmax,
  maxPool2BackwardArgmax,
  gap,
  gapBackward,
  dense,
  denseGradInput,
  denseGradParams,
  softmax,
  softmaxXent,
  sgd,
  adam,
  imagesToTensor,
  cam,
  camUpsample,
  camTargets,
  gradCam,
  maskImages,
  multiplyAddPeak,
  conv2dGeneral,
  conv2dGeneralGradInput,
  conv2dGeneralGradWeight,
  pool2d,
  broadcastBinary,
  unary,
  channelAffine,
  copyBlocks,
  transpose,
  unaryBackward,
  reduceToShape,
  pool2dBackward,
];
