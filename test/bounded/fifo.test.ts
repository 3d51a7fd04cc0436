import { describe, expect, it } from 'vitest';
import { Fifo } from '../../src/bounded/fifo.js';

describe('Fifo: a ring-buffer queue', () => {
  it('keeps order across growth and wrap-around; shifted counts what left', () => {
    const q = new Fifo<number>(16);
    const model: number[] = [];
    let next = 0;
    // Interleave pushes and shifts so the ring wraps many times and grows from 16 to 64 slots.
    for (let round = 0; round < 200; round++) {
      const pushes = (round * 7) % 23;
      const shifts = (round * 5) % 19;
      for (let i = 0; i < pushes; i++) { q.push(next); model.push(next++); }
      for (let i = 0; i < shifts; i++) expect(q.shift()).toBe(model.shift());
      expect(q.length).toBe(model.length);
      expect(q.peek()).toBe(model[0]);
      expect(q.at(model.length - 1)).toBe(model[model.length - 1]);
      expect(q.shifted + q.length).toBe(next);
    }
    expect([...q]).toEqual(model);
    expect(q.at(-1)).toBeUndefined();
    expect(q.at(q.length)).toBeUndefined();
  });

  it('retain keeps the accepted entries in order; clear empties it', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 40; i++) q.push(i);
    for (let i = 0; i < 10; i++) q.shift();
    for (let i = 40; i < 50; i++) q.push(i); // wraps past the end of the 64-slot ring? no: 32 → 64 growth
    q.retain((x) => x % 3 === 0);
    expect([...q]).toEqual([12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48]);
    expect(q.shift()).toBe(12);
    q.push(99);
    expect([...q].slice(-2)).toEqual([48, 99]);
    q.clear();
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
  });
});
