/**
 * Errors of the Kavach HTTP API. Every failed request (4xx or 5xx) carries an RFC 9457
 * problem document with a stable `code`, the offending `field` for bad input and a `reason`
 * where one applies; a KavachError keeps all of it. A request that never got an answer
 * (connection refused, reset, timed out) is a KavachUnavailableError.
 */

/** The problem+json body of a failed response, as the server sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  /** invalid_input, unauthenticated, forbidden, not_found, conflict, internal (or another status's code). */
  code: string;
  field?: string;
  reason?: string;
  [extra: string]: unknown;
}

/** A request Kavach answered with an error status. */
export class KavachError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly reason?: string;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.name = "KavachError";
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
    this.field = problem.field;
    this.reason = problem.reason;
  }

  /** The request itself was bad (HTTP 400 and the other 4xx of code invalid_input). */
  get isInvalidInput(): boolean {
    return this.code === "invalid_input";
  }

  /** The API key is missing, malformed, unknown or revoked (HTTP 401), or a token is not valid. */
  get isUnauthenticated(): boolean {
    return this.code === "unauthenticated";
  }

  /** The caller's role may not do this (HTTP 403). */
  get isForbidden(): boolean {
    return this.code === "forbidden";
  }

  /** No such object within the caller's reach (HTTP 404): another owner's is not found too. */
  get isNotFound(): boolean {
    return this.code === "not_found";
  }

  /** The object's state does not allow it (HTTP 409): a revoked agent, a decided approval. */
  get isConflict(): boolean {
    return this.code === "conflict";
  }
}

/** isKavachError tells whether err is a KavachError, with the given code if one is named. */
export function isKavachError(err: unknown, code?: string): err is KavachError {
  return err instanceof KavachError && (code === undefined || err.code === code);
}

/** Kavach could not be reached, or its answer could not be read. */
export class KavachUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KavachUnavailableError";
  }
}

const codeForStatus: Record<number, string> = {
  400: "invalid_input",
  401: "unauthenticated",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  500: "internal",
};

/** The code of a status, for a problem document that names none. */
export function codeOfStatus(status: number): string {
  return codeForStatus[status] ?? (status >= 500 ? "internal" : "invalid_input");
}
