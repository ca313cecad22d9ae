import { PixelBudget } from '../../local/off-thread.js';

describe('PixelBudget', () => {
  it('admits work while the pixels in flight fit, then in arrival order as pixels come back', async () => {
    const b = new PixelBudget(100);
    const started: string[] = [];
    const take = (name: string, px: number): Promise<void> => b.acquire(px).then(() => void started.push(name));
    await take('a', 60);
    const pending = [take('b', 50), take('c', 10)];
    await new Promise((r) => setImmediate(r));
    // c would fit, but b came first: no overtaking, so a big image is not starved by small ones.
    expect(started).toEqual(['a']);
    b.release(60);
    await Promise.all(pending);
    expect(started).toEqual(['a', 'b', 'c']);
    expect(b.inFlight).toBe(60);
  });

  it('runs one job larger than the whole budget alone', async () => {
    const b = new PixelBudget(100);
    await b.acquire(250);
    expect(b.inFlight).toBe(250);
    let second = false;
    const p = b.acquire(1).then(() => (second = true));
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    b.release(250);
    await p;
    expect(second).toBe(true);
  });
});
