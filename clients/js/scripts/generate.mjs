// npm run generate: writes src/generated/openapi.ts from docs/openapi.yaml.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { generatedPath, render } from "./openapi.mjs";

const text = await render();
mkdirSync(dirname(generatedPath), { recursive: true });
writeFileSync(generatedPath, text);
console.log(`wrote ${relative(process.cwd(), generatedPath)}`);
