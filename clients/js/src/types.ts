/**
 * The API's request and response types, named. They come from src/generated/openapi.ts,
 * which is generated from docs/openapi.yaml (npm run generate) and never edited by hand.
 */
import type { components } from "./generated/openapi.js";

export type Schemas = components["schemas"];

export type Decision = Schemas["Decision"];
/** A decision code: ALLOWED, NO_PERMISSION, APPROVAL_REQUIRED, … */
export type DecisionCode = Decision["code"];
export type CallContext = Schemas["CallContext"];

/** The call an agent wants to make. */
export interface AuthorizeCall {
  action: string;
  resource: string;
  arguments?: Record<string, unknown>;
  /** Answer with no side effect: no rate slot is taken, no approval request is opened. */
  dryRun?: boolean;
}
