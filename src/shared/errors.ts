/** One small base error: a stable `code`, an HTTP `statusCode`, and optionally the JSON path of the bad field. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`, 404);
export const invalid = (field: string, message: string) => new AppError('INVALID_INPUT', `${field}: ${message}`, 422, field);
export const conflict = (code: string, message: string) => new AppError(code, message, 409);
export const forbidden = () => new AppError('FORBIDDEN', 'this token may not access that resource', 403);
export const unauthorized = () => new AppError('UNAUTHORIZED', 'a valid bearer token is required', 401);
