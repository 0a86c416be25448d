#!/usr/bin/env node
// sminitd: parses its command line and runs the daemon (lib/daemon/).

import '../lib/daemon/options.js';
