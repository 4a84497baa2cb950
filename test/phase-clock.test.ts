import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PhaseClock } from '../bench/phase-clock.js';

/** The run's time by phase: phases add up, and a phase inside another counts apart from it. */

describe('PhaseClock', () => {
  it('adds up a phase timed many times', async () => {
    const clock = new PhaseClock();
    for (let index = 0; index < 3; index++) await clock.time('warm-ups', () => sleep(20));
    const total = clock.totals().get('warm-ups') ?? 0;
    assert.ok(total >= 55 && total < 1000, `three 20 ms phases: ${total} ms`);
  });

  it('takes a nested phase out of the enclosing one', async () => {
    const clock = new PhaseClock();
    await clock.time('cold repetitions', async () => {
      await sleep(30);
      await clock.time('drop_caches', () => sleep(60));
    });
    const totals = clock.totals();
    const outer = totals.get('cold repetitions') ?? 0;
    const inner = totals.get('drop_caches') ?? 0;
    assert.ok(inner >= 55, `drop_caches ${inner} ms`);
    assert.ok(outer >= 25 && outer < inner, `cold repetitions without drop_caches: ${outer} ms`);
    assert.match(
      clock.describe(),
      /^time by phase: [\d.]+ s in all; cold repetitions [\d.]+ s, drop_caches [\d.]+ s, other [\d.]+ s$/,
    );
  });

  it('counts a phase that throws', () => {
    const clock = new PhaseClock();
    assert.throws(() =>
      clock.timeSync('op streams', () => {
        throw new Error('bad');
      }),
    );
    assert.ok(clock.totals().has('op streams'));
  });
});
