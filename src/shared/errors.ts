export interface DomainErrorOptions {
  /** Response headers that belong to the answer (Retry-After, Content-Range, …). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * Domain errors: business code throws these, one error handler turns them into
 * problem+json. `code` is the stable, machine-readable part of the contract; `headers` go
 * out with the problem, so a handler never builds an error response by hand.
 */
export class DomainError extends Error {
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    options: DomainErrorOptions = {},
  ) {
    super(detail);
    this.name = new.target.name;
    this.headers = options.headers ?? {};
  }
}

/** The Retry-After header of a refusal the client may retry after `seconds`. */
export function retryAfter(seconds: number): Readonly<Record<string, string>> {
  return { "retry-after": String(seconds) };
}

export class BadRequestError extends DomainError {
  constructor(code: string, detail: string) {
    super(400, code, detail);
  }
}

export class UnauthorizedError extends DomainError {
  constructor(detail = "Not authenticated", code = "not_authenticated") {
    super(401, code, detail);
  }
}

export class ForbiddenError extends DomainError {
  constructor(detail = "Not allowed", code = "forbidden") {
    super(403, code, detail);
  }
}

export class NotFoundError extends DomainError {
  constructor(detail = "Not found", code = "not_found") {
    super(404, code, detail);
  }
}

export class ConflictError extends DomainError {
  constructor(code: string, detail: string) {
    super(409, code, detail);
  }
}

export class PayloadTooLargeError extends DomainError {
  constructor(code: string, detail: string) {
    super(413, code, detail);
  }
}

export class UnsupportedMediaTypeError extends DomainError {
  constructor(code: string, detail: string) {
    super(415, code, detail);
  }
}

/** One field-level problem, shaped as FastAPI reports them. */
export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** A 422 raised by business code for input the schema could not express (e.g. a bad cursor). */
export class ValidationFailedError extends DomainError {
  constructor(
    readonly errors: FieldError[],
    code = "validation_error",
  ) {
    super(422, code, errors.map((error) => `${error.loc.join(".")}: ${error.msg}`).join("; "));
  }
}

export class RangeNotSatisfiableError extends DomainError {
  constructor(code: string, detail: string, options: DomainErrorOptions = {}) {
    super(416, code, detail, options);
  }
}

/** A dependency the request needs is unreachable; the client may try again later. */
export class ServiceUnavailableError extends DomainError {
  constructor(detail: string, code = "service_unavailable") {
    super(503, code, detail);
  }
}
