// Renders src/generated/openapi.ts from docs/openapi.yaml: shared by `npm run generate`
// (which writes it) and `npm run check:generated` (which compares it).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import openapiTS, { astToString, tsPropertyIndex, UNKNOWN } from "openapi-typescript";
import ts from "typescript";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The specification, and the file generated from it. */
export const specPath = join(packageRoot, "..", "..", "docs", "openapi.yaml");
export const generatedPath = join(packageRoot, "src", "generated", "openapi.ts");

const header = `/**
 * Generated from docs/openapi.yaml by \`npm run generate\` (scripts/generate.mjs).
 * Do not edit: change docs/openapi.yaml and run \`npm run generate\`;
 * \`npm run check:generated\` fails while this file and the specification differ.
 */

`;

/** render returns the generated TypeScript for the specification at spec (default docs/openapi.yaml). */
export async function render(spec = specPath) {
  const ast = await openapiTS(pathToFileURL(spec), {
    // A free-form object ({type: object} with no properties, such as a call's arguments)
    // holds anything, not nothing.
    emptyObjectsUnknown: true,
    // A default is the server's to apply: the field stays optional in a request.
    defaultNonNullable: false,
    silent: true,
    postTransform: requiredOnly,
  });
  return header + astToString(ast);
}

/** committed returns the generated file as it is on disk ("" if missing). */
export function committed(path = generatedPath) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * requiredOnly types a branch of `oneOf: [{required: [agentId]}, {required: [token]}]` —
 * a schema that only lists required properties — as an object with those properties, so
 * that the union makes one of them required instead of collapsing to `unknown | unknown`.
 */
function requiredOnly(type, { path, ctx }) {
  if (!path || !/\/(oneOf|anyOf)\/\d+$/.test(path)) return undefined;
  const schema = ctx.resolve(path);
  if (!schema || typeof schema !== "object") return undefined;
  const keys = Object.keys(schema);
  if (keys.length !== 1 || keys[0] !== "required" || !Array.isArray(schema.required)) return undefined;
  return ts.factory.createTypeLiteralNode(
    schema.required.map((name) => ts.factory.createPropertySignature(undefined, tsPropertyIndex(name), undefined, UNKNOWN)),
  );
}
