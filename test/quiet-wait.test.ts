// quietly(): Dawn's native polling goes to a timer during a long wait; JavaScript's own
// setImmediate callbacks are untouched, and setImmediate is put back however waits end.
import { describe, expect, it } from 'vitest';
import { promisify } from 'node:util';
import { quietly } from '../src/gpu/quiet-wait.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The order in which a native callback (a bound function, as Dawn's are native) and a JavaScript one queued after it run. */
function raceNativeAndJs(): Promise<string[]> {
  const order: string[] = [];
  return new Promise((done) => {
    const push = (name: string) => {
      order.push(name);
      if (order.length === 2) done(order);
    };
    setImmediate(push.bind(null, 'native'));
    setImmediate(() => push('js'));
  });
}

describe('quietly', () => {
  it('sends native callbacks to a timer once the wait has lasted a millisecond', async () => {
    expect(await raceNativeAndJs()).toEqual(['native', 'js']);
    const order = await quietly(async () => {
      await sleep(5);
      return raceNativeAndJs();
    });
    expect(order).toEqual(['js', 'native']);
  });

  it('leaves the first millisecond of a wait as it was (short readbacks stay fast)', async () => {
    const order = await quietly(() => raceNativeAndJs());
    expect(order).toEqual(['native', 'js']);
  });

  it('puts setImmediate back after the last of overlapping waits, and after a failure', async () => {
    const original = globalThis.setImmediate;
    let release!: () => void;
    const long = quietly(() => new Promise<void>((r) => (release = r)));
    await quietly(() => sleep(2));
    expect(globalThis.setImmediate).not.toBe(original); // the long wait is still on
    release();
    await long;
    expect(globalThis.setImmediate).toBe(original);
    await expect(quietly(() => Promise.reject(new Error('lost')))).rejects.toThrow('lost');
    expect(globalThis.setImmediate).toBe(original);
  });

  it('keeps util.promisify(setImmediate) working during a wait', async () => {
    const got = await quietly(async () => {
      await sleep(2);
      return promisify(setImmediate)('value');
    });
    expect(got).toBe('value');
  });
});
