// The adapter suite's Next.js app. It imports the adapter as users do, through the package's
// own name (@kavach/sdk/next resolves to clients/js/dist/src/next.js by self-reference).
import { fileURLToPath } from "node:url";

const packageRoot = fileURLToPath(new URL("../../..", import.meta.url));

/** @type {import("next").NextConfig} */
export default {
  turbopack: { root: packageRoot },
  outputFileTracingRoot: packageRoot,
};
