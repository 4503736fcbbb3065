export * from "./errors.js";
export * from "./types.js";
export * from "./client.js";
export * from "./refusal.js";
export * from "./mapping.js";
export * from "./ip.js";
export * from "./accesstoken.js";
export * from "./guard.js";
