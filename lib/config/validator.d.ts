// The validator for schemas/service.schema.json, compiled at build time by
// build/validator.ts into dist/lib/config/validator.js (ajv's standalone
// code): loading it costs no schema compilation.

import type { ValidateFunction } from 'ajv';

export declare const validate: ValidateFunction;
export default validate;
