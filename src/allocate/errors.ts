import { AppError } from '../shared/errors.js';

/**
 * Errors of the allocation domain. Each means the catalog or the stored funding state is inconsistent
 * (a server fault, 500), never a bad device record: ingest validates records before allocation.
 */
export type AllocationErrorCode = 'INVALID_FUNDING_CATALOG' | 'UNKNOWN_PACK' | 'NO_OVERAGE_PRICE' | 'INVALID_USAGE';

export class AllocationError extends AppError {
  declare readonly code: AllocationErrorCode;

  constructor(code: AllocationErrorCode, message: string) {
    super(code, message, 500);
    this.name = 'AllocationError';
  }
}
