// Debug aids, off unless SMINIT_DEBUG_FAULTS=1 is in sminitd's environment:
// the `debug_fault` method fails on purpose in each of the ways a request
// handler can fail, so the claim that one failing request never takes the
// daemon down can be checked against the real daemon; `debug_memory` reports
// the heap, after a full garbage collection when asked, so a soak can tell
// a leak from garbage not yet collected. Nothing else changes when they are
// enabled; without it the methods do not exist.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Errors } from '../core/errors.js';

export const FAULTS_VAR = 'SMINIT_DEBUG_FAULTS';

export function faultsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[FAULTS_VAR] === '1';
}

export const FAULT_KINDS = ['throw', 'reject', 'uncaught', 'rejection', 'stall', 'exit'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

function kindOf(params: unknown): FaultKind {
  const raw: unknown = Array.isArray(params)
    ? params[0]
    : typeof params === 'object' && params !== null
      ? (params as Record<string, unknown>).kind
      : undefined;
  if (typeof raw === 'string' && (FAULT_KINDS as readonly string[]).includes(raw)) {
    return raw as FaultKind;
  }
  throw Errors.badFaultKind(FAULT_KINDS);
}

/**
 * - `throw`: a TypeError thrown synchronously inside the handler;
 * - `reject`: the handler's promise rejects;
 * - `uncaught`: an exception from a callback outside any request (a timer);
 * - `rejection`: a promise rejection nobody handles;
 * - `stall`: the manager's queue never moves again, as if a command hung
 *   (every later request waits; a shutdown ends at its bound);
 * - `exit`: sminitd exits at once without stopping anything, as a bug
 *   would, leaving its services to the next sminitd on the socket.
 */
export function debugMethods(manager: {
  hold(until: Promise<unknown>): void;
}): Record<string, (params: unknown) => Promise<unknown>> {
  return {
    debug_memory: (params) => {
      const wantGc =
        typeof params === 'object' && params !== null && (params as { gc?: unknown }).gc === true;
      if (wantGc) fullGc();
      const m = process.memoryUsage();
      return Promise.resolve({
        rss: m.rss,
        heap_used: m.heapUsed,
        heap_total: m.heapTotal,
        external: m.external,
        array_buffers: m.arrayBuffers,
      });
    },
    debug_fault: (params) => {
      const kind = kindOf(params);
      switch (kind) {
        case 'throw':
          // Not a coded error: this is what an unexpected bug looks like.
          return (null as unknown as { crash(): Promise<unknown> }).crash();
        case 'reject':
          return Promise.reject(new Error('debug fault: rejected inside a request handler'));
        case 'uncaught':
          setImmediate(() => {
            throw new Error('debug fault: thrown outside any request');
          });
          return Promise.resolve(null);
        case 'rejection':
          void Promise.reject(new Error('debug fault: a rejection nobody handles'));
          return Promise.resolve(null);
        case 'stall':
          manager.hold(new Promise(() => undefined));
          return Promise.resolve(null);
        case 'exit':
          setImmediate(() => process.exit(70));
          return Promise.resolve(null);
      }
    },
  };
}

let gc: (() => void) | undefined;
/** A full, synchronous collection, without starting the daemon with --expose-gc. */
function fullGc(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
