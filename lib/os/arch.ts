// What the machine's ABI looks like to code that reads raw kernel structures
// (siginfo_t, /proc/self/auxv): the width of a word. One list, one answer.

const WIDE = ['x64', 'arm64', 'ppc64', 'riscv64', 'loong64', 's390x', 'mips64el'];

/** Bytes in a C `long` (and a pointer) on this architecture. */
export const WORD_BYTES: 4 | 8 = WIDE.includes(process.arch) ? 8 : 4;
