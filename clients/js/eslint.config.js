// The package's lint: typescript-eslint's recommended rules over src/, test/ and scripts/.
// Generated code and build outputs are not linted.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "**/node_modules/",
      "src/generated/",
      "test/apps/**/.next/",
      "test/apps/**/.nuxt/",
      "test/apps/**/.output/",
      "test/apps/**/.svelte-kit/",
      "test/apps/**/.astro/",
      "test/apps/**/dist/",
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: {
        console: "readonly",
        process: "readonly",
        URL: "readonly",
        fetch: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
