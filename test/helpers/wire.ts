// Wire values tests build by hand: the parts of a ServiceStatus that most
// fixtures leave at their defaults, written once.

import type { LimitsWire } from '../../lib/api/wire.js';

/** The limits of a service file that sets none, as status reports them. */
export const NO_LIMITS: LimitsWire = {
  umask: null,
  nice: null,
  oom_score_adj: null,
  rlimits: {},
  memory_max: null,
  memory_high: null,
  pids_max: null,
  cpu_max: null,
  cpu_weight: null,
};
