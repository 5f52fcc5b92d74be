export { allocateRecord, overageFor, PAYER_NONE, PAYER_OWNER } from './allocate-record.js';
export { compareSponsorships, compileFunding } from './compile-funding.js';
export { capKey, comparePacks, coveringSponsorships, usablePacks } from './coverage.js';
export { AllocationError, type AllocationErrorCode } from './errors.js';
export { fundsExhausted } from './funds-exhausted.js';
export { ALLOCATION_KINDS, BILLED_KINDS } from './types.js';
export type * from './types.js';
