import { describe, expect, it } from 'vitest';
import { CaptureRing, createCaptureState } from '../../src/dataplane/capture-ring.js';

function packet(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

describe('capture ring', () => {
  it('hands back what was pushed, in order, across many wraps', () => {
    const state = createCaptureState(1, 256);
    const producer = new CaptureRing(state.rings[0]!);
    const consumer = new CaptureRing(state.rings[0]!);
    const seen: number[][] = [];
    for (let round = 0; round < 50; round++) {
      for (let k = 0; k < 3; k++) producer.push(packet(17 + k * 9, (round * 3 + k) & 0xff), 0, 17 + k * 9, 65535);
      consumer.drain((p) => seen.push([p.length, p[0]!]));
    }
    expect(seen.length).toBe(150);
    seen.forEach(([len, fill], i) => {
      expect(len).toBe(17 + (i % 3) * 9);
      expect(fill).toBe(i & 0xff);
    });
    expect(producer.dropped).toBe(0);
  });

  it('drops (and counts) what does not fit, never overwrites unread records', () => {
    const state = createCaptureState(1, 128);
    const ring = new CaptureRing(state.rings[0]!);
    for (let k = 0; k < 10; k++) ring.push(packet(40, k), 0, 40, 65535);
    const seen: number[] = [];
    ring.drain((p) => seen.push(p[0]!));
    expect(seen).toEqual([0, 1]); // 2 × (12 + 40) fit in 128 − 4
    expect(ring.dropped).toBe(8);
  });

  it('cuts packets to the snap length and stamps the time', () => {
    const state = createCaptureState(1, 1024);
    const ring = new CaptureRing(state.rings[0]!);
    ring.push(packet(300, 9), 0, 300, 100);
    let got: [number, number] = [0, 0];
    ring.drain((p, sec) => (got = [p.length, sec]));
    expect(got[0]).toBe(100);
    expect(Math.abs(got[1] - Date.now() / 1000)).toBeLessThan(5);
  });
});
