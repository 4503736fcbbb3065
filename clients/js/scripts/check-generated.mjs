// npm run check:generated: fails while src/generated/openapi.ts is not what
// docs/openapi.yaml generates. `node scripts/check-generated.mjs SPEC GENERATED` checks
// another pair of files (the tests use it on copies).
import { relative } from "node:path";
import { committed, generatedPath, render, specPath } from "./openapi.mjs";

const spec = process.argv[2] ?? specPath;
const file = process.argv[3] ?? generatedPath;
const want = await render(spec);
const have = committed(file);
if (have !== want) {
  const at = firstDifference(have, want);
  console.error(
    `${relative(process.cwd(), file)} is out of date with ${relative(process.cwd(), spec)}` +
      (at ? ` (first difference at line ${at})` : "") +
      ": run `npm run generate` and commit the result.",
  );
  process.exit(1);
}
console.log(`${relative(process.cwd(), file)} is up to date.`);

function firstDifference(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return i + 1;
  return 0;
}
