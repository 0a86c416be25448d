// The problems found in one service file, each placed at its source position
// (a YAML file) or named by its JSON pointer (an object sent over RPC), and
// which parts of the file are still clean. Decides nothing about what is
// wrong: the schema messages and the normalisation say that.

import type { Problem } from '../core/definition.js';
import { type Locate, type Located, type Spot, label } from './positions.js';

export class Report {
  readonly problems: Problem[] = [];
  private readonly bad = new Set<string>();
  constructor(
    private readonly file: string,
    private readonly located: Locate | null,
  ) {}

  /**
   * A problem about `subject` (a JSON pointer, '' for the whole file), placed
   * at `spotAt` (default: the subject's value) or at its key when `onKey`.
   */
  add(subject: string, message: string, spotAt = subject, onKey = false): void {
    this.bad.add(subject);
    this.bad.add(spotAt);
    if (!this.located) {
      const text = subject ? `${subject}: ${message}` : message;
      this.problems.push({ file: this.file, line: 0, column: 0, message: text });
      return;
    }
    const found = this.nearest(spotAt);
    const spot = onKey ? (found?.key ?? found?.value) : found?.value;
    const text = subject ? `${label(subject)}: ${message}` : message;
    this.problems.push({
      file: this.file,
      line: spot?.line ?? 0,
      column: spot?.column ?? 0,
      message: text,
    });
  }

  /** A problem that is already placed (YAML syntax, a duplicate key). */
  push(...problems: Problem[]): void {
    this.problems.push(...problems);
  }

  /** True when no problem was found at or below `pointer`, so its value has the schema's shape. */
  clean(pointer: string): boolean {
    for (const p of this.bad) if (p === pointer || p.startsWith(pointer + '/')) return false;
    return true;
  }

  keySpot(pointer: string): Spot | undefined {
    return this.located?.(pointer)?.key;
  }

  /** The problems in file order. */
  sorted(): Problem[] {
    return this.problems.slice().sort((a, b) => a.line - b.line || a.column - b.column);
  }

  /** A value reached through an alias has no place of its own; use its parent's. */
  private nearest(pointer: string): Located | undefined {
    let found: Located | undefined;
    for (let p = pointer; !found; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
      found = this.located?.(p);
      if (p === '') break;
    }
    return found;
  }
}
