import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFuseTrace } from '../bench/measure/tracefs.js';
import { decodeHistogram } from '../results/histogram.js';

/** The text tracefs writes for the fuse tracepoints (kernel 6.18 print formats), parsed into requests and queue depth. */

const send = (at: string, req: number, opcode: number, name: string) =>
  `     node-4242    [001] ..... ${at}: fuse_request_send: connection 46 req ${req} opcode ${opcode} (${name}) len 56 `;
const end = (at: string, req: number, error = 0) =>
  `     node-4243    [000] ..... ${at}: fuse_request_end: connection 46 req ${req} len 144 error ${error}`;

describe('FUSE trace', () => {
  it('pairs send and end by request id: latency per opcode and the requests in flight over time', () => {
    const trace = [
      '# tracer: nop',
      send('100.000000', 2, 1, 'FUSE_LOOKUP'),
      send('100.000001', 4, 15, 'FUSE_READ'),
      send('100.000002', 6, 2, 'FUSE_FORGET'),
      end('100.000003', 2),
      end('100.000005', 4, -2),
      // An end whose send came before tracing started is not a request of this trace.
      end('100.000006', 99),
    ].join('\n');
    const { opcodes, inFlight } = parseFuseTrace(trace);
    assert.deepEqual(Object.keys(opcodes), ['FORGET', 'LOOKUP', 'READ']);
    assert.equal(opcodes.LOOKUP!.p50Ns, 3000);
    assert.equal(opcodes.READ!.maxNs, 4000);
    assert.equal(opcodes.READ!.errors, 1);
    assert.equal(decodeHistogram(opcodes.READ!.histogram!).count, 1);
    // FORGET gets no reply: counted, never in flight.
    assert.equal(opcodes.FORGET!.count, 1);
    assert.equal(opcodes.FORGET!.totalNs, 0);
    // 0-1 µs one request, 1-3 µs two, 3-5 µs one: mean (1 + 4 + 2) / 5.
    assert.deepEqual(inFlight, {
      spanNs: 5000,
      meanDepth: 7 / 5,
      maxDepth: 2,
      aheadP50: 0.5,
      aheadP99: 0.99,
    });
  });

  it('says nothing about depth when no request was answered', () => {
    assert.equal(parseFuseTrace(send('1.000000', 2, 2, 'FUSE_FORGET')).inFlight, null);
  });
});
