/**
 * A dense f32 tensor: an explicit shape over one contiguous buffer on a backend.
 * Images are NCHW: the 3x3 convolutions walk rows of one channel plane, so adjacent
 * invocations read adjacent addresses and a 4-wide register tile is one row segment.
 *
 * Memory is explicit: dispose() returns the buffer to the pool, and tidy() disposes
 * every tensor created inside it except those returned (and parameters, made outside).
 */
import type { HostArray } from '../kernels/kernel.ts';
import type { Backend, Storage } from './backend.ts';
import type { GradNode } from '../autograd/tape.ts';

export type Shape = readonly number[];

const scopes: Tensor[][] = [];

export class Tensor {
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** How this tensor was computed, when gradients flow through it. */
  node: GradNode | null = null;
  private _storage: Storage | null;
  /** Survives the tidy() scope it was made in (gradients, optimizer state). */
  private kept = false;

  constructor(
    readonly backend: Backend,
    storage: Storage,
    readonly shape: Shape,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
    this._storage = storage;
    scopes[scopes.length - 1]?.push(this);
  }

  static fromArray(backend: Backend, data: HostArray, shape: Shape): Tensor {
    const t = new Tensor(backend, backend.upload(data), shape);
    if (data.length !== t.size) throw new Error(`fromArray: ${data.length} values for shape [${shape}]`);
    return t;
  }

  static zeros(backend: Backend, shape: Shape): Tensor {
    return Tensor.fromArray(backend, new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  }

  get storage(): Storage {
    if (!this._storage) throw new Error(`use of a disposed tensor [${this.shape}]`);
    return this._storage;
  }

  get disposed(): boolean {
    return this._storage === null;
  }

  async toArray(): Promise<Float32Array> {
    return this.backend.download(this.storage, this.size);
  }

  keep(): this {
    this.kept = true;
    return this;
  }

  get isKept(): boolean {
    return this.kept;
  }

  /** Returns the buffer to the backend; safe to call twice. */
  dispose(): void {
    if (this._storage) this.backend.free(this._storage);
    this._storage = null;
    this.node = null;
  }
}

/** Runs `fn`, then disposes every tensor it created that is not part of its result. */
export function tidy<T>(fn: () => T): T {
  scopes.push([]);
  let result: T;
  try {
    result = fn();
  } finally {
    const created = scopes.pop()!;
    const keep = new Set<Tensor>();
    collect(result!, keep);
    for (const t of created) if (!keep.has(t) && !t.isKept) t.dispose();
    // Kept tensors belong to the enclosing scope now.
    for (const t of keep) scopes[scopes.length - 1]?.push(t);
  }
  return result;
}

function collect(v: unknown, into: Set<Tensor>): void {
  if (v instanceof Tensor) into.add(v);
  else if (Array.isArray(v)) v.forEach((x) => collect(x, into));
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) Object.values(v).forEach((x) => collect(x, into));
}
